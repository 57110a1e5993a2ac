"""Bad input to the blocks and augmentation layers (issue 16): refused by name, never
silently wrong. Per-layer cases live in each layer's test file; these sweep them all."""

import math

import keras
import numpy as np
import pytest

import keras_blocks as kb
import keras_blocks.augment as kba
from tests.layer_checks import to_numpy

INF, NAN = math.inf, math.nan

# Every numeric argument of the blocks and augmentation layers, given inf or nan.
NON_FINITE = [
    (kb.InvertedResidual, {"filters": 32}, "expansion"),
    (kb.InvertedResidual, {"filters": 32}, "se_ratio"),
    (kb.InvertedResidual, {"filters": 32}, "drop_path"),
    (kb.InvertedResidual, {"filters": 32}, "norm_momentum"),
    (kb.InvertedResidual, {"filters": 32}, "norm_epsilon"),
    (kb.ConvBlock, {"filters": 4}, "dropout"),
    (kb.ConvBlock, {"filters": 4}, "norm_epsilon"),
    (kb.ResidualBlock, {"filters": 4}, "drop_path"),
    (kb.ResidualBlock, {"filters": 4}, "norm_epsilon"),
    (kb.FireBlock, {"squeeze": 2, "expand": 4}, "norm_epsilon"),
    (kb.ConvNeXtBlock, {}, "layer_scale_init"),
    (kb.ConvNeXtBlock, {}, "norm_epsilon"),
    (kb.SqueezeExcite, {}, "ratio"),
    (kb.StochasticDepth, {}, "rate"),
    (kb.PatchWhitening, {}, "epsilon"),
    (kba.MixUp, {}, "alpha"),
    (kba.CutMix, {}, "alpha"),
    (kba.RandAugment, {}, "magnitude"),
    (kba.RandAugment, {}, "fill_value"),
    (kba.RandomBrightness, {}, "factor"),
    (kba.RandomContrast, {}, "factor"),
    (kba.RandomRotation, {}, "factor"),
    (kba.RandomZoom, {}, "height_factor"),
    (kba.RandomWidth, {}, "factor"),
    (kba.RandomShear, {}, "x_factor"),
    (kba.RandomTranslation, {"width_factor": 0.1}, "height_factor"),
    (kba.RandomErasing, {}, "fill_value"),
    (kba.RandomFlip, {}, "probability"),
    (kba.RandomRotation, {"factor": 0.1}, "fill_value"),
]


@pytest.mark.parametrize("value", [INF, -INF, NAN], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("cls, kwargs, name", NON_FINITE,
                         ids=[f"{c.__name__}-{n}" for c, _, n in NON_FINITE])
def test_non_finite_numbers_are_refused_naming_the_argument(cls, kwargs, name, value):
    with pytest.raises(ValueError, match=f"`{name}`") as error:
        cls(**{**kwargs, name: value})
    assert str(value) in str(error.value)


@pytest.mark.parametrize("cls, name", [
    (kba.RandAugment, "value_range"), (kba.RandomBrightness, "value_range"),
    (kba.RandomErasing, "scale"), (kba.RandomResizedCrop, "ratio"),
])
@pytest.mark.parametrize("bad", [(0, INF), (-INF, 1), (NAN, 1)])
def test_non_finite_pairs_are_refused(cls, name, bad):
    kwargs = {kba.RandomResizedCrop: {"height": 8, "width": 8},
              kba.RandomBrightness: {"factor": 0.1}}.get(cls, {})
    with pytest.raises(ValueError, match=f"`{name}`"):
        cls(**kwargs, **{name: bad})


BLOCKS = [
    lambda: kb.ConvBlock(4),
    lambda: kb.ResidualBlock(4),
    lambda: kb.InvertedResidual(4),
    lambda: kb.InvertedResidual(4, fused=True),
    lambda: kb.FireBlock(2, 4),
    lambda: kb.ConvNeXtBlock(),
    lambda: kb.PatchWhitening(),
    lambda: kb.SqueezeExcite(ratio=0.5),
    lambda: kb.StochasticDepth(0.5, seed=0),
]


@pytest.mark.parametrize("make", BLOCKS, ids=lambda m: type(m()).__name__)
@pytest.mark.parametrize("dtype", ["uint8", "int32"])
def test_integer_images_are_cast_to_the_compute_dtype(make, dtype):
    # Was: a type error from the first convolution, followed by its kernel values.
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 4))
    keras.utils.set_random_seed(0)
    layer = make()
    out = layer(x.astype(dtype), training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_array_equal(to_numpy(out),
                                  to_numpy(layer(x.astype("float32"), training=False)))
    # A model with an integer input compiles and runs too.
    inputs = keras.Input((8, 8, 4), dtype=dtype)
    model = keras.Model(inputs, make()(inputs))
    assert model.predict(x.astype(dtype), verbose=0).dtype == np.float32


NAN_BLOCKS = [
    lambda: kb.ConvBlock(4),
    lambda: kb.ConvBlock(4, strides=2, pool_at="first", pool_padding="same"),
    lambda: kb.ResidualBlock(4, norm=None),
    lambda: kb.ResidualBlock(8, variant="bottleneck", strides=2, norm=None),
    lambda: kb.InvertedResidual(4),
    lambda: kb.InvertedResidual(8, strides=2, norm=None, activation="relu",
                                padding="mobilenet"),
    lambda: kb.InvertedResidual(8, strides=2, norm=None, activation="relu", fused=True),
    lambda: kb.FireBlock(2, 4, norm=None),
    lambda: kb.ConvNeXtBlock(),
    lambda: kb.PatchWhitening(),
    lambda: kb.SqueezeExcite(ratio=0.5),
]


@pytest.mark.parametrize("make", NAN_BLOCKS, ids=lambda m: type(m()).__name__)
def test_nan_pixels_reach_the_output_eagerly_and_in_a_graph(make):
    # TensorFlow's max pooling skips NaN, and its graph optimizer fuses conv + bias +
    # ReLU into a kernel that turns NaN into 0: a NaN input gave finite outputs.
    x = np.random.default_rng(0).random((2, 8, 8, 4)).astype("float32")
    x[1, 3, 4, 1] = np.nan
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, make()(inputs))
    eager, graph = to_numpy(model(x)), model.predict(x, verbose=0)
    for out in (eager, graph):
        assert np.isfinite(out[0]).all()  # the other image is untouched
        assert np.isnan(out[1]).any()
    np.testing.assert_array_equal(np.isnan(eager), np.isnan(graph))
    everything = model.predict(np.full((1, 8, 8, 4), np.nan, "float32"), verbose=0)
    assert np.isnan(everything).all()
