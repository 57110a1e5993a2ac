import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from keras.applications import imagenet_utils

from keras_blocks import ImagePreprocessing, pretrained_base, registry
from keras_blocks.models.pretrained import BaseSpec, register_base
from tests.layer_checks import run_layer_checks, to_numpy

MOBILENET_FILE = "mobilenet_v2_1.0_no_top.weights.h5"
SQUEEZENET_FILE = "squeezenet_v1.1_no_top.h5"


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


# --------------------------------------------------------------------------------------
# ImagePreprocessing


@given(
    mode=st.sampled_from(["tf", "torch", "caffe"]),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    batch=st.integers(1, 3),
)
def test_preprocessing_matches_keras_applications(mode, height, width, batch):
    x = _pixels((batch, height, width, 3), seed=height * width)
    expected = imagenet_utils.preprocess_input(x.copy(), mode=mode)
    actual = to_numpy(ImagePreprocessing(mode)(x))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)


def test_preprocessing_none_is_identity_and_uint8_works():
    x = _pixels((2, 3, 3, 3))
    np.testing.assert_array_equal(to_numpy(ImagePreprocessing("none")(x)), x)
    raw = np.arange(2 * 2 * 2 * 3, dtype="uint8").reshape(2, 2, 2, 3) * 10
    expected = imagenet_utils.preprocess_input(raw.astype("float32"), mode="caffe")
    np.testing.assert_allclose(to_numpy(ImagePreprocessing("caffe")(raw)), expected,
                               atol=1e-4)


@pytest.mark.parametrize("mode", ["tf", "caffe"])
def test_preprocessing_shared_checks(mode, tmp_path):
    run_layer_checks(ImagePreprocessing, {"mode": mode}, (2, 5, 7, 3), tmp_path,
                     input_range=(0.0, 255.0), expected_weights=(0, 0),
                     expected_seed_generators=0)


def test_preprocessing_bad_arguments():
    with pytest.raises(ValueError, match="`mode` must be one of 'tf', 'torch', 'caffe', "
                                         "'none'; got 'inception'"):
        ImagePreprocessing("inception")
    with pytest.raises(ValueError, match=r"needs 3 channels .* \(2, 4, 4, 1\)"):
        ImagePreprocessing("caffe")(np.zeros((2, 4, 4, 1), "float32"))
    # "tf" scaling is per pixel: any channel count is fine.
    assert tuple(ImagePreprocessing("tf")(np.zeros((1, 2, 2, 1), "float32")).shape) == (
        1, 2, 2, 1)


# --------------------------------------------------------------------------------------
# pretrained_base: keras.applications bases


def test_mobilenet_v2_with_weights_file_matches_keras_applications(weights_dir):
    path = str(weights_dir / MOBILENET_FILE)
    base = pretrained_base("mobilenet_v2", weights=path, input_shape=(48, 48, 3))
    reference = keras.applications.MobileNetV2(include_top=False, weights=path,
                                               input_shape=(48, 48, 3))
    x = _pixels((2, 48, 48, 3))
    expected = to_numpy(reference(keras.applications.mobilenet_v2.preprocess_input(x.copy())))
    np.testing.assert_allclose(to_numpy(base(x)), expected, atol=1e-4)
    assert base.output_shape == (None, 2, 2, 1280)
    assert isinstance(base.get_layer("preprocessing"), ImagePreprocessing)
    assert base.trainable_weights == []
    # The same weights as the file, not a fresh initialization.
    np.testing.assert_array_equal(base.layers[-1].get_layer("Conv1").get_weights()[0],
                                  reference.get_layer("Conv1").get_weights()[0])


@pytest.mark.parametrize(
    "name, mode, output_channels",
    [
        ("mobilenet_v2", "tf", 1280),
        ("vgg16", "caffe", 512),
        ("resnet50", "caffe", 2048),
        ("efficientnet_b0", "none", 1280),
        ("mobilenet_v3_small", "none", 576),
        ("densenet121", "torch", 1024),
    ],
)
def test_builtin_keras_application_bases(name, mode, output_channels):
    base = pretrained_base(name, weights=None, input_shape=(32, 32, 3))
    assert base.get_layer("preprocessing").mode == mode
    assert base.output_shape == (None, 1, 1, output_channels)
    assert base.trainable_weights == [] and base.non_trainable_weights  # frozen by default
    base.trainable = True
    assert len(base.trainable_weights) > 0
    if name == "efficientnet_b0":
        # EfficientNet rescales inside ("none" mode): raw pixels reach it unchanged.
        network = base.layers[-1]
        assert any(isinstance(layer, keras.layers.Rescaling) for layer in network.layers)
        x = _pixels((1, 32, 32, 3))
        np.testing.assert_allclose(to_numpy(base(x)), to_numpy(network(x)), atol=1e-5)


def test_none_spatial_dimensions_are_allowed():
    base = pretrained_base("mobilenet_v2", weights=None, input_shape=(None, None, 3))
    assert tuple(base(_pixels((1, 64, 96, 3))).shape) == (1, 2, 3, 1280)


def test_imagenet_is_forwarded_to_keras_applications(monkeypatch):
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        inputs = keras.Input(kwargs["input_shape"])
        return keras.Model(inputs, keras.layers.Conv2D(4, 3, strides=32)(inputs))

    monkeypatch.setattr(keras.applications, "ResNet50", fake)
    base = pretrained_base("resnet50", input_shape=(64, 64, 3))  # weights="imagenet"
    assert calls == [{"include_top": False, "weights": "imagenet", "input_shape": (64, 64, 3)}]
    assert base.get_layer("preprocessing").mode == "caffe"


# --------------------------------------------------------------------------------------
# keras_blocks-built bases


def test_kb_mobilenet_v2_matches_keras_applications_base(weights_dir):
    path = str(weights_dir / MOBILENET_FILE)
    ours = pretrained_base("kb_mobilenet_v2", weights=path, input_shape=(40, 40, 3))
    theirs = pretrained_base("mobilenet_v2", weights=path, input_shape=(40, 40, 3))
    x = _pixels((2, 40, 40, 3), seed=3)
    np.testing.assert_allclose(to_numpy(ours(x)), to_numpy(theirs(x)), atol=1e-4)
    assert ours.get_layer("preprocessing").mode == "tf"


def test_squeezenet_base_with_weights_file(weights_dir):
    path = str(weights_dir / SQUEEZENET_FILE)
    base = pretrained_base("squeezenet", weights=path, input_shape=(64, 64, 3))
    assert base.get_layer("preprocessing").mode == "caffe"
    random = pretrained_base("squeezenet", weights=None, input_shape=(64, 64, 3))
    x = _pixels((2, 64, 64, 3))
    features = to_numpy(base(x))
    assert features.shape[-1] == 512 and np.all(np.isfinite(features))
    assert not np.allclose(features, to_numpy(random(x)))


# --------------------------------------------------------------------------------------
# The registry: users and plugins add bases


def test_registered_bases_are_listed():
    names = registry.available("base")
    for name in ("mobilenet_v2", "vgg16", "resnet50", "efficientnet_b0", "kb_mobilenet_v2",
                 "squeezenet"):
        assert name in names


def test_user_registered_spec_and_plain_factory():
    def tiny(input_shape, weights):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Conv2D(2, 3, strides=2)(inputs))

    spec = register_base(BaseSpec("tiny_test_base", tiny, preprocessing="torch", min_size=8))
    try:
        base = pretrained_base("tiny_test_base", weights=None, input_shape=(9, 9, 3))
        assert base.get_layer("preprocessing").mode == "torch"
        assert base.output_shape == (None, 4, 4, 2)
        again = registry.create("base", {"name": "tiny_test_base", "weights": None,
                                         "input_shape": (9, 9, 3), "trainable": True})
        assert again.trainable_weights
        with pytest.raises(ValueError, match="at least 8"):
            spec(weights=None, input_shape=(7, 9, 3))
    finally:
        registry.get_registry("base").unregister("tiny_test_base")

    def plain(weights, input_shape):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Dense(3)(inputs))

    registry.register("base", "plain_test_base", plain)
    try:
        base = pretrained_base("plain_test_base", weights=None, input_shape=(4, 4, 3))
        assert base.trainable_weights == []  # trainable=False applies to plugins too
    finally:
        registry.get_registry("base").unregister("plain_test_base")


# --------------------------------------------------------------------------------------
# Bad input


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as error:
        pretrained_base("mobilenet_v9", weights=None)
    message = str(error.value)
    assert "Unknown base 'mobilenet_v9'" in message
    assert "'mobilenet_v2'" in message and "'squeezenet'" in message


@pytest.mark.parametrize("name", ["mobilenet_v2", "squeezenet"])
def test_missing_weights_path(name, tmp_path):
    missing = str(tmp_path / "nowhere.weights.h5")
    with pytest.raises(FileNotFoundError, match=missing):
        pretrained_base(name, weights=missing, input_shape=(32, 32, 3))


@pytest.mark.parametrize(
    "name, file",
    [
        ("mobilenet_v2", SQUEEZENET_FILE),
        ("vgg16", MOBILENET_FILE),
        ("kb_mobilenet_v2", SQUEEZENET_FILE),
        ("squeezenet", MOBILENET_FILE),
    ],
)
def test_weights_that_do_not_fit_name_the_file(name, file, weights_dir):
    path = str(weights_dir / file)
    with pytest.raises(ValueError) as error:
        pretrained_base(name, weights=path, input_shape=(32, 32, 3))
    assert path in str(error.value) and "does not fit" in str(error.value)


def test_a_file_that_is_not_weights(tmp_path):
    path = tmp_path / "notes.weights.h5"
    path.write_text("not hdf5")
    with pytest.raises((ValueError, OSError), match=str(path)):
        pretrained_base("mobilenet_v2", weights=str(path), input_shape=(32, 32, 3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (16, 16, 3)}, r"input_shape \(16, 16, 3\) is too small: .* at least 32"),
        ({"input_shape": (64, 31, 3)}, "too small"),
        ({"input_shape": (32, 32)}, "`input_shape` must be \\(height, width, channels\\)"),
        ({"input_shape": (32, 32, 0)}, "`input_shape`"),
        ({"input_shape": (32, 32, 1), "weights": "x.h5"}, None),
        ({"trainable": "yes"}, "`trainable` must be True or False"),
        ({"weights": 3}, "`weights` must be None, 'imagenet' or the path"),
    ],
)
def test_bad_arguments(kwargs, message, weights_dir):
    arguments = {"weights": None, "input_shape": (32, 32, 3), **kwargs}
    if arguments["weights"] == "x.h5":
        arguments["weights"] = str(weights_dir / MOBILENET_FILE)
        message = "must have 3 channels"
    with pytest.raises(ValueError, match=message):
        pretrained_base("mobilenet_v2", **arguments)
