"""mobilenet_v3_small_base: MobileNetV3-Small from InvertedResidual (hard-swish,
hard-sigmoid squeeze-excite) equals keras.applications.MobileNetV3Small(include_top=False).

The keras.applications network (with its default `include_preprocessing=True`) gets live
random weights (tests/_live_twin.py), saved as a `.weights.h5` file at test time; ours
loads that file. Both take raw [0, 255] pixels.
"""

import math

import keras
import numpy as np
import pytest

from keras_blocks import InvertedResidual, pretrained_base
from keras_blocks.models import create_model, mobilenet_v3, mobilenet_v3_small_base
from tests._live_twin import assert_live, fake_download, live_twin_file, relative_error
from tests.layer_checks import to_numpy

SIZES = [(64, 64), (96, 160)]
# keras.applications' layer at each stride of mobilenet_v3.FEATURES (None: its output).
TWIN_FEATURES = {4: "expanded_conv_project_bn", 8: "expanded_conv_2_add",
                 16: "expanded_conv_7_add", 32: None}


def _twin(input_shape=(None, None, 3), weights=None):
    return keras.applications.MobileNetV3Small(include_top=False, weights=weights,
                                               input_shape=input_shape)


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory):
    return live_twin_file(_twin, tmp_path_factory.mktemp("mobilenet_v3"), "mobilenet_v3_small")


def _pixels(size, batch=2):
    return np.random.default_rng(sum(size)).uniform(0, 255, (batch, *size, 3)).astype("float32")


@pytest.mark.parametrize("size", SIZES)
def test_features_equal_keras_applications(twin_file, size):
    twin, path = twin_file
    ours = mobilenet_v3_small_base((*size, 3), weights=path)
    pixels = _pixels(size)
    expected = to_numpy(twin(pixels))  # both rescale to [-1, 1] inside
    actual = to_numpy(ours(pixels))
    assert actual.shape == expected.shape == (2, math.ceil(size[0] / 32),
                                              math.ceil(size[1] / 32), 576)
    assert_live(expected, 576)
    # keras.applications' hard sigmoid is relu6(x + 3) / 6, Keras' is clip(x / 6 + 0.5):
    # equal up to rounding.
    assert relative_error(actual, expected) <= 1e-5
    other = mobilenet_v3_small_base((*size, 3), weights=None)
    assert relative_error(to_numpy(other(pixels)), expected) > 0.1
    assert mobilenet_v3.PREPROCESSING == "none"
    base = pretrained_base("kb_mobilenet_v3_small", weights=path, input_shape=(*size, 3))
    assert relative_error(to_numpy(base(pixels)), expected) <= 1e-5


def test_feature_pyramid_equals_keras_applications_stages(twin_file):
    twin, path = twin_file
    pyramid = create_model("kb_mobilenet_v3_small", weights=path, input_shape=(64, 64, 3),
                           features=True)
    stages = keras.Model(twin.inputs, [twin.output if TWIN_FEATURES[s] is None
                                       else twin.get_layer(TWIN_FEATURES[s]).output
                                       for s in sorted(TWIN_FEATURES)])
    pixels = _pixels((64, 64))
    ours = pyramid(pixels)
    for stride, expected in zip(sorted(TWIN_FEATURES), stages(pixels), strict=True):
        actual = to_numpy(ours[f"P{int(math.log2(stride))}"])
        assert actual.shape[1] == 64 // stride
        assert relative_error(actual, to_numpy(expected)) <= 1e-5


def test_blocks_squeeze_excite_and_parameters(twin_file):
    twin, _ = twin_file
    model = mobilenet_v3_small_base((64, 64, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, InvertedResidual)]
    assert [block.name for block in blocks] == ["expanded_conv"] + [
        f"expanded_conv_{index}" for index in range(1, 11)]
    assert [block.se is not None for block in blocks] == [True, False, False] + [True] * 8
    # make_divisible(E / 4, 8) squeezed channels of the expanded width E (keras'
    # _depth(E * 0.25)): 16 -> 8, 96 -> 24, 240 -> 64, 120 -> 32, 144 -> 40, 288 -> 72,
    # 576 -> 144.
    squeezed = [block.se.reduce.kernel.shape[-1] for block in blocks if block.se is not None]
    assert squeezed == [8, 24, 64, 64, 32, 40, 72, 144, 144]
    assert [block.use_residual for block in blocks] == [False, False, True, False, True,
                                                        True, False, True, False, True, True]
    assert model.get_layer("conv_1").filters == 576
    # keras.applications.MobileNetV3Small(include_top=False) has 939,120 parameters.
    assert model.count_params() == twin.count_params() == 939_120


def test_imagenet_loads_the_keras_applications_file(twin_file, monkeypatch):
    _, path = twin_file
    calls = fake_download(monkeypatch, path)
    ours = mobilenet_v3_small_base((64, 64, 3), weights="imagenet")
    twin = _twin((64, 64, 3), weights="imagenet")
    expected = (mobilenet_v3.IMAGENET_URL.rsplit("/", 1)[-1], mobilenet_v3.IMAGENET_URL,
                mobilenet_v3.IMAGENET_HASH)
    assert calls == [expected, expected]
    pixels = _pixels((64, 64))
    assert relative_error(to_numpy(ours(pixels)), to_numpy(twin(pixels))) <= 1e-5


def test_bad_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"mobilenet_v3_small_base: `input_shape` must be"):
        mobilenet_v3_small_base((64, 0, 3))
