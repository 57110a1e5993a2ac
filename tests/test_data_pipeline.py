"""make_pipeline: exactly once, new order every epoch, bad files named, bad input refused."""

import io
import json
import os
import pathlib
import tempfile
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from keras_blocks import make_pipeline
from keras_blocks.data import cache as cache_module
from keras_blocks.data import pipeline as pipeline_module
from keras_blocks.data import stages


def _identity_color(identity: int, label: int) -> tuple[int, int, int]:
    # Solid colours survive any resize exactly; R,G hold the id, B the label.
    return identity % 256, identity // 256, 40 * label + 7


def _decode_identity(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, labels) read back from solid-colour images, checking they are solid."""
    pixels = np.round(images).astype(np.int64)
    assert (pixels == pixels[:, :1, :1, :]).all(), "an image is not one solid colour"
    corner = pixels[:, 0, 0, :]
    return corner[:, 0] + 256 * corner[:, 1], (corner[:, 2] - 7) // 40


def _write(path: pathlib.Path, array: np.ndarray, fmt: str = "PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, fmt)


def _make_tree(root: pathlib.Path, counts, rng, sizes=((5, 7), (9, 4), (6, 6))):
    """Class folders of solid PNGs (and nested subfolders); returns {id: label}."""
    truth, identity = {}, 0
    for label, count in enumerate(counts):
        for k in range(count):
            h, w = sizes[rng.integers(len(sizes))]
            folder = root / f"class_{label}" / ("nested" if k % 3 == 2 else "")
            color = _identity_color(identity, label)
            _write(folder / f"{identity:04d}.png", np.full((h, w, 3), color, np.uint8))
            truth[identity] = label
            identity += 1
    return truth


def _epoch(ds):
    images, labels = [], []
    for x, y in ds:
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


@given(
    counts=st.lists(st.integers(1, 7), min_size=2, max_size=4),
    batch_size=st.integers(1, 9),
    image_size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    cache=st.sampled_from(["memory", "file", False]),
    seed=st.integers(0, 2**16),
    drop_remainder=st.booleans(),
)
def test_every_epoch_yields_every_image_exactly_once(
    counts, batch_size, image_size, cache, seed, drop_remainder
):
    with tempfile.TemporaryDirectory() as tmp:
        _check_exactly_once(
            pathlib.Path(tmp) / "d", counts, batch_size, image_size, cache, seed, drop_remainder
        )


def _check_exactly_once(root, counts, batch_size, image_size, cache, seed, drop_remainder):
    truth = _make_tree(root, counts, np.random.default_rng(seed))
    n = len(truth)
    cache_arg = str(root.parent / f"{root.name}.cache") if cache == "file" else cache
    ds = make_pipeline(
        str(root),
        image_size=image_size,
        batch_size=batch_size,
        seed=seed,
        cache=cache_arg,
        label_mode="int",
        value_range=(0, 255),
        drop_remainder=drop_remainder,
    )
    assert ds.class_names == [f"class_{i}" for i in range(len(counts))]
    assert ds.num_images == n
    orders = []
    for _ in range(3):
        images, labels = _epoch(ds)
        assert images.shape[1:] == (*image_size, 3) and images.dtype == np.float32
        ids, pixel_labels = _decode_identity(images)
        np.testing.assert_array_equal(pixel_labels, labels)
        np.testing.assert_array_equal(labels, [truth[i] for i in ids])
        if drop_remainder:
            assert len(ids) == (n // batch_size) * batch_size
            assert len(set(ids.tolist())) == len(ids)
        else:
            assert sorted(ids.tolist()) == sorted(truth)
        orders.append(ids.tolist())
    if n >= 10 and not drop_remainder:
        # Three reshuffles of the same images, each epoch in a new order (two uniform
        # orders of n >= 10 images coincide with probability <= 1 / 10!).
        assert all(sorted(order) == sorted(truth) for order in orders)
        assert orders[0] != orders[1] and orders[1] != orders[2] and orders[0] != orders[2]


def test_order_changes_each_epoch_and_is_reproducible_with_a_seed(tmp_path):
    truth = _make_tree(tmp_path / "d", [10, 10], np.random.default_rng(0))
    orders = []
    for _ in range(2):
        ds = make_pipeline(str(tmp_path / "d"), image_size=4, batch_size=5, seed=3)
        orders.append([_decode_identity(_epoch(ds)[0] * 255)[0].tolist() for _ in range(3)])
    assert orders[0] == orders[1]  # same seed, same sequence of epochs
    first, second, third = orders[0]
    assert first != second and second != third and first != third
    for order in (first, second, third):  # each epoch: every image once, reordered
        assert sorted(order) == sorted(truth)


def test_no_shuffle_keeps_file_order(tmp_path):
    _make_tree(tmp_path / "d", [3, 4], np.random.default_rng(0))
    ds = make_pipeline(str(tmp_path / "d"), image_size=3, shuffle=False, batch_size=2)
    ids = _decode_identity(_epoch(ds)[0] * 255)[0]
    by_path = [int(pathlib.Path(p).stem) for p in ds.file_paths]
    assert ids.tolist() == by_path


@pytest.mark.parametrize("label_mode", ["binary", "int", "categorical"])
def test_label_modes(tmp_path, label_mode):
    _make_tree(tmp_path / "d", [3, 2], np.random.default_rng(0))
    ds = make_pipeline(
        str(tmp_path / "d"), image_size=4, batch_size=8, label_mode=label_mode, shuffle=False
    )
    images, labels = _epoch(ds)
    expected = np.array([0, 0, 0, 1, 1])
    if label_mode == "binary":
        assert labels.dtype == np.float32 and labels.shape == (5, 1)
        np.testing.assert_array_equal(labels[:, 0], expected)
    elif label_mode == "int":
        assert labels.dtype == np.int32
        np.testing.assert_array_equal(labels, expected)
    else:
        np.testing.assert_array_equal(labels, np.eye(2, dtype=np.float32)[expected])
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_value_range_and_float_output(tmp_path):
    _write(tmp_path / "d" / "a" / "x.png", np.full((4, 4, 3), 255, np.uint8))
    _write(tmp_path / "d" / "b" / "y.png", np.zeros((4, 4, 3), np.uint8))
    ds = make_pipeline(str(tmp_path / "d"), image_size=2, value_range=(-1, 1), shuffle=False)
    images, _ = _epoch(ds)
    assert images.dtype == np.float32
    np.testing.assert_allclose(images[0], 1.0)
    np.testing.assert_allclose(images[1], -1.0)


def _encode(array, fmt, **kwargs):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_formats_and_channels(tmp_path):
    color = np.array([200, 30, 90], np.uint8)
    rgb = np.broadcast_to(color, (6, 5, 3)).copy()
    root = tmp_path / "d"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "1.png").write_bytes(_encode(rgb, "PNG"))
    (root / "a" / "2.bmp").write_bytes(_encode(rgb, "BMP"))
    (root / "a" / "3.jpg").write_bytes(_encode(rgb, "JPEG", quality=100))
    rgba = np.dstack([rgb, np.full((6, 5, 1), 10, np.uint8)])
    (root / "a" / "4.png").write_bytes(_encode(rgba, "PNG"))
    (root / "b" / "5.png").write_bytes(_encode(np.full((6, 5), 77, np.uint8), "PNG"))
    frames = [Image.fromarray(np.full((6, 5, 3), v, np.uint8)) for v in (120, 250)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    (root / "b" / "6.gif").write_bytes(gif.getvalue())
    ds = make_pipeline(
        str(root), image_size=(3, 4), shuffle=False, batch_size=10, value_range=(0, 255)
    )
    images, _ = _epoch(ds)
    assert images.shape == (6, 3, 4, 3)
    names = [os.path.basename(p) for p in ds.file_paths]
    assert names == ["1.png", "2.bmp", "3.jpg", "4.png", "5.png", "6.gif"]
    for i in (0, 1, 3):  # lossless RGB, BMP, and RGBA (alpha dropped)
        np.testing.assert_array_equal(images[i], np.broadcast_to(color, (3, 4, 3)))
    assert np.abs(images[2] - color).max() <= 3  # JPEG is lossy
    np.testing.assert_array_equal(images[4], 77)  # grayscale becomes three equal channels
    np.testing.assert_allclose(images[5], 120, atol=2)  # the GIF's first frame


def _bad_files(root: pathlib.Path):
    good = np.full((8, 8, 3), 100, np.uint8)
    jpeg = _encode(good, "JPEG")
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for i in range(3):
        _write(root / "a" / f"good{i}.png", good)
        _write(root / "b" / f"good{i}.png", good)
    bad = {
        root / "a" / "truncated.jpg": jpeg[: len(jpeg) // 2],
        root / "b" / "text.png": b"this is not an image",
        root / "b" / "empty.gif": b"",
    }
    for path, data in bad.items():
        path.write_bytes(data)
    return sorted(str(p) for p in bad)


@pytest.mark.parametrize("cache", [True, False])
def test_bad_files_raise_naming_the_file(tmp_path, cache):
    bad = _bad_files(tmp_path / "d")
    with pytest.raises(ValueError, match="could not decode 3 of 9") as info:
        make_pipeline(str(tmp_path / "d"), image_size=4, cache=cache)
    for path in bad:
        assert path in str(info.value)
    assert "on_error='skip'" in str(info.value)


@pytest.mark.parametrize("cache", [True, False])
def test_bad_files_skipped_are_reported(tmp_path, cache):
    bad = _bad_files(tmp_path / "d")
    with pytest.warns(UserWarning, match="skipped 3 of 9") as record:
        ds = make_pipeline(
            str(tmp_path / "d"), image_size=4, cache=cache, batch_size=4, on_error="skip"
        )
    message = str(record[0].message)
    assert all(path in message for path in bad)
    assert sorted(p for p, _ in ds.skipped_files) == bad
    assert all(reason for _, reason in ds.skipped_files)
    assert ds.num_images == 6 and len(ds.file_paths) == 6
    images, labels = _epoch(ds)
    assert len(images) == 6 and sorted(labels[:, 0].tolist()) == [0, 0, 0, 1, 1, 1]


def test_non_image_extensions_are_reported(tmp_path):
    _make_tree(tmp_path / "d", [2, 2], np.random.default_rng(0))
    (tmp_path / "d" / "class_0" / "notes.txt").write_text("hello")
    (tmp_path / "d" / "class_0" / ".DS_Store").write_text("")
    with pytest.warns(UserWarning, match=r"ignored 1 file.*notes\.txt"):
        ds = make_pipeline(str(tmp_path / "d"), image_size=2)
    assert ds.num_images == 4


def test_disk_cache_is_atomic_and_survives_restarts(tmp_path, monkeypatch):
    _make_tree(tmp_path / "d", [20, 20], np.random.default_rng(0))
    cache = tmp_path / "caches" / "train.cache"
    source = str(tmp_path / "d")

    # Interrupt the pass that builds the cache: nothing is left behind.
    monkeypatch.setattr(stages, "_BUILD_BATCH", 8)

    def interrupt(done):
        if done >= 16:
            raise KeyboardInterrupt

    monkeypatch.setattr(stages.Hooks, "on_build_chunk", interrupt)
    with pytest.raises(KeyboardInterrupt):
        make_pipeline(source, image_size=3, cache=str(cache))
    assert not cache.exists()

    # A crash while writing the file leaves no cache (and no partial file) either.
    monkeypatch.setattr(stages.Hooks, "on_build_chunk", None)

    def crash():
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.Hooks, "on_cache_write", crash)  # mid-write
    with pytest.raises(OSError, match="disk full"):
        make_pipeline(source, image_size=3, cache=str(cache))
    assert list((tmp_path / "caches").iterdir()) == []

    monkeypatch.setattr(cache_module.Hooks, "on_cache_write", None)
    first = make_pipeline(source, image_size=3, cache=str(cache), shuffle=False)
    assert cache.exists()
    expected = _epoch(first)

    # A restart loads the file instead of decoding the images again.
    def no_decoding(*args, **kwargs):
        raise AssertionError("the cache file was not used")

    monkeypatch.setattr(stages, "_decode_pass", no_decoding)
    again = make_pipeline(source, image_size=3, cache=str(cache), shuffle=False)
    np.testing.assert_array_equal(_epoch(again)[0], expected[0])
    assert again.file_paths == first.file_paths

    # Other settings (or other files) invalidate it: rebuilt, with a warning.
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="rebuilding"):
        bigger = make_pipeline(source, image_size=5, cache=str(cache))
    assert _epoch(bigger)[0].shape[1:] == (5, 5, 3)


def test_cache_file_keeps_the_skip_report(tmp_path):
    bad = _bad_files(tmp_path / "d")
    cache = str(tmp_path / "c.cache")
    with pytest.warns(UserWarning, match="skipped 3"):
        make_pipeline(str(tmp_path / "d"), image_size=4, cache=cache, on_error="skip")
    with pytest.warns(UserWarning, match="skipped 3"):
        ds = make_pipeline(str(tmp_path / "d"), image_size=4, cache=cache, on_error="skip")
    assert sorted(p for p, _ in ds.skipped_files) == bad
    with pytest.raises(ValueError, match="could not decode 3"):
        make_pipeline(str(tmp_path / "d"), image_size=4, cache=cache)


def test_validation_split_is_disjoint_stratified_and_seed_independent(tmp_path):
    truth = _make_tree(tmp_path / "d", [10, 6], np.random.default_rng(0))
    source = str(tmp_path / "d")
    train = make_pipeline(
        source, image_size=2, validation_split=0.5, subset="training", seed=1
    )
    valid = make_pipeline(
        source, image_size=2, validation_split=0.5, subset="validation", seed=99
    )
    both = make_pipeline(source, image_size=2, validation_split=0.5, subset="both")
    assert set(train.file_paths).isdisjoint(valid.file_paths)
    assert len(train.file_paths) + len(valid.file_paths) == len(truth)
    assert sorted(both[0].file_paths) == sorted(train.file_paths)
    assert sorted(both[1].file_paths) == sorted(valid.file_paths)
    assert len(valid.file_paths) == 5 + 3  # half of each class
    ids = _decode_identity(_epoch(valid)[0] * 255)[0]
    assert sorted(ids.tolist()) == sorted(int(pathlib.Path(p).stem) for p in valid.file_paths)


def test_validation_pipeline_reuses_the_class_names(tmp_path):
    _make_tree(tmp_path / "train", [2, 2], np.random.default_rng(0))
    _make_tree(tmp_path / "valid", [1, 1], np.random.default_rng(1))
    train = make_pipeline(str(tmp_path / "train"), image_size=2)
    valid = make_pipeline(str(tmp_path / "valid"), image_size=2, class_names=train.class_names)
    assert valid.class_names == train.class_names
    (tmp_path / "other" / "class_0").mkdir(parents=True)
    _write(tmp_path / "other" / "class_0" / "a.png", np.zeros((2, 2, 3), np.uint8))
    _write(tmp_path / "other" / "cat" / "b.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"class_names.*do not match.*'cat'"):
        make_pipeline(str(tmp_path / "other"), image_size=2, class_names=train.class_names)


def test_given_class_names_set_the_label_order(tmp_path):
    _make_tree(tmp_path / "d", [2, 3], np.random.default_rng(0))
    ds = make_pipeline(
        str(tmp_path / "d"),
        image_size=2,
        class_names=["class_1", "class_0"],
        label_mode="int",
        shuffle=False,
    )
    images, labels = _epoch(ds)
    pixel_labels = _decode_identity(images * 255)[1]
    np.testing.assert_array_equal(labels, 1 - pixel_labels)


def test_pairs_source(tmp_path):
    truth = _make_tree(tmp_path / "d", [3, 3], np.random.default_rng(0))
    paths = sorted((tmp_path / "d").rglob("*.png"))
    names = ["car" if truth[int(p.stem)] == 0 else "truck" for p in paths]
    ds = make_pipeline(list(zip(map(str, paths), names, strict=True)), image_size=2, seed=0)
    assert ds.class_names == ["car", "truck"]
    images, labels = _epoch(ds)
    ids, pixel_labels = _decode_identity(images * 255)
    np.testing.assert_array_equal(labels[:, 0], pixel_labels)
    assert sorted(ids.tolist()) == sorted(truth)
    ints = make_pipeline([(str(p), truth[int(p.stem)]) for p in paths], image_size=2)
    assert ints.class_names == ["0", "1"]


def test_array_and_dataset_sources():
    labels = np.arange(12) % 3
    images = np.stack([np.full((5, 6, 3), _identity_color(i, k)) for i, k in enumerate(labels)])
    images = images.astype(np.uint8)
    for source in (
        (images, labels),
        (images.astype(np.float32), labels),  # floats in [0, 255] are accepted
        tf.data.Dataset.from_tensor_slices((images, labels)),
    ):
        ds = make_pipeline(
            source,
            image_size=(4, 4),
            batch_size=5,
            label_mode="categorical",
            seed=1,
            value_range=(0, 255),
        )
        assert ds.class_names == ["0", "1", "2"] and ds.num_images == 12
        x, y = _epoch(ds)
        assert x.shape == (12, 4, 4, 3)
        ids, _ = _decode_identity(x)
        np.testing.assert_array_equal(np.argmax(y, 1), labels[ids])
        assert sorted(ids.tolist()) == list(range(12))
    gray = make_pipeline((images[..., 0], labels), image_size=2, label_mode="int")
    x, _ = _epoch(gray)
    assert x.shape == (12, 2, 2, 3) and (x[..., 0] == x[..., 2]).all()
    streamed = make_pipeline(
        tf.data.Dataset.from_tensor_slices((images, labels)),
        image_size=3,
        cache=False,
        label_mode="int",
        class_names=["a", "b", "c"],
        value_range=(0, 255),
    )
    assert sorted(_decode_identity(_epoch(streamed)[0])[0].tolist()) == list(range(12))


def test_augment_runs_on_batches_after_the_cache(tmp_path):
    _make_tree(tmp_path / "d", [4, 4], np.random.default_rng(0))
    seen = []

    def record(images):
        seen.append(images.shape.rank)
        return images * 0.0 + 255.0

    ds = make_pipeline(str(tmp_path / "d"), image_size=3, augment=record, batch_size=4)
    images, _ = _epoch(ds)
    assert seen and set(seen) == {4}  # called on batches (rank 4), traced once
    np.testing.assert_allclose(images, 1.0)  # augment sees [0, 255]; output rescaled last

    flip = keras.layers.RandomFlip("horizontal", seed=1)
    halves = np.zeros((4, 6, 3), np.uint8)
    halves[:, 3:] = 255
    _write(tmp_path / "f" / "a" / "0.png", halves)
    _write(tmp_path / "f" / "b" / "1.png", halves)
    ds = make_pipeline(str(tmp_path / "f"), image_size=(4, 6), augment=flip, shuffle=False)
    lefts = {float(_epoch(ds)[0][0, 0, 0, 0]) for _ in range(12)}
    assert lefts == {0.0, 1.0}  # flipped in some epochs, not others: random per epoch


def test_input_context_shards_and_uses_per_replica_batch(tmp_path):
    truth = _make_tree(tmp_path / "d", [6, 6], np.random.default_rng(0))
    seen = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline_id, num_replicas_in_sync=2
        )
        for cache in (True, False):
            ds = make_pipeline(
                str(tmp_path / "d"), image_size=2, batch_size=4, input_context=context,
                cache=cache,
            )
            batches = [x.shape[0] for x, _ in ds]
            assert max(batches) == 2  # the per-replica batch of a global batch of 4
            ids = _decode_identity(_epoch(ds)[0] * 255)[0].tolist()
            assert len(ids) == 6
            if cache:
                seen.extend(ids)
    assert sorted(seen) == sorted(truth)


def test_auto_shard_policy_and_distribution(tmp_path):
    _make_tree(tmp_path / "d", [4, 4], np.random.default_rng(0))
    ds = make_pipeline(str(tmp_path / "d"), image_size=2, batch_size=4)
    policy = ds.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    count = sum(int(x.shape[0]) for x, _ in strategy.experimental_distribute_dataset(ds))
    assert count == 8


def test_interleaved_reads_yield_everything(tmp_path):
    truth = _make_tree(tmp_path / "d", [5, 6], np.random.default_rng(0))
    for cache in (True, False):
        ds = make_pipeline(
            str(tmp_path / "d"), image_size=2, interleave=3, cache=cache, batch_size=3
        )
        ids = _decode_identity(_epoch(ds)[0] * 255)[0]
        assert sorted(ids.tolist()) == sorted(truth)


def test_crop_to_aspect_ratio(tmp_path):
    image = np.zeros((4, 12, 3), np.uint8)
    image[:, 4:8] = 255  # a white centre square between black side bands
    _write(tmp_path / "d" / "a" / "0.png", image)
    _write(tmp_path / "d" / "b" / "1.png", image)
    cropped = make_pipeline(
        str(tmp_path / "d"), image_size=4, crop_to_aspect_ratio=True, shuffle=False
    )
    squashed = make_pipeline(str(tmp_path / "d"), image_size=4, shuffle=False)
    np.testing.assert_allclose(_epoch(cropped)[0][0], 1.0)
    assert _epoch(squashed)[0][0].min() == 0.0


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("crop", [False, True])
def test_small_uniform_images_are_cached_at_source_size(tmp_path, interpolation, crop):
    rng = np.random.default_rng(0)
    for k in range(6):
        _write(tmp_path / "d" / "ab"[k % 2] / f"{k}.png", rng.integers(0, 256, (5, 7, 3), np.uint8))
    # Nearest neighbour uses the source-size cache for whole-number factors only.
    size = (10, 14) if interpolation == "nearest" else (9, 8)
    kwargs = {
        "image_size": size,
        "shuffle": False,
        "interpolation": interpolation,
        "crop_to_aspect_ratio": crop,
        "value_range": (0, 255),
        "batch_size": 4,
    }
    cached = make_pipeline(str(tmp_path / "d"), cache_at="source", **kwargs)
    assert cached.cache_bytes == 6 * 5 * 7 * 3  # the source size, not the output size
    if interpolation == "nearest":
        other = make_pipeline(
            str(tmp_path / "d"), cache_at="source", **{**kwargs, "image_size": (9, 8)}
        )
        assert other.cache_bytes == 6 * 9 * 8 * 3
    target = make_pipeline(str(tmp_path / "d"), cache_at="target", **kwargs)
    assert target.cache_bytes == 6 * size[0] * size[1] * 3
    streamed = make_pipeline(str(tmp_path / "d"), cache=False, **kwargs)
    a, b, c = _epoch(cached)[0], _epoch(streamed)[0], _epoch(target)[0]
    assert a.shape == b.shape == c.shape == (6, *size, 3)
    # The stream and the target cache round each resized image to uint8; the
    # source-size cache resizes every batch and does not round.
    np.testing.assert_array_equal(c, b)
    np.testing.assert_allclose(a, b, atol=0 if interpolation == "nearest" else 0.5 + 1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_size": 0}, "`image_size` must be a positive integer"),
        ({"image_size": (4, -1)}, "`image_size`"),
        ({"batch_size": 0}, "`batch_size` must be an integer >= 1; got 0"),
        ({"validation_split": 0.2}, "needs `subset`"),
        ({"subset": "training"}, "needs `validation_split`"),
        ({"validation_split": 1.5, "subset": "training"}, "`validation_split`"),
        ({"label_mode": "sparse"}, "`label_mode` must be one of"),
        ({"interpolation": "cubic"}, "`interpolation` must be one of"),
        ({"on_error": "ignore"}, "`on_error` must be one of"),
        ({"cache_at": "disk"}, "`cache_at` must be one of"),
        ({"cache": 3}, "`cache` must be True"),
        ({"augment": "flip"}, "`augment` must be a Keras layer"),
        ({"value_range": (1, 0)}, "`value_range`"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, kwargs, match):
    _make_tree(tmp_path / "d", [2, 2], np.random.default_rng(0))
    kwargs = {"image_size": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_pipeline(str(tmp_path / "d"), **kwargs)


def test_bad_sources_name_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=f"{missing}.*does not exist"):
        make_pipeline(str(missing), image_size=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty.*one subfolder per class"):
        make_pipeline(str(tmp_path / "empty"), image_size=4)
    (tmp_path / "noimages" / "a").mkdir(parents=True)
    (tmp_path / "noimages" / "b").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        make_pipeline(str(tmp_path / "noimages"), image_size=4)
    _write(tmp_path / "one" / "only" / "a.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="at least two classes; found 1"):
        make_pipeline(str(tmp_path / "one"), image_size=4)
    with pytest.raises(ValueError, match="at least two classes"):
        make_pipeline(str(tmp_path / "one"), image_size=4, label_mode="categorical")
    assert make_pipeline(str(tmp_path / "one"), image_size=4, label_mode="int").num_images == 1
    _make_tree(tmp_path / "three", [1, 1, 1], np.random.default_rng(0))
    with pytest.raises(ValueError, match="exactly two classes; found 3"):
        make_pipeline(str(tmp_path / "three"), image_size=4)
    with pytest.raises(ValueError, match="is a file"):
        make_pipeline(str(tmp_path / "one" / "only" / "a.png"), image_size=4)
    with pytest.raises(ValueError, match="floats in \\[0, 1\\]"):
        make_pipeline((np.zeros((2, 3, 3, 3), np.float32), np.array([0, 1])), image_size=2)
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        make_pipeline((np.zeros((2, 3, 3, 3), np.uint8), np.array([0, 1, 1])), image_size=2)
    with pytest.raises(ValueError, match="`source` must be a directory"):
        make_pipeline(42, image_size=2)


def test_data_modules_import_tensorflow_lazily():
    # `import keras_blocks` must stay cheap on the JAX/PyTorch backends: no module of
    # keras_blocks.data imports TensorFlow at import time (they use the lazy proxy).
    import ast

    folder = pathlib.Path(pipeline_module.__file__).parent
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "tensorflow" for n in names), path.name


@pytest.mark.slow
def test_real_data_train_and_valid(data_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the real data has no bad or stray files
        train = make_pipeline(data_dir / "train", image_size=32, batch_size=256, seed=0)
        valid = make_pipeline(
            data_dir / "valid", image_size=32, shuffle=False, class_names=train.class_names
        )
    assert train.class_names == ["Car", "Truck"] and train.num_images == 8000
    assert train.cache_bytes == 8000 * 32 * 32 * 3
    first, second = _epoch(train), _epoch(train)
    assert len(first[0]) == 8000 and first[1].sum() == 4000 == second[1].sum()
    assert not np.array_equal(first[1], second[1])  # reshuffled
    x, y = _epoch(valid)
    assert x.shape == (2000, 32, 32, 3) and y[:1000].sum() == 0 and y[1000:].sum() == 1000


def test_several_workers_need_a_shared_seed(tmp_path, monkeypatch):
    """DATA sharding across workers is only exact when every worker shuffles alike."""
    _make_tree(tmp_path / "d", [3, 3], np.random.default_rng(0))
    cluster = {"cluster": {"worker": ["localhost:1", "localhost:2"]},
               "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    with pytest.raises(ValueError, match=r"TF_CONFIG lists 2 workers.*`seed`"):
        make_pipeline(str(tmp_path / "d"), image_size=2)
    # A seed, no shuffle, or an input_context (each worker reads its own files) is fine.
    for kwargs in ({"seed": 3}, {"shuffle": False}):
        ds = make_pipeline(str(tmp_path / "d"), image_size=2, **kwargs)
        assert len(_epoch(ds)[0]) == 6
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=0)
    ds = make_pipeline(str(tmp_path / "d"), image_size=2, input_context=context)
    assert len(_epoch(ds)[0]) == 3  # this worker's half
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]}}')
    ds = make_pipeline(str(tmp_path / "d"), image_size=2)  # one worker: nothing to agree on
    assert len(_epoch(ds)[0]) == 6
