"""resnet50_base: ResNet50 v1 from ConvBlock and ResidualBlock equals keras.applications.

The keras.applications network gets live random weights (random conv biases, batch-norm
scales, shifts, moving means and moving variances, so a layer loaded into the wrong
place shows), saved as a `.weights.h5` file at test time; ours loads that file.
"""

import keras
import numpy as np
import pytest

from keras_blocks import ConvBlock, ResidualBlock, pretrained_base
from keras_blocks.models import resnet50_base
from tests.layer_checks import to_numpy

CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], "float32")


def _caffe(pixels):
    return pixels[..., ::-1] - CAFFE_MEAN_BGR


@pytest.fixture(scope="module")
def twin_file(tmp_path_factory):
    keras.utils.set_random_seed(50)
    twin = keras.applications.ResNet50(include_top=False, weights=None,
                                       input_shape=(None, None, 3))
    rng = np.random.default_rng(50)
    for layer in twin.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.05, bias.shape).astype("float32")])
        elif isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape
            layer.set_weights([
                rng.uniform(0.5, 1.5, size).astype("float32"),   # gamma
                rng.normal(0, 0.1, size).astype("float32"),      # beta
                rng.normal(0, 0.1, size).astype("float32"),      # moving mean
                rng.uniform(0.5, 2.0, size).astype("float32"),   # moving variance
            ])
    path = tmp_path_factory.mktemp("resnet50") / "resnet50_twin.weights.h5"
    twin.save_weights(path)
    return twin, str(path)


@pytest.mark.parametrize("size", [(64, 64), (96, 64)])
def test_features_equal_keras_applications(twin_file, size):
    twin, path = twin_file
    ours = resnet50_base((*size, 3), weights=path)
    pixels = np.random.default_rng(sum(size)).uniform(0, 255, (2, *size, 3)).astype("float32")
    x = _caffe(pixels)
    expected = to_numpy(twin(x))
    actual = to_numpy(ours(x))
    assert actual.shape == expected.shape == (2, size[0] // 32, size[1] // 32, 2048)
    scale = np.abs(expected).max()
    assert scale > 0 and np.mean(expected > 0) > 0.05  # live features, not all zero
    assert np.abs(actual - expected).max() / scale <= 1e-5
    # The comparison can fail: the same blocks with other weights are far off.
    other = resnet50_base((*size, 3), weights=None)
    assert np.abs(to_numpy(other(x)) - expected).max() / scale > 0.1
    # pretrained_base puts the caffe preprocessing inside: raw pixels in.
    base = pretrained_base("kb_resnet50", weights=path, input_shape=(*size, 3))
    assert np.abs(to_numpy(base(pixels)) - expected).max() / scale <= 1e-5


def test_blocks_parameters_and_names(twin_file):
    twin, _ = twin_file
    model = resnet50_base((64, 64, 3))
    stems = [layer for layer in model.layers if isinstance(layer, ConvBlock)]
    blocks = [layer for layer in model.layers if isinstance(layer, ResidualBlock)]
    assert [s.name for s in stems] == ["conv1"]
    assert len(blocks) == 16 and blocks[0].name == "conv2_block1"
    assert blocks[-1].name == "conv5_block3"
    assert [b.name for b in blocks if b.projection is not None] == [
        "conv2_block1", "conv3_block1", "conv4_block1", "conv5_block1"]
    assert all(b.stride_on == "first" and b.use_bias and b.norm_epsilon == 1.001e-5
               for b in blocks)
    # keras.applications.ResNet50(include_top=False) has 23,587,712 parameters.
    assert model.count_params() == twin.count_params() == 23_587_712


def test_misfitting_weights_name_the_file_and_layer(tmp_path):
    small = keras.Sequential([keras.Input((32, 32, 3)),
                              keras.layers.Conv2D(8, 7, name="conv1_conv")])
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    with pytest.raises(ValueError, match=r"small\.weights\.h5.*conv1_conv"):
        resnet50_base((32, 32, 3), weights=str(path))
    with pytest.raises(ValueError, match="at least 32x32"):
        resnet50_base((16, 64, 3))


def test_a_swapped_block_loads_what_fits_and_reports_the_rest(twin_file):
    twin, path = twin_file
    with pytest.raises(ValueError, match=r"does not cover: 'conv2_block1/se/expand'.*strict"):
        resnet50_base((64, 64, 3), weights=path, block_options={"se_ratio": 1 / 16})
    with pytest.warns(UserWarning, match=r"loaded 106 layers .* kept 32 as initialized"):
        model = resnet50_base((64, 64, 3), weights=path, block_options={"se_ratio": 1 / 16},
                              strict=False)
    report = model.weights_report
    assert len(report.loaded) == 106 and not report.mismatched and not report.unused
    assert len(report.new) == 32 and report.new[0] == "conv2_block1/se/expand"
    assert "kept initialized (new layer): conv5_block3/se/reduce" in str(report)
    # The layers that kept their shape hold the file's weights.
    conv = model.get_layer("conv4_block2").convs[1]
    np.testing.assert_array_equal(to_numpy(conv.kernel),
                                  to_numpy(twin.get_layer("conv4_block2_2_conv").kernel))
    # A reshaping swap: only the layers that still fit load.
    with pytest.warns(UserWarning, match="kept 55 as initialized"):
        wide = resnet50_base((64, 64, 3), weights=path, block_options={"expansion": 2},
                             strict=False)
    assert len(wide.weights_report.loaded) == 51
    assert wide.weights_report.mismatched["conv2_block1_0_conv"] == (
        [(1, 1, 64, 128), (128,)], [(1, 1, 64, 256), (256,)])
    full = resnet50_base((64, 64, 3), weights=path)
    assert full.weights_report.complete and len(full.weights_report.loaded) == 106


def test_bad_block_options_raise():
    with pytest.raises(ValueError, match=r"may not set \['strides'\]"):
        resnet50_base((64, 64, 3), block_options={"strides": 2})
    with pytest.raises(ValueError, match="`block_options` must be None or a dict"):
        resnet50_base((64, 64, 3), block_options=[("se_ratio", 0.1)])
    with pytest.raises(ValueError, match="`strict` must be True or False"):
        resnet50_base((64, 64, 3), strict="yes")
