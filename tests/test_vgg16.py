"""vgg16_base: the course's pretrained base rebuilt from ConvBlocks equals keras.applications.

No ImageNet file is needed: the keras.applications network gets live random weights
(random biases too, so that a bias loaded into the wrong layer shows), they are saved as
a `.weights.h5` file at test time, and ours loads that file.
"""

import keras
import numpy as np
import pytest

from keras_blocks import ConvBlock, pretrained_base
from keras_blocks.models import vgg16_base
from tests.layer_checks import to_numpy


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory):
    keras.utils.set_random_seed(16)
    twin = keras.applications.VGG16(include_top=False, weights=None,
                                    input_shape=(None, None, 3))
    rng = np.random.default_rng(16)
    for layer in twin.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.05, bias.shape).astype("float32")])
    path = tmp_path_factory.mktemp("vgg16") / "vgg16_twin.weights.h5"
    twin.save_weights(path)
    return twin, str(path)


@pytest.mark.parametrize("size", [(32, 32), (70, 45)])
def test_features_equal_keras_applications(twin_file, size):
    twin, path = twin_file
    ours = vgg16_base((*size, 3), weights=path)
    x = np.random.default_rng(sum(size)).uniform(-120, 130, (2, *size, 3)).astype("float32")
    expected = to_numpy(twin(x))
    actual = to_numpy(ours(x))
    assert actual.shape == expected.shape == (2, size[0] // 32, size[1] // 32, 512)
    scale = np.abs(expected).max()
    assert scale > 0 and np.mean(expected > 0) > 0.05  # live features, not all zero
    assert np.abs(actual - expected).max() / scale <= 1e-5
    # The comparison can fail: the same blocks with other weights are far off.
    other = vgg16_base((*size, 3), weights=None)
    assert np.abs(to_numpy(other(x)) - expected).max() / scale > 0.1


def test_blocks_parameters_and_names(twin_file):
    twin, _ = twin_file
    model = vgg16_base((64, 64, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, ConvBlock)]
    assert [(b.name, b.filters, b.repeats) for b in blocks] == [
        ("block1", 64, 2), ("block2", 128, 2), ("block3", 256, 3), ("block4", 512, 3),
        ("block5", 512, 3)]
    # keras.applications.VGG16(include_top=False) has 14,714,688 parameters.
    assert model.count_params() == twin.count_params() == 14_714_688


def test_misfitting_weights_name_the_file_and_layer(tmp_path):
    small = keras.Sequential([keras.Input((32, 32, 3)),
                              keras.layers.Conv2D(8, 3, name="block1_conv1")])
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    with pytest.raises(ValueError, match=r"small\.weights\.h5.*block1_conv1"):
        vgg16_base((32, 32, 3), weights=str(path))
    with pytest.raises(ValueError, match="at least 32x32"):
        vgg16_base((16, 64, 3))


def test_pretrained_base_puts_caffe_preprocessing_inside(twin_file):
    twin, path = twin_file
    base = pretrained_base("kb_vgg16", weights=path, input_shape=(32, 32, 3))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = to_numpy(twin(keras.applications.vgg16.preprocess_input(pixels.copy())))
    actual = to_numpy(base(pixels))
    assert np.abs(actual - expected).max() / np.abs(expected).max() <= 1e-5
