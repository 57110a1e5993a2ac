"""efficientnet_v2_b0_base: EfficientNetV2-B0 from fused and plain InvertedResidual blocks
equals keras.applications.EfficientNetV2B0(include_top=False).

The keras.applications network (with its default `include_preprocessing=True`) gets live
random weights (tests/_live_twin.py), saved as a `.weights.h5` file at test time; ours
loads that file. Both take raw [0, 255] pixels.
"""

import math

import keras
import numpy as np
import pytest

from keras_blocks import InvertedResidual, StochasticDepth, pretrained_base
from keras_blocks.models import create_model, efficientnet_v2, efficientnet_v2_b0_base
from tests._live_twin import assert_live, fake_download, live_twin_file, relative_error
from tests.layer_checks import to_numpy

SIZES = [(64, 64), (96, 160)]
# keras.applications' layer at each stride of efficientnet_v2.FEATURES.
TWIN_FEATURES = {4: "block2b_add", 8: "block3b_add", 16: "block5e_add", 32: "block6h_add"}


def _twin(input_shape=(None, None, 3), weights=None):
    return keras.applications.EfficientNetV2B0(include_top=False, weights=weights,
                                               input_shape=input_shape)


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory):
    return live_twin_file(_twin, tmp_path_factory.mktemp("efficientnet_v2"),
                          "efficientnet_v2_b0")


def _pixels(size, batch=2):
    return np.random.default_rng(sum(size)).uniform(0, 255, (batch, *size, 3)).astype("float32")


@pytest.mark.parametrize("size", SIZES)
def test_features_equal_keras_applications(twin_file, size):
    twin, path = twin_file
    ours = efficientnet_v2_b0_base((*size, 3), weights=path)
    pixels = _pixels(size)
    expected = to_numpy(twin(pixels))  # both normalize inside
    actual = to_numpy(ours(pixels))
    assert actual.shape == expected.shape == (2, math.ceil(size[0] / 32),
                                              math.ceil(size[1] / 32), 1280)
    assert_live(expected, 1280)
    assert relative_error(actual, expected) <= 1e-5
    other = efficientnet_v2_b0_base((*size, 3), weights=None)
    assert relative_error(to_numpy(other(pixels)), expected) > 0.1
    assert efficientnet_v2.PREPROCESSING == "none"
    base = pretrained_base("kb_efficientnet_v2_b0", weights=path, input_shape=(*size, 3))
    assert relative_error(to_numpy(base(pixels)), expected) <= 1e-5


def test_feature_pyramid_equals_keras_applications_stages(twin_file):
    twin, path = twin_file
    pyramid = create_model("kb_efficientnet_v2_b0", weights=path, input_shape=(64, 64, 3),
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
    model = efficientnet_v2_b0_base((64, 64, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, InvertedResidual)]
    twin_blocks = sorted({layer.name.split("_")[0] for layer in twin.layers
                          if layer.name.startswith("block")})
    assert [block.name for block in blocks] == twin_blocks and len(blocks) == 21
    # Fused (no depthwise convolution, no squeeze-excite) in the first three stages.
    assert [block.fused for block in blocks] == [True] * 5 + [False] * 16
    assert all(block.se is None for block in blocks[:5])
    assert all(block.se is not None for block in blocks[5:])
    # block1a: fused with expansion 1, the 3x3 convolution is the whole block.
    first = model.get_layer("block1a")
    assert first.expand_conv is None and tuple(first.project_conv.kernel.shape) == (3, 3, 32, 16)
    # Drop-connect: 0.2 * index / 21 on the residual blocks, as keras.applications' Dropout.
    ours = {block.name: block.drop_path_layer.rate for block in blocks
            if isinstance(block.drop_path_layer, StochasticDepth)}
    published = {layer.name.removesuffix("_drop"): layer.rate for layer in twin.layers
                 if layer.name.endswith("_drop")}
    assert ours == published and len(ours) == 15 and ours["block6h"] == 0.2 * 20 / 21
    # keras.applications.EfficientNetV2B0(include_top=False) has 5,919,312 parameters.
    assert model.count_params() == twin.count_params() == 5_919_312


def test_imagenet_loads_the_keras_applications_file(twin_file, monkeypatch):
    _, path = twin_file
    calls = fake_download(monkeypatch, path)
    ours = efficientnet_v2_b0_base((64, 64, 3), weights="imagenet")
    twin = _twin((64, 64, 3), weights="imagenet")
    expected = ("efficientnetv2-b0_notop.h5", efficientnet_v2.IMAGENET_URL,
                efficientnet_v2.IMAGENET_HASH)
    assert calls == [expected, expected]
    pixels = _pixels((64, 64))
    assert relative_error(to_numpy(ours(pixels)), to_numpy(twin(pixels))) <= 1e-5


def test_input_must_have_three_channels():
    with pytest.raises(ValueError, match=r"efficientnet_v2_b0_base: `input_shape` must have 3"):
        efficientnet_v2_b0_base((64, 64, 1))
