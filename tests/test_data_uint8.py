"""make_pipeline(output_dtype="uint8"), the build progress bar, and where warnings point."""

import pathlib
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_blocks
from keras_blocks import make_pipeline
from keras_blocks.data import stages
from tests.test_data_pipeline import _bad_files, _decode_identity, _epoch, _make_tree, _write


@pytest.mark.parametrize("cache", ["memory", "file", False])
def test_uint8_batches_hold_every_image_once_per_epoch_with_its_label(tmp_path, cache):
    truth = _make_tree(tmp_path / "d", [7, 6], np.random.default_rng(0))
    cache_arg = str(tmp_path / "c.cache") if cache == "file" else cache
    kwargs = {"image_size": (5, 4), "batch_size": 4, "seed": 2, "cache": cache_arg}
    ds = make_pipeline(str(tmp_path / "d"), output_dtype="uint8", label_mode="int", **kwargs)
    assert ds.element_spec[0].dtype == tf.uint8
    assert ds.element_spec[1].dtype == tf.int32  # labels unchanged
    orders = []
    for _ in range(3):
        images, labels = _epoch(ds)
        assert images.dtype == np.uint8 and images.shape == (13, 5, 4, 3)
        ids, pixel_labels = _decode_identity(images)
        np.testing.assert_array_equal(pixel_labels, labels)
        np.testing.assert_array_equal(labels, [truth[i] for i in ids])
        assert sorted(ids.tolist()) == sorted(truth)
        orders.append(ids.tolist())
    assert orders[0] != orders[1] and orders[1] != orders[2]  # reshuffled every epoch

    # The same pixels as the float32 output, scaled back to [0, 255].
    plain = {**kwargs, "shuffle": False, "cache": cache_arg}
    as_uint8 = make_pipeline(str(tmp_path / "d"), output_dtype="uint8", **plain)
    as_float = make_pipeline(str(tmp_path / "d"), **plain)
    (x8, y8), (x32, y32) = _epoch(as_uint8), _epoch(as_float)
    np.testing.assert_array_equal(x8, np.round(x32 * 255).astype(np.uint8))
    np.testing.assert_array_equal(y8, y32)  # binary labels: float32 (batch, 1) as before


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
def test_uint8_from_a_source_size_cache_equals_the_target_size_cache(tmp_path, interpolation):
    rng = np.random.default_rng(1)
    for k in range(6):
        _write(tmp_path / "d" / "ab"[k % 2] / f"{k}.png", rng.integers(0, 256, (5, 7, 3), np.uint8))
    kwargs = {"image_size": (10, 14), "shuffle": False, "interpolation": interpolation,
              "output_dtype": "uint8", "batch_size": 4}
    small = make_pipeline(str(tmp_path / "d"), cache_at="source", **kwargs)
    target = make_pipeline(str(tmp_path / "d"), cache_at="target", **kwargs)
    streamed = make_pipeline(str(tmp_path / "d"), cache=False, **kwargs)
    assert small.cache_bytes == 6 * 5 * 7 * 3  # kept small, resized per batch
    a, b, c = _epoch(small)[0], _epoch(target)[0], _epoch(streamed)[0]
    assert a.dtype == np.uint8 and a.shape == (6, 10, 14, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, c)


def test_uint8_from_arrays_and_datasets_are_the_source_pixels():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(9) % 3
    for source, extra in (
        ((images, labels), {}),
        (tf.data.Dataset.from_tensor_slices((images, labels)), {}),
        (tf.data.Dataset.from_tensor_slices((images, labels)),
         {"cache": False, "class_names": ["a", "b", "c"]}),
    ):
        ds = make_pipeline(source, image_size=4, batch_size=4, shuffle=False,
                           label_mode="int", output_dtype="uint8", **extra)
        x, y = _epoch(ds)
        assert x.dtype == np.uint8
        np.testing.assert_array_equal(x, images)
        np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize(
    "layer",
    [
        lambda: keras.layers.RandomFlip("horizontal", seed=3),
        lambda: keras_blocks.RandomFlip("horizontal", seed=3),
        lambda: keras_blocks.Pipeline([keras_blocks.RandomFlip("horizontal", seed=3)]),
    ],
)
def test_uint8_output_takes_exact_flips(tmp_path, layer):
    image = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    _write(tmp_path / "d" / "a" / "0.png", image)
    _write(tmp_path / "d" / "b" / "1.png", image)
    ds = make_pipeline(str(tmp_path / "d"), image_size=(4, 6), shuffle=False,
                       output_dtype="uint8", augment=layer())
    seen = set()
    for _ in range(10):
        x, _ = _epoch(ds)
        assert x.dtype == np.uint8
        for one in x:  # each image exactly as it was, or exactly mirrored
            if np.array_equal(one, image):
                seen.add("same")
            else:
                np.testing.assert_array_equal(one, image[:, ::-1])
                seen.add("flipped")
    assert seen == {"same", "flipped"}


def test_uint8_output_refuses_float_augmentation_naming_it(tmp_path):
    _make_tree(tmp_path / "d", [2, 2], np.random.default_rng(0))
    source = str(tmp_path / "d")
    for layer, name in ((keras_blocks.RandomRotation(0.1), "RandomRotation"),
                        (keras.layers.RandomContrast(0.2), "RandomContrast")):
        with pytest.raises(ValueError, match=rf"output_dtype='uint8'.*augment={name}"):
            make_pipeline(source, image_size=4, output_dtype="uint8", augment=layer)

    def to_float(images):
        return tf.cast(images, tf.float32) * 1.1

    with pytest.raises(ValueError, match=r"output_dtype='uint8'.*to_float.*returned float32"):
        make_pipeline(source, image_size=4, output_dtype="uint8", augment=to_float)
    keeps = make_pipeline(source, image_size=4, output_dtype="uint8",
                          augment=lambda images: images[:, ::-1])  # returns uint8: fine
    assert _epoch(keeps)[0].dtype == np.uint8


def test_bad_output_dtype_and_value_range_are_refused(tmp_path):
    _make_tree(tmp_path / "d", [2, 2], np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"`output_dtype` must be one of 'float32', 'uint8'"):
        make_pipeline(str(tmp_path / "d"), image_size=4, output_dtype="float16")
    with pytest.raises(ValueError, match=r"`value_range`=\(-1.0, 1.0\) is for output_dtype"):
        make_pipeline(str(tmp_path / "d"), image_size=4, output_dtype="uint8",
                      value_range=(-1, 1))
    with pytest.raises(ValueError, match="`verbose` must be one of"):
        make_pipeline(str(tmp_path / "d"), image_size=4, verbose=5)


# ------------------------------------------------------------------ progress bar


def test_build_progress_bar_is_shown_after_the_threshold_and_silent_at_verbose_0(
    tmp_path, monkeypatch, capsys
):
    _bad_files(tmp_path / "d")  # 6 good files, 3 bad
    source = str(tmp_path / "d")
    kwargs = {"image_size": 4, "on_error": "skip", "cache": True}
    with pytest.warns(UserWarning, match="skipped 3"):
        make_pipeline(source, **kwargs)  # far under the 2 s threshold: silent
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(stages, "PROGRESS_AFTER_S", 0.0)
    with pytest.warns(UserWarning, match="skipped 3"):
        make_pipeline(source, verbose=0, **kwargs)
    assert capsys.readouterr().out == ""
    with pytest.warns(UserWarning, match="skipped 3"):
        make_pipeline(source, **kwargs)
    shown = capsys.readouterr().out
    assert "9/9" in shown and "images/s" in shown, shown
    assert "skipped: 3" in shown, shown
    with pytest.warns(UserWarning, match="skipped 3"):
        make_pipeline(source, cache=False, image_size=4, on_error="skip")  # validation pass
    assert "9/9" in capsys.readouterr().out


# --------------------------------------------------------- warnings point at the user


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("split", [False, True])
def test_skipped_files_warning_names_this_file(tmp_path, cache, split):
    _make_tree(tmp_path / "d", [6, 6], np.random.default_rng(0))
    (tmp_path / "d" / "class_1" / "broken.png").write_bytes(b"not an image")
    # subset="both": the bad file lands in one of the subsets, whichever its hash picks.
    kwargs = {"validation_split": 0.5, "subset": "both"} if split else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_pipeline(str(tmp_path / "d"), image_size=4, cache=cache, on_error="skip",
                      label_mode="int", **kwargs)
    ours = [w for w in caught if "could not be decoded" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert pathlib.Path(ours[0].filename) == pathlib.Path(__file__), ours[0].filename
