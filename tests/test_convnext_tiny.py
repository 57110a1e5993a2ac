"""convnext_tiny_base: ConvNeXt-Tiny from ConvNeXtBlock and ConvBlock equals keras.applications.

The keras.applications network gets live random weights (random biases, norm scales
and shifts, and a layer scale of order 1, so a wrong stage shows), saved as a
`.weights.h5` file at test time; ours loads that file.
"""

import keras
import numpy as np
import pytest

from keras_blocks import ConvNeXtBlock, pretrained_base
from keras_blocks.models import convnext_tiny_base
from keras_blocks.models.convnext import _split_nested
from tests.layer_checks import to_numpy

MEAN = np.array([0.485, 0.456, 0.406], "float32") * 255
STD = np.array([0.229, 0.224, 0.225], "float32") * 255


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory):
    keras.utils.set_random_seed(7)
    twin = keras.applications.ConvNeXtTiny(include_top=False, weights=None,
                                           input_shape=(None, None, 3))
    rng = np.random.default_rng(7)
    for layer in twin.layers:
        arrays = layer.get_weights()
        if not arrays:
            continue
        live = []
        for array in arrays:
            if array.ndim == 1:  # biases, norm scales and shifts, layer scales
                size = rng.uniform(0.1, 0.3, array.shape) * rng.choice([-1, 1], array.shape)
                live.append(size.astype("float32"))
            else:
                live.append(array)
        layer.set_weights(live)
    path = tmp_path_factory.mktemp("convnext") / "convnext_tiny_twin.weights.h5"
    twin.save_weights(path)
    return twin, str(path)


@pytest.mark.parametrize("size", [(32, 32), (64, 96)])
def test_features_equal_keras_applications(twin_file, size):
    twin, path = twin_file
    ours = convnext_tiny_base((*size, 3), weights=path)
    pixels = np.random.default_rng(sum(size)).uniform(0, 255, (2, *size, 3)).astype("float32")
    expected = to_numpy(twin(pixels))  # keras.applications normalizes inside
    actual = to_numpy(ours((pixels - MEAN) / STD))
    assert actual.shape == expected.shape == (2, size[0] // 32, size[1] // 32, 768)
    scale = np.abs(expected).max()
    assert scale > 0 and expected.std() > 0.1
    assert np.abs(actual - expected).max() / scale <= 1e-5
    other = convnext_tiny_base((*size, 3), weights=None)
    assert np.abs(to_numpy(other((pixels - MEAN) / STD)) - expected).max() / scale > 0.1
    # pretrained_base puts the normalization inside: raw pixels in.
    base = pretrained_base("kb_convnext_tiny", weights=path, input_shape=(*size, 3))
    assert np.abs(to_numpy(base(pixels)) - expected).max() / scale <= 1e-4


def test_blocks_and_parameters(twin_file):
    twin, _ = twin_file
    model = convnext_tiny_base((64, 64, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, ConvNeXtBlock)]
    assert len(blocks) == 18 and blocks[-1].name == "stage_3_block_2"
    # keras.applications.ConvNeXtTiny(include_top=False) has 27,820,128 parameters.
    assert model.count_params() == twin.count_params() == 27_820_128


def test_keras_2_nested_layers_are_split_and_grouped_kernels_turned():
    stored = {"convnext_tiny_stem": [1, 2, 3, 4],
              "convnext_tiny_downsampling_block_1": [5, 6, 7, 8],
              "convnext_tiny_stage_0_block_0_depthwise_conv": [np.arange(8.0).reshape(2, 2, 1, 2),
                                                               9]}
    split = _split_nested(stored)
    kernel = split.pop("convnext_tiny_stage_0_block_0_depthwise_conv")[0]
    assert split == {"convnext_tiny_stem_conv": [1, 2], "convnext_tiny_stem_layernorm": [3, 4],
                     "convnext_tiny_downsampling_layernorm_1": [5, 6],
                     "convnext_tiny_downsampling_conv_1": [7, 8]}
    assert kernel.shape == (2, 2, 2, 1) and kernel[1, 0, 1, 0] == 5.0
