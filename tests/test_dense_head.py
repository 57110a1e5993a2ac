import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import DenseHead
from keras_blocks.registry import available, create
from tests.layer_checks import (
    check_config_round_trip,
    check_output_shape,
    run_layer_checks,
    to_numpy,
)


# (trainable, non-trainable) weights and seed generators, counted by hand: each Dense
# has a kernel and a bias (no bias before a norm); batch norm has gamma, beta and two
# statistics, layer norm gamma and beta; each dropout layer owns a seed generator.
@pytest.mark.parametrize(
    "kwargs, input_shape, training_differs, weights, seeds",
    [
        ({}, (2, 5, 7, 6), False, (2, 0), 0),
        ({"num_classes": 4, "pooling": "avgmax", "units": (8, 5), "norm": "batch",
          "dropout": 0.5}, (3, 3, 5, 4), True, (8, 4), 3),
        ({"num_classes": 2, "pooling": "flatten", "output_activation": None}, (2, 3, 3, 2),
         False, (2, 0), 0),
        ({"num_classes": 1, "pooling": None, "units": 4, "norm": "layer",
          "activation": "swish"}, (2, 7), False, (5, 0), 0),
        # Three hidden 8x8 kernels: they must start different.
        ({"pooling": None, "units": (8, 8, 8)}, (2, 8), False, (8, 0), 0),
    ],
)
def test_shared_checks(kwargs, input_shape, training_differs, weights, seeds, tmp_path):
    num_classes = kwargs.get("num_classes", 1)
    run_layer_checks(
        DenseHead, kwargs, input_shape, tmp_path,
        expected_output_shape=(input_shape[0], num_classes),
        training_differs=training_differs,
        mixed_output_dtype="float32",
        expected_weights=weights,
        expected_seed_generators=seeds,
    )


def test_course_head_shape_and_from_logits():
    head = DenseHead(units=(6,))
    y = head(np.random.rand(2, 4, 4, 32).astype("float32"))
    assert tuple(y.shape) == (2, 1)
    assert [d.units for d in head.hidden_layers] == [6]
    assert head.from_logits is False and head.final_activation == "sigmoid"


@given(
    num_classes=st.integers(1, 6),
    units=st.lists(st.integers(1, 7), max_size=2),
    pooling=st.sampled_from(["avg", "max", "avgmax", "flatten"]),
    output_activation=st.sampled_from(["auto", None]),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    channels=st.integers(1, 5),
)
def test_drawn_configs(num_classes, units, pooling, output_activation, height, width,
                       channels):
    head = DenseHead(num_classes, units=units, pooling=pooling,
                     output_activation=output_activation)
    x = np.random.default_rng(0).normal(0, 3, (3, height, width, channels)).astype("float32")
    y = to_numpy(check_output_shape(head, x, (3, num_classes)))
    check_config_round_trip(head)
    assert y.dtype == np.float32
    if output_activation is None:
        assert head.from_logits
    elif num_classes == 1:
        assert np.all((y >= 0) & (y <= 1))
    else:
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=1e-5)


def test_ranges_of_sigmoid_softmax_and_logits():
    x = np.random.default_rng(1).normal(0, 50, (16, 3, 3, 8)).astype("float32")
    sigmoid = to_numpy(DenseHead(1)(x))
    assert np.all((sigmoid >= 0) & (sigmoid <= 1))
    softmax = to_numpy(DenseHead(4)(x))
    np.testing.assert_allclose(softmax.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(softmax >= 0)
    multi_label = to_numpy(DenseHead(5, pooling="max", output_activation="sigmoid")(x))
    assert np.all((multi_label >= 0) & (multi_label <= 1))
    assert not np.allclose(multi_label.sum(axis=-1), 1.0)
    head = DenseHead(4, output_activation=None)
    logits = to_numpy(head(x))
    assert head.from_logits and head.final_activation is None
    assert logits.min() < 0 or logits.max() > 1  # unbounded scores, no squashing
    # The probabilities are exactly softmax of the same head's logits.
    probabilities = DenseHead.from_config({**head.get_config(), "output_activation": "auto"})
    probabilities.build(x.shape)
    probabilities.set_weights(head.get_weights())
    expected = to_numpy(keras.ops.softmax(logits))
    np.testing.assert_allclose(to_numpy(probabilities(x)), expected, atol=1e-5)


def test_avgmax_concatenates_both_poolings():
    head = DenseHead(2, pooling="avgmax", output_activation=None,
                     kernel_initializer="ones", bias_initializer="zeros")
    x = np.random.default_rng(2).random((2, 3, 4, 5)).astype("float32")
    expected = x.mean(axis=(1, 2)).sum(-1) + x.max(axis=(1, 2)).sum(-1)
    y = to_numpy(head(x))
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-5)
    assert head.classifier.kernel.shape == (10, 2)


def test_float32_outputs_under_global_mixed_policy():
    keras.config.set_dtype_policy("mixed_float16")
    head = DenseHead(3, units=(8,), norm="batch", dropout=0.1)
    x = np.random.rand(2, 4, 4, 6).astype("float32")
    y = head(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert head.hidden_layers[0].compute_dtype == "float16"
    symbolic = head(keras.KerasTensor((None, 4, 4, 6)))
    assert symbolic.dtype == "float32"


def test_registered_as_dense_head():
    assert "dense" in available("head")
    head = create("head", {"name": "dense", "num_classes": 3, "units": [4]})
    assert isinstance(head, DenseHead) and head.num_classes == 3 and head.units == (4,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 0}, "`num_classes` must be an integer >= 1; got 0"),
        ({"num_classes": 2.0}, "`num_classes`"),
        ({"units": (4, 0)}, "`units[1]` must be an integer >= 1; got 0"),
        ({"units": "64"}, "`units` must be an int or a sequence"),
        ({"dropout": 1.0}, "`dropout` must be a number in [0.0, 1.0)"),
        ({"pooling": "mean"},
         "`pooling` must be one of 'avg', 'max', 'avgmax', 'flatten', None; got 'mean'"),
        ({"activation": "relu7"}, "Unknown activation 'relu7'. Valid names:"),
        ({"output_activation": "softmaxx"}, "Unknown output_activation 'softmaxx'"),
        ({"norm": "batchnorm"}, "Unknown norm 'batchnorm'"),
        ({"num_classes": 1, "output_activation": "softmax"}, "always outputs 1.0"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        DenseHead(**kwargs)
    assert message in str(error.value)


def test_bad_input_shapes_raise_at_build():
    with pytest.raises(ValueError, match=r"`pooling=None` expects already pooled rank-2 .*"
                                         r"\(2, 4, 4, 8\)"):
        DenseHead(pooling=None)(np.zeros((2, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match=r"rank-4 input .* got shape \(2, 8\)"):
        DenseHead(pooling="avg")(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match="every non-batch dimension known"):
        DenseHead(pooling="flatten")(keras.KerasTensor((None, None, None, 3)))
