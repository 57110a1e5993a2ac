import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import ConvBlock
from tests.layer_checks import (
    check_config_round_trip,
    check_output_shape,
    run_layer_checks,
    to_numpy,
)


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


# ---- Bad input (issue 16): NaN is not swallowed, integer images are cast.


def test_nan_input_gives_nan_through_max_pooling():
    # TensorFlow's max pooling skips NaN: an all-NaN image came out as -3.4e38.
    out = to_numpy(ConvBlock(8)(np.full((1, 8, 8, 3), np.nan, "float32")))
    assert out.shape == (1, 4, 4, 8)
    assert np.isnan(out).all()


def test_nan_stays_in_its_own_pooling_window():
    block = ConvBlock(2, kernel_size=1, activation=None, use_bias=False,
                      kernel_initializer="ones")  # each output channel: sum of inputs
    x = np.zeros((1, 4, 4, 1), "float32")
    x[0, 0, 1, 0] = np.nan  # top-left 2x2 window only
    x[0, 3, 3, 0] = 7.0
    out = to_numpy(block(x))[0]
    expected = np.array([[np.nan, 0.0], [0.0, 7.0]], "float32")
    for channel in range(2):
        np.testing.assert_array_equal(out[..., channel], expected)


@pytest.mark.parametrize("pool_at", ["end", "first"])
def test_finite_outputs_are_bit_identical_to_plain_pooling(pool_at):
    # The NaN guard changes nothing else: the block equals its sublayers chained by hand.
    block = ConvBlock(6, repeats=2, norm="batch", pool_at=pool_at)
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 3)).astype("float32")
    out = to_numpy(block(x, training=False))
    y = x
    for layer in block._sequence():
        if layer is not None:
            y = layer(y, training=False)
    np.testing.assert_array_equal(out, to_numpy(y))


def test_nan_through_a_user_max_pooling_layer_and_in_a_compiled_model():
    block = ConvBlock(4, pool=keras.layers.MaxPooling2D(3, strides=3))
    inputs = keras.Input((9, 9, 3))
    model = keras.Model(inputs, block(inputs))
    x = np.ones((2, 9, 9, 3), "float32")
    x[1, 4, 4, 0] = np.nan  # the centre window of image 1
    out = to_numpy(model.predict(x, verbose=0))
    assert np.isfinite(out[0]).all()
    nan_pixels = np.isnan(out[1]).all(-1)
    assert nan_pixels[1, 1] and nan_pixels.sum() == 1, nan_pixels


@pytest.mark.parametrize("dtype", ["uint8", "int32", "bool"])
def test_integer_images_are_cast_to_the_compute_dtype(dtype):
    block = ConvBlock(4, kernel_initializer="ones")
    x = np.random.default_rng(0).integers(0, 2 if dtype == "bool" else 256, (2, 8, 8, 3))
    out = block(x.astype(dtype))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(out), to_numpy(block(x.astype("float32"))))


@pytest.mark.parametrize("kwargs", [
    {"strides": 2, "padding": "valid"},
    {"pool_padding": "same", "pool_size": 3},
    {"pool_at": "first", "repeats": 2, "norm": "batch"},
    {"separable": True, "kernel_size": 5, "pool": "avg"},
    {"pool": None, "activation": "swish"},
])
def test_a_nan_pixel_reaches_the_output_in_every_configuration(kwargs):
    x = np.random.default_rng(1).random((2, 11, 11, 3)).astype("float32")
    x[1, 5, 5, 2] = np.nan
    block = ConvBlock(4, **kwargs)
    inputs = keras.Input((11, 11, 3))
    model = keras.Model(inputs, block(inputs))
    # Eager, and in a graph (where TensorFlow fuses convolution + bias + ReLU).
    for out in (to_numpy(block(x)), model.predict(x, verbose=0)):
        assert np.isfinite(out[0]).all()
        assert np.isnan(out[1]).any() and not np.isnan(out[1]).all()
