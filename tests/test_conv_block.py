import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import ConvBlock
from tests.layer_checks import check_config_round_trip, check_output_shape, run_layer_checks


def test_course_example_shape():
    block = ConvBlock(filters=8, repeats=2)
    y = block(np.zeros((2, 32, 32, 3), "float32"))
    assert tuple(y.shape) == (2, 16, 16, 8)


# (trainable, non-trainable) weights and seed generators, counted by hand: a conv has a
# kernel and a bias (no bias next to a norm), a separable conv two kernels; batch norm has
# gamma and beta plus two moving statistics; dropout owns one seed generator.
@pytest.mark.parametrize(
    "kwargs, training_differs, weights, seeds",
    [
        ({"filters": 4}, False, (2, 0), 0),
        ({"filters": 4, "norm": "batch", "repeats": 2}, True, (6, 4), 0),
        ({"filters": 4, "dropout": 0.5, "pool": "avg", "separable": True}, True, (3, 0), 1),
        ({"filters": 4, "norm": "group", "activation": "swish", "strides": 2, "pool": None},
         False, (3, 0), 0),
        # Three same-shape 3->3 convolutions: they must start different.
        ({"filters": 3, "repeats": 3, "pool": None}, False, (6, 0), 0),
    ],
)
def test_shared_checks(kwargs, training_differs, weights, seeds, tmp_path):
    run_layer_checks(ConvBlock, kwargs, (2, 9, 11, 3), tmp_path,
                     training_differs=training_differs, expected_weights=weights,
                     expected_seed_generators=seeds)


@given(
    filters=st.integers(1, 6),
    kernel=st.sampled_from([1, 3, (3, 1), 5]),
    repeats=st.integers(1, 3),
    strides=st.sampled_from([1, 2, (2, 1)]),
    padding=st.sampled_from(["same", "valid"]),
    pool=st.sampled_from(["max", "avg", None]),
    pool_padding=st.sampled_from(["valid", "same"]),
    pool_at=st.sampled_from(["end", "first"]),
    norm=st.sampled_from([None, "batch", "layer", "group"]),
    separable=st.booleans(),
    height=st.integers(11, 19),
    width=st.integers(11, 19),
)
def test_shapes_and_config_for_drawn_configs(
    filters, kernel, repeats, strides, padding, pool, pool_padding, pool_at, norm, separable,
    height, width,
):
    if separable and strides == (2, 1):
        with pytest.raises(ValueError, match="equal strides"):
            ConvBlock(filters, strides=strides, separable=True)
        return
    block = ConvBlock(filters, kernel_size=kernel, repeats=repeats, strides=strides,
                      padding=padding, pool=pool, pool_padding=pool_padding, pool_at=pool_at,
                      norm=norm, separable=separable)
    x = np.random.rand(2, height, width, 3).astype("float32")
    try:
        before_build = block.compute_output_shape(x.shape)  # arithmetic, no sublayers
        fits = True
    except ValueError:
        fits = False
    if not fits:
        # Too small for this configuration: the error must say so, naming the shape.
        shape = rf"input shape \(2, {height}, {width}, 3\) is too small"
        with pytest.raises(ValueError, match=shape):
            block(x)
        return
    check_output_shape(block, x)
    assert block.compute_output_shape(x.shape) == before_build
    check_config_round_trip(block)


def test_layer_arguments_are_cloned_per_repeat():
    import keras

    block = ConvBlock(4, repeats=3, norm=keras.layers.BatchNormalization(momentum=0.5),
                      activation=keras.layers.PReLU())
    block(np.zeros((1, 8, 8, 2), "float32"))
    assert len({id(n) for n in block.norms}) == 3
    assert all(n.momentum == 0.5 for n in block.norms)
    assert len({id(a) for a in block.activations}) == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "`filters` must be an integer >= 1; got 0"),
        ({"filters": 2.5}, "`filters`"),
        ({"filters": 4, "activation": "relu7"}, "Unknown activation 'relu7'. Valid names:"),
        ({"filters": 4, "norm": "batchnorm"}, "Unknown norm 'batchnorm'"),
        ({"filters": 4, "pool": "min"}, "Unknown pool 'min'"),
        ({"filters": 4, "kernel_size": 0}, "`kernel_size`"),
        ({"filters": 4, "strides": (1, 2, 3)}, "`strides`"),
        ({"filters": 4, "dropout": 1.0}, "`dropout` must be a number in [0.0, 1.0)"),
        ({"filters": 4, "dropout": -0.1}, "`dropout`"),
        ({"filters": 4, "padding": "causal"}, "`padding` must be one of 'same', 'valid'"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        ConvBlock(**kwargs)
    assert message in str(error.value)


def test_bad_rank_and_too_small_inputs_raise_at_build():
    with pytest.raises(ValueError, match=r"rank-4 input .* got shape \(2, 8, 3\)"):
        ConvBlock(4)(np.zeros((2, 8, 3), "float32"))
    with pytest.raises(ValueError, match="too small"):
        ConvBlock(4, kernel_size=5, padding="valid")(np.zeros((1, 4, 4, 3), "float32"))


def test_pool_at_first_pools_before_the_first_norm_and_activation():
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    # Without normalization, ReLU commutes with max pooling: both orders agree exactly.
    end = ConvBlock(4, activation="relu")
    first = ConvBlock(4, activation="relu", pool_at="first")
    end(x), first(x)
    first.set_weights(end.get_weights())
    np.testing.assert_allclose(np.asarray(first(x)), np.asarray(end(x)), rtol=1e-6)
    # With repeats=2 the second convolution runs at the pooled size; the normalization
    # sees pooled maps (its batch statistics differ from pooling last).
    block = ConvBlock(4, repeats=2, norm="batch", pool_at="first")
    assert block.compute_output_shape(x.shape) == (2, 4, 4, 4)  # before build
    assert tuple(block(x).shape) == (2, 4, 4, 4)
    names = [layer.name for layer in block._sequence() if layer is not None]
    assert names == ["conv0", "pool", "norm0", "act0", "conv1", "norm1", "act1"]
    assert block.get_config()["pool_at"] == "first"


def test_pool_at_first_shared_checks(tmp_path):
    run_layer_checks(ConvBlock, {"filters": 4, "repeats": 2, "norm": "batch",
                                 "pool_at": "first", "dropout": 0.2}, (2, 9, 11, 3), tmp_path,
                     training_differs=True, expected_weights=(6, 4), expected_seed_generators=1)


def test_bad_pool_at_names_the_choices():
    with pytest.raises(ValueError, match="`pool_at` must be one of 'end', 'first'; got 'mid'"):
        ConvBlock(4, pool_at="mid")
