"""efficientnet_b0_base: EfficientNet-B0 from InvertedResidual, SqueezeExcite and
StochasticDepth equals keras.applications.EfficientNetB0(include_top=False).

The keras.applications network gets live random weights (tests/_live_twin.py), saved as a
`.weights.h5` file at test time; ours loads that file. Both take raw [0, 255] pixels.
"""

import math

import keras
import numpy as np
import pytest

from keras_blocks import InvertedResidual, SqueezeExcite, StochasticDepth, pretrained_base
from keras_blocks.models import create_model, efficientnet, efficientnet_b0_base
from tests._live_twin import assert_live, fake_download, live_twin_file, relative_error
from tests.layer_checks import to_numpy

SIZES = [(64, 64), (96, 160)]
# keras.applications' layer at each stride of efficientnet.FEATURES.
TWIN_FEATURES = {4: "block2b_add", 8: "block3b_add", 16: "block5c_add",
                 32: "block7a_project_bn"}


def _twin(input_shape=(None, None, 3), weights=None):
    return keras.applications.EfficientNetB0(include_top=False, weights=weights,
                                             input_shape=input_shape)


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory):
    return live_twin_file(_twin, tmp_path_factory.mktemp("efficientnet"), "efficientnet_b0")


def _pixels(size, batch=2):
    return np.random.default_rng(sum(size)).uniform(0, 255, (batch, *size, 3)).astype("float32")


@pytest.mark.parametrize("size", SIZES)
def test_features_equal_keras_applications(twin_file, size):
    twin, path = twin_file
    ours = efficientnet_b0_base((*size, 3), weights=path)
    pixels = _pixels(size)
    expected = to_numpy(twin(pixels))  # both rescale and normalize inside
    actual = to_numpy(ours(pixels))
    assert actual.shape == expected.shape == (2, math.ceil(size[0] / 32),
                                              math.ceil(size[1] / 32), 1280)
    assert_live(expected, 1280)
    assert relative_error(actual, expected) <= 1e-5
    other = efficientnet_b0_base((*size, 3), weights=None)
    assert relative_error(to_numpy(other(pixels)), expected) > 0.1
    # Its own rescaling inside: pretrained_base adds no preprocessing.
    assert efficientnet.PREPROCESSING == "none"
    base = pretrained_base("kb_efficientnet_b0", weights=path, input_shape=(*size, 3))
    assert relative_error(to_numpy(base(pixels)), expected) <= 1e-5


def test_feature_pyramid_equals_keras_applications_stages(twin_file):
    twin, path = twin_file
    pyramid = create_model("kb_efficientnet_b0", weights=path, input_shape=(64, 64, 3),
                           features=True)
    stages = keras.Model(twin.inputs, [twin.get_layer(TWIN_FEATURES[s]).output
                                       for s in sorted(TWIN_FEATURES)])
    pixels = _pixels((64, 64))
    ours = pyramid(pixels)
    for stride, expected in zip(sorted(TWIN_FEATURES), stages(pixels), strict=True):
        actual = to_numpy(ours[f"P{int(math.log2(stride))}"])
        assert actual.shape[1] == 64 // stride
        assert relative_error(actual, to_numpy(expected)) <= 1e-5


def test_blocks_drop_connect_rates_and_parameters(twin_file):
    twin, _ = twin_file
    model = efficientnet_b0_base((64, 64, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, InvertedResidual)]
    twin_blocks = sorted({layer.name.split("_")[0] for layer in twin.layers
                          if layer.name.startswith("block")})
    assert [block.name for block in blocks] == twin_blocks and len(blocks) == 16
    assert all(isinstance(block.se, SqueezeExcite) for block in blocks)
    # Squeeze-excite of a quarter of the block's input channels: block2a 16 -> 4.
    assert tuple(model.get_layer("block2a").se.reduce.kernel.shape) == (1, 1, 96, 4)
    # Drop-connect: 0.2 * index / 16 on the residual blocks, as keras.applications' Dropout.
    ours = {block.name: block.drop_path_layer.rate for block in blocks
            if isinstance(block.drop_path_layer, StochasticDepth)}
    published = {layer.name.removesuffix("_drop"): layer.rate for layer in twin.layers
                 if layer.name.endswith("_drop")}
    assert ours == published and len(ours) == 9 and ours["block6d"] == 0.2 * 14 / 16
    # keras.applications.EfficientNetB0(include_top=False) has 4,049,571 parameters.
    assert model.count_params() == twin.count_params() == 4_049_571


def test_imagenet_loads_the_keras_applications_file(twin_file, monkeypatch):
    _, path = twin_file
    calls = fake_download(monkeypatch, path)
    ours = efficientnet_b0_base((64, 64, 3), weights="imagenet")
    twin = _twin((64, 64, 3), weights="imagenet")
    expected = ("efficientnetb0_notop.h5", efficientnet.IMAGENET_URL, efficientnet.IMAGENET_HASH)
    assert calls == [expected, expected]
    # keras.applications divides by sqrt(std) after its normalization for these weights.
    assert "imagenet_std_rescaling" in [layer.name for layer in ours.layers]
    pixels = _pixels((64, 64))
    assert relative_error(to_numpy(ours(pixels)), to_numpy(twin(pixels))) <= 1e-5


def test_a_file_of_another_network_is_refused(tmp_path):
    inputs = keras.Input((8, 8, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(8, 3, name="stem_conv")(inputs))
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match=r"efficientnet_b0_base: weights file .*other"):
        efficientnet_b0_base((32, 32, 3), weights=str(path))


def test_bad_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"efficientnet_b0_base: `input_shape` must be"):
        efficientnet_b0_base((64, 64))
