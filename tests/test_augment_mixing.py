"""MixUp and CutMix: images and labels mixed alike; label formats; missing labels."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

import keras_blocks.augment as kba
from tests.layer_checks import check_config_round_trip, to_numpy


def _data(n=6, size=12, seed=0):
    rng = np.random.default_rng(seed)
    # Constant images: image i is all i, so the pixel mix reveals the partner and weight.
    images = np.broadcast_to(np.arange(n, dtype="float32")[:, None, None, None] * 10,
                             (n, size, size, 3)).copy()
    return images, rng


@pytest.mark.parametrize("cls", [kba.MixUp, kba.CutMix])
@given(n=st.integers(2, 6), size=st.integers(16, 25), seed=st.integers(0, 1000),
       fmt=st.sampled_from(["int", "int_column", "one_hot", "binary", "binary_int"]))
def test_labels_mix_in_the_same_proportion_as_pixels(cls, n, size, seed, fmt):
    images, rng = _data(n, size, seed)
    classes = rng.integers(0, 3, n)
    labels, num_classes = {
        "int": (classes, 3),
        "int_column": (classes[:, None].astype("int32"), 3),
        "one_hot": (np.eye(3, dtype="float32")[classes], None),
        "binary": ((classes % 2).astype("float32")[:, None], None),
        "binary_int": (classes % 2, 1),
    }[fmt]
    layer = cls(num_classes=num_classes, seed=seed)
    out_images, out_labels = (to_numpy(t) for t in layer((images, labels)))
    assert out_labels.dtype == np.float32
    if fmt.startswith("int"):
        assert out_labels.shape == (n, 3)
        np.testing.assert_allclose(out_labels.sum(1), 1.0, atol=1e-5)
    # Each image is a mixture of itself and ONE partner; recover the weight from pixels
    # (images are constant 10*i) and check the labels agree.
    source = np.eye(3, dtype="float32")[classes] if fmt != "binary" and fmt != "binary_int" \
        else (classes % 2).astype("float32")[:, None]
    for i in range(n):
        values = np.unique(np.round(out_images[i, ..., 0], 3))
        own = 10.0 * i
        weight_self = float(np.mean(np.isclose(out_images[i, ..., 0], own))) \
            if cls is kba.CutMix else None
        if cls is kba.MixUp:
            assert values.size == 1
            mixed = values[0]
            candidates = list(range(n))
            fits = []
            for j in candidates:
                if j == i:
                    if np.isclose(mixed, own, atol=1e-3):
                        fits.append((j, 1.0))
                    continue
                lam = (mixed - 10.0 * j) / (own - 10.0 * j)
                if -1e-4 <= lam <= 1 + 1e-4:
                    fits.append((j, lam))
            assert any(np.allclose(out_labels[i], lam * source[i] + (1 - lam) * source[j],
                                   atol=1e-3) for j, lam in fits), (i, fits, out_labels[i])
        else:
            assert values.size <= 2
            partners = [v / 10.0 for v in values if not np.isclose(v, own)]
            j = round(partners[0]) if partners else i
            expected = weight_self * source[i] + (1 - weight_self) * source[j]
            np.testing.assert_allclose(out_labels[i], expected, atol=1e-4)


@pytest.mark.parametrize("cls", [kba.MixUp, kba.CutMix])
def test_identity_at_inference_reproducible_and_dict_format(cls):
    images, _ = _data(4)
    labels = np.eye(2, dtype="float32")[[0, 1, 1, 0]]
    out = cls(seed=1)({"images": images, "labels": labels}, training=False)
    np.testing.assert_array_equal(to_numpy(out["images"]), images)
    np.testing.assert_array_equal(to_numpy(out["labels"]), labels)
    a = cls(seed=3)({"images": images, "labels": labels})
    b = cls(seed=3)({"images": images, "labels": labels})
    np.testing.assert_array_equal(to_numpy(a["images"]), to_numpy(b["images"]))
    np.testing.assert_array_equal(to_numpy(a["labels"]), to_numpy(b["labels"]))
    assert not np.array_equal(to_numpy(a["images"]), images)
    check_config_round_trip(cls(alpha=0.4, num_classes=5, seed=2))


@pytest.mark.parametrize("cls", [kba.MixUp, kba.CutMix])
def test_missing_labels_and_bad_formats_raise(cls):
    images, _ = _data(4)
    with pytest.raises(ValueError, match="mixes images AND labels"):
        cls()(images)
    with pytest.raises(ValueError, match=r"integer labels .* need `num_classes`"):
        cls()((images, np.array([0, 1, 2, 1])))
    with pytest.raises(ValueError, match="one-hot rows of length num_classes=3"):
        cls(num_classes=3)((images, np.eye(2, dtype="float32")[[0, 1, 1, 0]]))
    with pytest.raises(ValueError, match="`alpha` must be a number > 0"):
        cls(alpha=0)
    with pytest.raises(ValueError, match="a single image"):
        cls(num_classes=2)((images[0], np.array(1)))
    with pytest.raises(ValueError, match="mixes images AND labels"):
        kba.Pipeline([kba.RandomFlip(), cls()])(images)


def test_in_tf_data_and_in_a_pipeline_with_labels():
    images = np.random.randint(0, 256, (8, 16, 16, 3)).astype("uint8")
    labels = np.random.randint(0, 4, 8)
    pipeline = kba.Pipeline([kba.RandomFlip(seed=0), kba.RandomRotation(0.1, seed=1),
                             kba.CutMix(num_classes=4, seed=2), kba.MixUp(num_classes=4,
                                                                          seed=3)])
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).map(
        lambda x, y: pipeline((x, y)))
    for x, y in ds:
        assert x.shape == (4, 16, 16, 3) and y.shape == (4, 4)
        np.testing.assert_allclose(y.numpy().sum(1), 1.0, atol=1e-5)


def test_saves_in_a_model_with_dict_inputs(tmp_path):
    inputs = {"images": keras.Input((12, 12, 3)), "labels": keras.Input((), dtype="int32")}
    outputs = kba.MixUp(num_classes=3, seed=0)(inputs)
    assert tuple(outputs["labels"].shape) == (None, 3)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "mixup.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    data = {"images": np.random.rand(2, 12, 12, 3).astype("float32"),
            "labels": np.array([0, 2], "int32")}
    out = loaded(data, training=False)
    np.testing.assert_allclose(to_numpy(out["labels"]), np.eye(3)[[0, 2]])
    json.dumps(model.get_config())


# ---- Bad labels (issue 16): named, never mixed into all-zero rows or raw TF errors.


@pytest.mark.parametrize("cls", [kba.MixUp, kba.CutMix])
@pytest.mark.parametrize("labels, num_classes, bad", [
    ([0, 1, 5, 0], 2, 5), ([0, -1, 1, 0], 2, -1), ([0, 2, 1, 0], 1, 2), ([3, 0, 0, 0], 3, 3),
])
def test_out_of_range_integer_labels_raise_naming_the_label(cls, labels, num_classes, bad):
    images, _ = _data(4)
    top = max(num_classes, 2) - 1
    with pytest.raises(ValueError, match=rf"label {bad} is outside \[0, {top}\] "
                                         rf"\(num_classes={num_classes}\)"):
        cls(num_classes=num_classes, seed=0)((images, np.array(labels)))
    # At inference too (the labels are still one-hot encoded there).
    with pytest.raises(ValueError, match=f"label {bad} is outside"):
        cls(num_classes=num_classes, seed=0)((images, np.array(labels)), training=False)


@pytest.mark.parametrize("cls", [kba.MixUp, kba.CutMix])
def test_out_of_range_labels_fail_a_tf_data_pipeline_with_the_message(cls):
    images, _ = _data(4)
    layer = cls(num_classes=2, seed=0)
    ds = tf.data.Dataset.from_tensor_slices((images, np.array([0, 1, 5, 0]))).batch(3)
    ds = ds.map(lambda x, y: layer((x, y)))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"{cls.__name__}: integer labels must be class ids in \[0, 1\]"):
        list(ds)
    good = tf.data.Dataset.from_tensor_slices((images, np.array([0, 1, 1, 0]))).batch(3)
    shapes = [tuple(y.shape) for _, y in good.map(lambda x, y: layer((x, y)))]
    assert shapes == [(3, 2), (1, 2)]


@pytest.mark.parametrize("cls", [kba.MixUp, kba.CutMix])
@pytest.mark.parametrize("labels, message", [
    (np.eye(2, dtype="float32")[[0, 1, 0]],
     r"`labels` must have one row per image: `images` has a batch of 4, so `labels` needs "
     r"shape \(4,\), \(4, 1\) or \(4, num_classes\); got shape \(3, 2\)"),
    (np.array([0, 1, 1, 0, 1]), r"`images` has a batch of 4.*got shape \(5,\)"),
    (np.array(1), r"`labels` must hold one label per image.*got a scalar \(shape \(\)\)"),
    (np.array(["car", "truck", "car", "car"]),
     r"`labels` must be numbers: .*got dtype string.*StringLookup"),
    (np.array([b"car", b"truck", b"car", b"car"]), r"`labels` must be numbers.*dtype string"),
])
def test_labels_of_the_wrong_shape_or_dtype_raise_naming_labels(cls, labels, message):
    images, _ = _data(4)
    num_classes = 2 if labels.dtype.kind == "i" else None
    with pytest.raises(ValueError, match=message):
        cls(num_classes=num_classes, seed=0)((images, labels))
    with pytest.raises(ValueError, match=message):
        cls(num_classes=num_classes, seed=0)({"images": images, "labels": labels})


def test_batch_sizes_known_only_when_run_are_checked_in_the_graph():
    images, _ = _data(4)
    layer = kba.MixUp(seed=0)
    check = tf.function(lambda x, y: layer((x, y)), input_signature=[
        tf.TensorSpec((None, 12, 12, 3)), tf.TensorSpec((None, 2))])
    assert tuple(check(images, np.eye(2, dtype="float32")[[0, 1, 0, 1]])[1].shape) == (4, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`labels` must have one row"):
        check(images, np.eye(2, dtype="float32")[[0, 1, 0]])


@pytest.mark.parametrize("cls", [kba.MixUp, kba.CutMix])
def test_a_layer_created_inside_dataset_map_says_to_create_it_outside(cls):
    images, _ = _data(4)
    ds = tf.data.Dataset.from_tensor_slices((images, np.eye(2, dtype="float32")[[0, 1, 0, 1]]))
    with pytest.raises(ValueError, match=rf"{cls.__name__} was created inside a TensorFlow "
                                         r"function .*Create the layer once, outside"):
        ds.batch(2).map(lambda x, y: cls()((x, y)))
