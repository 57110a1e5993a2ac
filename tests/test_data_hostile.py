"""make_pipeline under hostile input (issue 16): an error that names the culprit, or the
right result; never a silently wrong one.

Links, empty class folders, a dataset root given for a split, stale and damaged cache
files, arrays of the wrong kind, absurd sizes, and random trees of all of these.
"""

import os
import pathlib
import re
import tempfile
import warnings

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image

from keras_blocks import make_pipeline
from keras_blocks.data import stages
from tests.test_data_pipeline import _epoch


def _color(identity: int, label: int) -> tuple[int, int, int]:
    # Solid colours survive any resize exactly; R,G hold the id, B the label.
    return identity % 256, identity // 256, 40 * label + 7


def _png(path: pathlib.Path, identity: int, label: int, size=(4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), _color(identity, label), np.uint8)).save(path, "PNG")


def _tree(root: pathlib.Path, counts, start=0):
    """Class folders class_0, class_1... of solid PNGs; returns {id: label}."""
    truth = {}
    for label, count in enumerate(counts):
        for _ in range(count):
            identity = start + len(truth)
            _png(root / f"class_{label}" / f"{identity:04d}.png", identity, label)
            truth[identity] = label
    return truth


def _ids_and_labels(ds):
    """(ids, labels) of one epoch, checking each image's colour agrees with its label."""
    images, labels = _epoch(ds)
    pixels = np.round(images).astype(np.int64)
    assert (pixels == pixels[:, :1, :1, :]).all(), "an image is not one solid colour"
    corner = pixels[:, 0, 0, :]
    ids, pixel_labels = corner[:, 0] + 256 * corner[:, 1], (corner[:, 2] - 7) // 40
    labels = labels.reshape(len(labels), -1)
    labels = labels[:, 0] if labels.shape[1] == 1 else labels.argmax(1)
    np.testing.assert_array_equal(pixel_labels, labels)
    return ids.tolist(), labels.tolist()


def _pipeline(source, **kwargs):
    kwargs = {"image_size": 3, "batch_size": 4, "value_range": (0, 255), **kwargs}
    return make_pipeline(str(source), **kwargs)


# ------------------------------------------------------------------------ links


def test_a_symlink_loop_raises_naming_the_link(tmp_path):
    _tree(tmp_path / "d", [3, 3])
    loop = tmp_path / "d" / "class_0" / "loop"
    loop.symlink_to("..")  # the course's `ln -s .. train/Car/loop`
    with pytest.raises(ValueError, match=rf"{re.escape(str(loop))}.*symlink loop"):
        _pipeline(tmp_path / "d")
    loop.unlink()
    deeper = tmp_path / "d" / "class_1" / "a" / "b"
    deeper.mkdir(parents=True)
    (deeper / "up").symlink_to("../..")  # back to class_1 itself
    with pytest.raises(ValueError, match=rf"{re.escape(str(deeper / 'up'))}.*loop"):
        _pipeline(tmp_path / "d")


def test_a_class_folder_link_to_the_dataset_or_another_class_raises(tmp_path):
    _tree(tmp_path / "d", [2, 2])
    (tmp_path / "d" / "class_2").symlink_to(tmp_path / "d")
    with pytest.raises(ValueError, match=r"class_2.*symlink loop"):
        _pipeline(tmp_path / "d", label_mode="int")
    (tmp_path / "d" / "class_2").unlink()
    (tmp_path / "d" / "class_2").symlink_to("class_1")
    with pytest.raises(ValueError, match=r"class_1.*class_2.*same folder"):
        _pipeline(tmp_path / "d", label_mode="int")


def test_folder_links_into_or_out_of_the_dataset_are_not_followed(tmp_path):
    truth = _tree(tmp_path / "d", [3, 4])
    outside = tmp_path / "elsewhere"
    _png(outside / "9000.png", 9000, 0)
    into = tmp_path / "d" / "class_0" / "trucks"
    into.symlink_to("../class_1")  # the Truck photos would be labelled Car twice over
    out = tmp_path / "d" / "class_0" / "more"
    out.symlink_to(outside)
    duplicate = tmp_path / "d" / "class_0" / "copy.png"
    duplicate.symlink_to(tmp_path / "d" / "class_1" / "0004.png")
    _png(outside / "9001.png", 9001, 1)
    external_file = tmp_path / "d" / "class_1" / "extra.png"
    external_file.symlink_to(outside / "9001.png")  # a file link out: followed
    truth[9001] = 1
    chain = tmp_path / "d" / "class_0" / "again.png"
    chain.symlink_to("../class_1/extra.png")  # listed first, yet 9001 stays in class_1
    with pytest.warns(UserWarning, match="did not follow 4 link") as record:
        ds = _pipeline(tmp_path / "d", label_mode="int")
    message = " ".join(str(w.message) for w in record)
    for link in (into, out, duplicate, chain):
        assert str(link) in message
    assert "back into the dataset" in message and "out of the dataset" in message
    for _ in range(2):
        ids, labels = _ids_and_labels(ds)
        assert sorted(ids) == sorted(truth)  # each image once
        assert labels == [truth[i] for i in ids]  # with its own folder's label


# ------------------------------------------------------ empty folders, wrong root


@pytest.mark.filterwarnings("ignore:.*ignored 1 file")
@pytest.mark.parametrize("split", [None, 0.5])
def test_an_empty_class_folder_raises_naming_it(tmp_path, split):
    _tree(tmp_path / "d", [4])
    (tmp_path / "d" / "class_1").mkdir()
    (tmp_path / "d" / "class_1" / "notes.txt").write_text("no images here")
    kwargs = {} if split is None else {"validation_split": split, "subset": "both"}
    with pytest.raises(ValueError, match=r"class_1.*hold no image files"):
        _pipeline(tmp_path / "d", **kwargs)


def test_a_class_whose_every_file_is_bad_raises(tmp_path):
    _tree(tmp_path / "d", [3])
    (tmp_path / "d" / "class_1").mkdir()
    (tmp_path / "d" / "class_1" / "bad.png").write_bytes(b"not an image")
    for cache in (True, False):
        with (
            pytest.warns(UserWarning, match="skipped 1"),
            pytest.raises(ValueError, match=r"every image file of class.*class_1"),
        ):
            _pipeline(tmp_path / "d", on_error="skip", cache=cache)


def test_the_dataset_root_instead_of_a_split_says_what_was_meant(tmp_path):
    root = tmp_path / "cifar10-car-truck"
    for split in ("train", "valid"):
        for label, name in enumerate(("Car", "Truck")):
            _png(root / split / name / "0.png", label, label)
    with pytest.raises(ValueError, match=r"dataset root.*\['train', 'valid'\]") as info:
        _pipeline(root)
    assert repr(str(root / "train")) in str(info.value)
    # Any two folders holding the same subfolders only, whatever their names.
    (root / "valid").rename(root / "other")
    with pytest.raises(ValueError, match="dataset root"):
        _pipeline(root)
    # Saying that they are the classes is allowed.
    ds = _pipeline(root, class_names=["other", "train"], label_mode="int")
    assert ds.num_images == 4
    # A class folder that nests its images in subfolders is still a class folder.
    _png(root / "other" / "4.png", 4, 0)
    assert _pipeline(root, label_mode="int").class_names == ["other", "train"]


# ------------------------------------------------------------------ the disk cache


def _cached(source, cache, **kwargs):
    return _pipeline(source, cache=str(cache), shuffle=False, label_mode="int", **kwargs)


def test_a_changed_file_rebuilds_the_cache_saying_why(tmp_path):
    _tree(tmp_path / "d", [3, 3])
    cache = tmp_path / "c.cache"
    first = _ids_and_labels(_cached(tmp_path / "d", cache))
    changed = tmp_path / "d" / "class_1" / "0004.png"
    before = changed.stat()
    _png(changed, 44, 1)  # the same size, other pixels
    assert changed.stat().st_size == before.st_size
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    with pytest.warns(UserWarning, match=r"rebuilding.*1 of 6 file\(s\) changed.*0004\.png"):
        ids, _ = _ids_and_labels(_cached(tmp_path / "d", cache))
    assert ids == [44 if i == 4 else i for i in first[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unchanged now: loaded, no warning
        assert _ids_and_labels(_cached(tmp_path / "d", cache))[0] == ids


def test_the_content_check_catches_a_rewrite_that_keeps_size_and_time(tmp_path):
    _tree(tmp_path / "d", [3, 3])
    cache = tmp_path / "c.cache"
    _cached(tmp_path / "d", cache, cache_check="content")
    changed = tmp_path / "d" / "class_0" / "0001.png"
    before = changed.stat()
    _png(changed, 11, 0)
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))
    # Size and time alone cannot see this rewrite (the documented limit of "stat")...
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert 1 in _ids_and_labels(_cached(tmp_path / "d", cache))[0]
    # ...the content check does, and a mere `touch` does not rebuild.
    with pytest.warns(UserWarning, match=r"1 of 6 file\(s\) changed.*contents differ"):
        assert 11 in _ids_and_labels(_cached(tmp_path / "d", cache, cache_check="content"))[0]
    os.utime(changed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _cached(tmp_path / "d", cache, cache_check="content")
    with pytest.raises(ValueError, match="`cache_check` must be one of"):
        _cached(tmp_path / "d", cache, cache_check="mtime")


def _damage(path: pathlib.Path, offset: int, data: bytes):
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("pixels", "pixel data is damaged"),
        ("header size", "header size field is damaged"),
        ("header", "header is damaged"),
        ("truncated", "wrong size"),
        ("old version", "another version"),
    ],
)
def test_a_damaged_cache_file_is_rebuilt_saying_why(tmp_path, where, reason):
    _tree(tmp_path / "d", [20, 20])
    cache = tmp_path / "c.cache"
    big = {"image_size": 16, "cache_at": "target"}  # 30,720 bytes of pixels
    expected = _ids_and_labels(_cached(tmp_path / "d", cache, **big))
    size = cache.stat().st_size  # 40 x 16 x 16 x 3 pixel bytes, then 40 labels
    if where == "pixels":  # 3,000 flipped bytes inside the pixel data
        raw = bytearray(cache.read_bytes())
        for k in range(size - 40 * 4 - 3000, size - 40 * 4):  # 3,000 pixel bytes
            raw[k] ^= 0xFF
        cache.write_bytes(bytes(raw))
    elif where == "header size":  # the field that crashed with a TypeError
        _damage(cache, 8, b"\xff" * 8)
    elif where == "header":
        _damage(cache, 40, b"#")
    elif where == "truncated":
        cache.write_bytes(cache.read_bytes()[:-7])
    else:
        _damage(cache, 0, b"KBCACHE1")
    with pytest.warns(UserWarning, match=f"rebuilding the cache file.*{reason}"):
        again = _cached(tmp_path / "d", cache, **big)
    assert _ids_and_labels(again) == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rewritten whole
        assert _ids_and_labels(_cached(tmp_path / "d", cache, **big)) == expected


def test_an_existing_file_that_is_not_a_cache_is_not_overwritten(tmp_path):
    _tree(tmp_path / "d", [2, 2])
    precious = tmp_path / "notes.txt"
    precious.write_text("my thesis")
    with pytest.raises(ValueError, match=r"`cache`.*notes\.txt.*not a keras_blocks cache"):
        _cached(tmp_path / "d", precious)
    assert precious.read_text() == "my thesis"
    empty = tmp_path / "empty.cache"
    empty.touch()  # nothing to lose: rebuilt
    with pytest.warns(UserWarning, match="it is empty"):
        assert _cached(tmp_path / "d", empty).num_images == 4


def test_an_unwritable_cache_path_fails_before_decoding(tmp_path, monkeypatch):
    _tree(tmp_path / "d", [2, 2])
    (tmp_path / "a_file").write_text("")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before checking the cache path")

    monkeypatch.setattr(stages, "_decode_pass", no_decoding)
    for cache in (tmp_path / "a_file" / "c.cache", pathlib.Path("/proc/c.cache")):
        with pytest.raises(ValueError, match=r"`cache` file .*c\.cache.* cannot be written"):
            _cached(tmp_path / "d", cache)


# ------------------------------------------------------------------------ arrays


def _arrays(values, dtype):
    images = np.asarray(values, dtype).reshape(-1, 1, 1, 1) * np.ones((1, 2, 2, 3), dtype)
    return images, np.arange(len(images)) % 2


def test_array_dtypes_and_ranges_are_checked_not_clipped():
    sixteen = _arrays([0, 1000, 65535, 30000], np.uint16)
    with pytest.raises(ValueError, match=r"uint16 with values in \[0, 65535\].*source_range"):
        make_pipeline(sixteen, image_size=2)
    ds = make_pipeline(
        sixteen, image_size=2, source_range=(0, 65535), shuffle=False, value_range=(0, 255)
    )
    np.testing.assert_array_equal(_epoch(ds)[0][:, 0, 0, 0], [0, 4, 255, 117])
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match=r"12 NaN or infinite value"):
            make_pipeline(_arrays([0, 100, bad, 7], np.float32), image_size=2)
    with pytest.raises(ValueError, match=r"floats in \[0, 1\].*source_range"):
        make_pipeline(_arrays([0, 0.5, 1.5, 1], np.float32), image_size=2)
    with pytest.raises(ValueError, match=r"\[-3, 200\].*not \[0, 255\] pixels"):
        make_pipeline(_arrays([-3, 0, 200, 5], np.float64), image_size=2)
    with pytest.raises(ValueError, match=r"int16 with values in \[-1, 5\]"):
        make_pipeline(_arrays([-1, 0, 5, 5], np.int16), image_size=2)
    with pytest.raises(ValueError, match=r"values in \[0, 1.5\], outside `source_range`"):
        make_pipeline(_arrays([0, 0.5, 1.5, 1], np.float32), image_size=2, source_range=(0, 1))
    unit = make_pipeline(
        _arrays([0, 0.5, 1, 1], np.float32),
        image_size=2,
        source_range=(0, 1),
        shuffle=False,
        value_range=(0, 255),
    )
    np.testing.assert_array_equal(_epoch(unit)[0][:, 0, 0, 0], [0, 128, 255, 255])
    with pytest.raises(ValueError, match="unsupported dtype bool"):
        make_pipeline(_arrays([0, 1, 1, 0], bool), image_size=2)
    with pytest.raises(ValueError, match="`source_range` must be a"):
        make_pipeline(sixteen, image_size=2, source_range=(5, 5))


@pytest.mark.parametrize("cache", [True, False])
def test_dataset_sources_refuse_nan_and_out_of_range_pixels(cache):
    labels = np.arange(4) % 2

    def pipeline(images, **kwargs):
        source = tf.data.Dataset.from_tensor_slices((images, labels))
        return make_pipeline(
            source, image_size=2, cache=cache, class_names=["a", "b"], **kwargs
        )

    for values, dtype in (([0, 1000, 65535, 3], np.uint16), ([0, np.nan, 3, 4], np.float32),
                          ([0, -1, 3, 4], np.float32)):
        images = _arrays(values, dtype)[0]
        # With the cache the pass over the data fails at once; streamed, in the epoch.
        error = ValueError if cache else tf.errors.InvalidArgumentError
        with pytest.raises(error, match=r"finite and in \[0, 255\].*min and max"):
            _epoch(pipeline(images))
    fine = pipeline(
        _arrays([0, 100, 255, 3], np.float32)[0], shuffle=False, value_range=(0, 255)
    )
    np.testing.assert_array_equal(_epoch(fine)[0][:, 0, 0, 0], [0, 100, 255, 3])


def test_source_range_is_refused_for_other_sources(tmp_path):
    _tree(tmp_path / "d", [2, 2])
    with pytest.raises(ValueError, match=r"`source_range` is for an \(images, labels\)"):
        _pipeline(tmp_path / "d", source_range=(0, 1))


# ---------------------------------------------------- streaming, sizes, messages


def _with_a_bad_file(root):
    _tree(root, [3, 3])
    bad = root / "class_1" / "broken.png"
    bad.write_bytes(b"this is not an image")
    return bad


def test_streaming_without_validation_names_the_bad_file(tmp_path):
    bad = _with_a_bad_file(tmp_path / "d")
    with pytest.raises(ValueError, match=r"on_error='skip' with cache=False needs validate"):
        _pipeline(tmp_path / "d", cache=False, validate=False, on_error="skip")
    ds = _pipeline(tmp_path / "d", cache=False, validate=False, seed=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(str(bad))):
        _epoch(ds)
    bad.unlink()
    ds = _pipeline(tmp_path / "d", cache=False, validate=False, seed=0, label_mode="int")
    epochs = [_ids_and_labels(ds)[0] for _ in range(3)]
    assert all(sorted(ids) == list(range(6)) for ids in epochs)
    assert len({tuple(ids) for ids in epochs}) > 1  # still reshuffled every epoch


def test_an_absurd_image_size_is_refused_with_the_figure(tmp_path):
    _tree(tmp_path / "d", [2, 2])
    with pytest.raises(ValueError, match=r"`image_size`.*7\.7 TB"):
        _pipeline(tmp_path / "d", image_size=(100000, 100000), batch_size=64)
    images = np.zeros((1000, 2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match=r"uint8 cache of 1000 images.*1\.2 TB"):
        make_pipeline((images, np.arange(1000) % 2), image_size=20000, batch_size=1)


def test_decode_errors_have_a_clean_reason(tmp_path):
    bad = _with_a_bad_file(tmp_path / "d")
    with pytest.raises(ValueError, match=re.escape(str(bad))) as info:
        _pipeline(tmp_path / "d")
    assert "name:" not in str(info.value) and "[Op:" not in str(info.value)
    assert "Unknown image file format" in str(info.value)


# ------------------------------------------------------------- random hostile trees

ODD_NAMES = ["a b", "ünï", "#1", "100%", "[x]", "-dash", "it's", "日本", "x.y", "*", "UP"]
ENTRY = st.sampled_from(
    ["good", "good", "nested", "bad", "text", "hidden", "empty dir", "link into",
     "link out", "file link out", "file link dup", "loop"]
)


def _build(root: pathlib.Path, classes, names, outside: pathlib.Path):
    """Writes the drawn tree; returns what make_pipeline must do with it."""
    expected = {"truth": {}, "bad": set(), "links": set(), "loop": None, "empty": []}
    ids = iter(range(10_000))
    for label, entries in enumerate(classes):
        folder = root / f"c{label}-{names[label % len(names)]}"
        folder.mkdir(parents=True)
        images = 0
        for k, kind in enumerate(entries):
            name = f"{names[(label + k) % len(names)]}_{k}"
            if kind in ("good", "nested"):
                identity = next(ids)
                sub = folder / f"sub {name}" if kind == "nested" else folder
                ext = ".PNG" if k % 2 else ".png"
                _png(sub / f"{name}{ext}", identity, label)
                expected["truth"][identity] = label
                images += 1
            elif kind == "bad":
                (folder / f"{name}.jpg").write_bytes(b"\xff\xd8 truncated")
                expected["bad"].add(str(folder / f"{name}.jpg"))
                images += 1
            elif kind == "text":
                (folder / f"{name}.txt").write_text("notes")
            elif kind == "hidden":
                (folder / f".{name}.png").write_bytes(b"junk")
            elif kind == "empty dir":
                (folder / f"empty {name}").mkdir()
            elif kind == "link into":  # the next class's folder
                other = (label + 1) % len(classes)
                target = root / f"c{other}-{names[other % len(names)]}"
                (folder / f"into {name}").symlink_to(target, target_is_directory=True)
                expected["links"].add(str(folder / f"into {name}"))
            elif kind == "link out":
                target = outside / f"dir{label}_{k}"
                _png(target / "x.png", 9999, label)
                (folder / f"out {name}").symlink_to(target)
                expected["links"].add(str(folder / f"out {name}"))
            elif kind == "file link out":
                identity = next(ids)
                _png(outside / f"{identity}.png", identity, label)
                (folder / f"{name}.png").symlink_to(outside / f"{identity}.png")
                expected["truth"][identity] = label
                images += 1
            elif kind == "file link dup" and expected["truth"]:
                pngs = sorted(root.rglob("*.[pP][nN][gG]"))
                target = next(p for p in pngs if p.is_file() and not p.name.startswith("."))
                (folder / f"dup {name}.png").symlink_to(target)
                expected["links"].add(str(folder / f"dup {name}.png"))
            elif kind == "loop":
                (folder / f"loop {name}").symlink_to(".")
                expected["loop"] = expected["loop"] or str(folder / f"loop {name}")
        if images == 0:
            expected["empty"].append(str(folder))
    return expected


@given(
    classes=st.lists(st.lists(ENTRY, min_size=1, max_size=6), min_size=2, max_size=3),
    names=st.permutations(ODD_NAMES),
    cache=st.sampled_from(["memory", "file", False]),
    seed=st.integers(0, 2**16),
)
def test_random_hostile_trees_give_the_right_images_or_a_clear_error(
    classes, names, cache, seed
):
    with tempfile.TemporaryDirectory() as tmp:
        root, outside = pathlib.Path(tmp) / "data set", pathlib.Path(tmp) / "outside"
        outside.mkdir()
        expected = _build(root, classes, names, outside)
        cache_arg = str(pathlib.Path(tmp) / "c.cache") if cache == "file" else cache
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                ds = _pipeline(
                    root, cache=cache_arg, seed=seed, on_error="skip", label_mode="int"
                )
                error = None
            except ValueError as caught:
                error = str(caught)
        warned = " ".join(str(w.message) for w in record)
        truth = expected["truth"]
        good_per_class = np.bincount(list(truth.values()), minlength=len(classes))
        event("loop" if expected["loop"] else "empty" if expected["empty"] else
              "bad class" if (good_per_class == 0).any() else "images")
        if expected["loop"] is not None:
            # The walk meets the loops in its own order; it must name one of them.
            assert error is not None and "loop" in error, error
            return
        if expected["empty"]:
            assert error is not None and "no image files" in error, error
            assert expected["empty"][0] in error or "no image files (" in error
            return
        if (good_per_class == 0).any():  # a class of bad files only
            assert error is not None and "could not be decoded" in error, error
            assert all(path in warned for path in expected["bad"])
            return
        assert error is None, error
        assert sorted(p for p, _ in ds.skipped_files) == sorted(expected["bad"])
        assert all(path in warned for path in expected["bad"] | expected["links"])
        ids, labels = _ids_and_labels(ds)
        assert sorted(ids) == sorted(truth)  # each good image exactly once
        assert labels == [truth[i] for i in ids]  # with the right label
