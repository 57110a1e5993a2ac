"""squeezenet_base: SqueezeNet v1.1 rebuilt from FireBlocks, checked against plain Keras."""

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from keras_blocks import FireBlock
from keras_blocks.models import squeezenet_base
from tests.layer_checks import to_numpy

WEIGHTS = "squeezenet_v1.1_no_top.h5"
FIRES = ((2, 16, 64), (3, 16, 64), (4, 32, 128), (5, 32, 128), (6, 48, 192), (7, 48, 192),
         (8, 64, 256), (9, 64, 256))


def _plain_keras_squeezenet(input_shape, path):
    """SqueezeNet v1.1 with keras.layers only, its weights read straight from the h5 file."""
    conv, relu = keras.layers.Conv2D, keras.layers.ReLU
    inputs = keras.Input(input_shape)
    x = relu()(conv(64, 3, strides=2, padding="valid", name="conv1")(inputs))
    x = keras.layers.MaxPooling2D(3, strides=2)(x)
    for fire, squeeze, expand in FIRES:
        x = relu()(conv(squeeze, 1, name=f"fire{fire}_squeeze1x1")(x))
        left = relu()(conv(expand, 1, name=f"fire{fire}_expand1x1")(x))
        right = relu()(conv(expand, 3, padding="same", name=f"fire{fire}_expand3x3")(x))
        x = keras.layers.Concatenate()([left, right])
        if fire in (3, 5):
            x = keras.layers.MaxPooling2D(3, strides=2)(x)
    model = keras.Model(inputs, x)
    with h5py.File(path, "r") as f:
        for layer in model.layers:
            if layer.weights:
                group = f[layer.name.replace("_", "/", 1) if "fire" in layer.name else layer.name]
                layer.set_weights([np.asarray(group[n]) for n in group.attrs["weight_names"]])
    return model


@pytest.mark.parametrize("size", [64, 67])
def test_features_equal_plain_keras_reference(weights_dir, size):
    path = str(weights_dir / WEIGHTS)
    ours = squeezenet_base(input_shape=(size, size, 3), weights=path)
    reference = _plain_keras_squeezenet((size, size, 3), path)
    # Caffe-style inputs: BGR pixels minus the ImageNet mean.
    x = np.random.default_rng(size).uniform(-125, 150, (2, size, size, 3)).astype("float32")
    expected = to_numpy(reference(x))
    actual = to_numpy(ours(x))
    assert actual.shape == expected.shape == (2, 3, 3, 512)
    assert np.abs(actual - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    assert np.mean(expected > 0) > 0.01 and expected.max() > 1  # not a dead network


def test_architecture_and_names():
    model = squeezenet_base((None, None, 3))
    fires = [layer for layer in model.layers if isinstance(layer, FireBlock)]
    assert [f.name for f in fires] == [f"fire{i}" for i, _, _ in FIRES]
    assert [(f.squeeze, f.expand) for f in fires] == [(s, (e, e)) for _, s, e in FIRES]
    assert [layer.name for layer in model.layers if "pool" in layer.name] == [
        "pool1", "pool3", "pool5"]
    # 722,496 parameters: the published v1.1 without its 1000-class conv10.
    assert model.count_params() == 722_496
    for side, out in ((31, 1), (96, 5), (227, 13)):
        assert model.compute_output_shape((1, side, side, 3)) == (1, out, out, 512)


def _load_images(data_dir, split, per_class, size):
    images, labels = [], []
    for label, name in enumerate(("Car", "Truck")):
        for file in sorted((data_dir / split / name).glob("*.jpg"))[:per_class]:
            image = Image.open(file).convert("RGB").resize((size, size), Image.BILINEAR)
            images.append(np.asarray(image, "float32"))
            labels.append(label)
    return np.stack(images), np.array(labels)


def _probe_accuracy(train_features, train_labels, test_features, test_labels, l2=1000.0):
    """Ridge regression on standardized features to +-1 targets: a linear probe."""
    mean, std = train_features.mean(0), train_features.std(0) + 1e-6
    a = np.c_[(train_features - mean) / std, np.ones(len(train_features))]
    b = np.c_[(test_features - mean) / std, np.ones(len(test_features))]
    w = np.linalg.solve(a.T @ a + l2 * np.eye(a.shape[1]), a.T @ (2.0 * train_labels - 1))
    return float(np.mean((b @ w > 0) == (test_labels == 1)))


@pytest.mark.slow
def test_pretrained_features_separate_cars_from_trucks(data_dir, weights_dir):
    size = 64  # the 32-pixel photos upsampled: SqueezeNet needs 31 at least
    x_train, y_train = _load_images(data_dir, "train", 300, size)
    x_test, y_test = _load_images(data_dir, "valid", 100, size)
    preprocess = keras.applications.imagenet_utils.preprocess_input  # caffe: BGR, mean
    accuracy = {}
    for name, weights in (("imagenet", str(weights_dir / WEIGHTS)), ("random", None)):
        base = squeezenet_base((size, size, 3), weights=weights)
        pooled = keras.Sequential([base, keras.layers.GlobalAveragePooling2D()])
        features = [pooled.predict(preprocess(x.copy(), mode="caffe"), batch_size=100,
                                   verbose=0) for x in (x_train, x_test)]
        accuracy[name] = _probe_accuracy(features[0], y_train, features[1], y_test)
    print(f"linear probe accuracy (600 train / 200 valid images): {accuracy}")
    assert accuracy["imagenet"] >= 0.75, accuracy
    assert accuracy["imagenet"] >= accuracy["random"] + 0.1, accuracy


def test_missing_weights_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.h5"):
        squeezenet_base((64, 64, 3), weights=str(tmp_path / "absent.h5"))


def test_mobilenet_weights_do_not_fit(weights_dir):
    with pytest.raises(ValueError) as error:
        squeezenet_base((64, 64, 3),
                        weights=str(weights_dir / "mobilenet_v2_1.0_no_top.weights.h5"))
    message = str(error.value)
    assert "mobilenet_v2_1.0_no_top.weights.h5" in message and "no layer 'conv1'" in message


def _copy_squeezenet_h5(source, target, *, extra=None, shrink=None):
    """A Keras 2 HDF5 weights file like the published one, optionally altered."""
    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        names = [n.decode() for n in src.attrs["layer_names"]]
        for name in names:
            group = dst.create_group(name)
            weight_names = list(src[name].attrs["weight_names"])
            group.attrs["weight_names"] = weight_names
            for w in weight_names:
                array = np.asarray(src[name][w.decode()])
                if name == shrink:
                    array = array[..., :-1]
                group[w.decode()] = array
        if extra:
            group = dst.create_group(extra)
            group.attrs["weight_names"] = [b"kernel:0"]
            group["kernel:0"] = np.zeros((1, 1, 512, 10), "float32")
            names.append(extra)
        dst.attrs["layer_names"] = [n.encode() for n in names]


def test_altered_files_name_the_first_mismatching_layer(weights_dir, tmp_path):
    source = weights_dir / WEIGHTS
    shrunk = tmp_path / "shrunk.h5"
    _copy_squeezenet_h5(source, shrunk, shrink="fire4/expand3x3")
    with pytest.raises(ValueError) as error:
        squeezenet_base((64, 64, 3), weights=str(shrunk))
    assert "shrunk.h5" in str(error.value)
    assert ("layer 'fire4/expand3x3' expects weight shapes [(3, 3, 32, 128), (128,)], the "
            "file has [(3, 3, 32, 127), (127,)]") in str(error.value)

    with_top = tmp_path / "with_top.h5"
    _copy_squeezenet_h5(source, with_top, extra="conv10")
    with pytest.raises(ValueError, match="does not have: 'conv10'"):
        squeezenet_base((64, 64, 3), weights=str(with_top))

    unchanged = tmp_path / "copy.h5"
    _copy_squeezenet_h5(source, unchanged)  # the copy itself loads: the writer is faithful
    squeezenet_base((64, 64, 3), weights=str(unchanged))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (30, 64, 3)}, "too small"),
        ({"input_shape": (64, 64)}, "`input_shape` must be (height, width, channels)"),
        ({"input_shape": (64, 64, 3), "weights": ["imagenet"]}, "`weights` must be None"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        squeezenet_base(**kwargs)
    assert message in str(error.value)


def test_imagenet_downloads_the_published_file(monkeypatch, weights_dir):
    requests = []

    def fake_get_file(fname, origin, **kwargs):
        requests.append((fname, origin))
        return str(weights_dir / WEIGHTS)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    squeezenet_base((64, 64, 3), weights="imagenet")
    assert requests == [(
        "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
        "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
    )]
