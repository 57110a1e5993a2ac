"""mobilenet_v2_base: the published MobileNetV2, rebuilt from InvertedResidual blocks."""

import os

import keras
import numpy as np
import pytest

from keras_blocks import ConvBlock, InvertedResidual
from keras_blocks.models import mobilenet_v2_base
from tests.layer_checks import to_numpy

WEIGHTS = "mobilenet_v2_1.0_no_top.weights.h5"


def _max_abs_difference(ours, reference, x):
    return float(np.abs(to_numpy(ours(x, training=False))
                        - to_numpy(reference(x, training=False))).max())


@pytest.mark.parametrize(
    "input_shape, size",
    [
        ((96, 96, 3), 96),
        ((75, 75, 3), 75),  # odd: every strided block pads asymmetrically
        ((None, None, 3), 75),  # unknown size: keras.applications pads like an even size
    ],
)
def test_features_equal_keras_applications(weights_dir, input_shape, size):
    path = str(weights_dir / WEIGHTS)
    ours = mobilenet_v2_base(input_shape=input_shape, weights=path)
    reference = keras.applications.MobileNetV2(include_top=False, weights=path,
                                               input_shape=input_shape)
    # Pixels as preprocess_input leaves them: [-1, 1].
    x = np.random.default_rng(size).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    expected = to_numpy(reference(x, training=False))
    actual = to_numpy(ours(x, training=False))
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= 1e-4
    # The comparison is not vacuous: the features vary (ReLU6 is neither 0 nor 6 everywhere).
    assert np.mean((expected > 0) & (expected < 6)) > 0.05 and expected.std() > 0.1
    if input_shape[0] == 96:
        # ... and the same architecture without the weights is far from them.
        random = mobilenet_v2_base(input_shape=input_shape, weights=None)
        assert np.abs(to_numpy(random(x, training=False)) - expected).max() > 0.5


def test_architecture_layer_names_and_saving(tmp_path):
    model = mobilenet_v2_base((32, 32, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, InvertedResidual)]
    assert [b.name for b in blocks] == ["expanded_conv", *(f"block_{i}" for i in range(1, 17))]
    assert [b.filters for b in blocks] == [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96,
                                           160, 160, 160, 320]
    assert sum(b.use_residual for b in blocks) == 10  # the ten block_N_add of the paper
    assert all(b.padding == "mobilenet" for b in blocks)
    assert isinstance(model.get_layer("Conv1"), ConvBlock)
    assert model.output_shape == (None, 1, 1, 1280)
    # keras.applications.MobileNetV2(include_top=False, alpha=1.0) has 2,257,984 parameters.
    assert model.count_params() == 2_257_984

    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    path = os.path.join(tmp_path, "mobilenet_v2_base.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-5)


def test_alpha_scales_widths():
    model = mobilenet_v2_base((32, 32, 3), alpha=0.5)
    assert model.get_layer("Conv1").filters == 16
    assert model.get_layer("block_16").filters == 160
    assert model.output_shape[-1] == 1280  # the last conv keeps 1280 for alpha <= 1


def test_imagenet_downloads_the_keras_applications_file(weights_dir, monkeypatch, tmp_path):
    """No internet here: intercept the download and check what would be fetched."""
    requests = []

    def fake_get_file(fname, origin, **kwargs):
        requests.append((fname, origin, kwargs))
        return str(weights_dir / WEIGHTS)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    model = mobilenet_v2_base((96, 96, 3), weights="imagenet")
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    from keras.src.applications.mobilenet_v2 import BASE_WEIGHT_PATH

    assert requests == [(name, BASE_WEIGHT_PATH + name, {"cache_subdir": "models"})]
    conv = model.get_layer("Conv1").convs[0]
    assert not np.allclose(to_numpy(conv.kernel), 0)
    # Sizes without their own file fall back to 224, with a warning, as keras.applications.
    not_weights = tmp_path / "not_weights.h5"
    not_weights.write_text("")
    monkeypatch.setattr(keras.utils, "get_file",
                        lambda fname, origin, **kw: requests.append((fname,)) or str(not_weights))
    with pytest.warns(UserWarning, match="224x224"), pytest.raises(ValueError, match="HDF5"):
        mobilenet_v2_base((100, 80, 3), weights="imagenet")
    assert requests[-1][0].endswith("_1.0_224_no_top.h5")
    with pytest.raises(ValueError, match="alpha in"):
        mobilenet_v2_base((96, 96, 3), weights="imagenet", alpha=0.6)


def test_missing_weights_file_names_it(tmp_path):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(FileNotFoundError, match=r"nope\.weights\.h5"):
        mobilenet_v2_base((32, 32, 3), weights=str(missing))


def test_wrong_weights_file_names_file_and_layer(weights_dir):
    squeezenet = str(weights_dir / "squeezenet_v1.1_no_top.h5")
    with pytest.raises(ValueError) as error:
        mobilenet_v2_base((32, 32, 3), weights=squeezenet)
    message = str(error.value)
    assert "squeezenet_v1.1_no_top.h5" in message and "no layer 'Conv1'" in message


def test_width_mismatch_names_layer_and_shapes(weights_dir):
    with pytest.raises(ValueError) as error:
        mobilenet_v2_base((32, 32, 3), weights=str(weights_dir / WEIGHTS), alpha=0.5)
    message = str(error.value)
    assert WEIGHTS in message
    assert "layer 'Conv1' expects weight shapes [(3, 3, 3, 16)], the file has [(3, 3, 3, 32)]" \
        in message


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_text("not weights")
    with pytest.raises(ValueError, match="is not an HDF5 weights file"):
        mobilenet_v2_base((32, 32, 3), weights=str(path))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (32, 32)}, "`input_shape` must be (height, width, channels)"),
        ({"input_shape": (32, 0, 3)}, "`input_shape`"),
        ({"input_shape": (32, 32, None)}, "`input_shape`"),
        ({"input_shape": (32, 32, 3), "alpha": 0}, "`alpha` must be a number > 0; got 0"),
        ({"input_shape": (32, 32, 3), "weights": 3}, "`weights` must be None, 'imagenet'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        mobilenet_v2_base(**kwargs)
    assert message in str(error.value)

