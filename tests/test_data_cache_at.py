"""make_pipeline(cache_at=...): where the cache keeps the images, and that every choice
(and every fast path of the pass that builds the cache) gives the same pixels."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_blocks import make_pipeline
from keras_blocks.data import sources, stages
from tests.test_data_pipeline import _epoch, _write


def _tree(root, sizes, rng):
    """Random-pixel PNGs, one per entry of `sizes`, alternating between classes a and b.

    Files are listed class by class: a/000, a/002, ..., then b/001, b/003, ...
    """
    for k, (h, w) in enumerate(sizes):
        _write(root / "ab"[k % 2] / f"{k:03d}.png", rng.integers(0, 256, (h, w, 3), np.uint8))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("output_dtype", ["uint8", "float32"])
def test_every_cache_at_gives_the_same_pixels(tmp_path, interpolation, output_dtype):
    _tree(tmp_path / "d", [(5, 7)] * 6, np.random.default_rng(0))
    kwargs = {"image_size": (10, 14), "shuffle": False, "interpolation": interpolation,
              "output_dtype": output_dtype, "batch_size": 4}
    built = {
        cache_at: make_pipeline(str(tmp_path / "d"), cache_at=cache_at, **kwargs)
        for cache_at in ("auto", "target", "source")
    }
    streamed = _epoch(make_pipeline(str(tmp_path / "d"), cache=False, **kwargs))[0]
    # "auto": the cache at image_size fits this machine's memory budget.
    assert built["auto"].cache_bytes == built["target"].cache_bytes == 6 * 10 * 14 * 3
    assert built["source"].cache_bytes == 6 * 5 * 7 * 3
    np.testing.assert_array_equal(_epoch(built["auto"])[0], streamed)
    np.testing.assert_array_equal(_epoch(built["target"])[0], streamed)
    if output_dtype == "uint8" or interpolation == "nearest":
        np.testing.assert_array_equal(_epoch(built["source"])[0], streamed)
    else:  # float32 resized per batch from the small cache is not rounded to uint8
        np.testing.assert_allclose(_epoch(built["source"])[0], streamed, atol=0.5 / 255 + 1e-6)


def test_auto_keeps_the_target_size_while_it_fits_the_memory_budget(tmp_path, monkeypatch):
    _tree(tmp_path / "d", [(2, 3)] * 4, np.random.default_rng(0))
    need = 4 * 4 * 6 * 3  # four images at 4x6
    kwargs = {"image_size": (4, 6), "interpolation": "nearest"}
    monkeypatch.setattr(stages, "AUTO_TARGET_MEMORY_FRACTION", 0.25)
    monkeypatch.setattr(stages, "memory_bytes", lambda: 4 * need)  # budget == need
    assert make_pipeline(str(tmp_path / "d"), **kwargs).cache_bytes == need
    monkeypatch.setattr(stages, "memory_bytes", lambda: 4 * need - 4)  # 1 byte short
    assert make_pipeline(str(tmp_path / "d"), **kwargs).cache_bytes == 4 * 2 * 3 * 3


@pytest.mark.parametrize("cache_at", ["source", "target"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_an_image_of_another_size_than_the_probed_ones(
    tmp_path, monkeypatch, cache_at, interpolation
):
    # 20 files: the probe decodes 8 of them, spread out (indices 0, 2, 5, 8, 10, 13,
    # 16, 19); the second file listed (a/002) has another size and is found in the pass.
    sizes = [(4, 4)] * 20
    sizes[2] = (3, 5)
    _tree(tmp_path / "d", sizes, np.random.default_rng(1))
    taken = []
    take_odd = stages._CacheWriter.take_odd

    def spy(self):
        odd = take_odd(self)
        taken.append(odd.tolist())
        return odd

    monkeypatch.setattr(stages._CacheWriter, "take_odd", spy)
    kwargs = {"image_size": (8, 8), "shuffle": False, "interpolation": interpolation,
              "output_dtype": "uint8", "batch_size": 8}
    ds = make_pipeline(str(tmp_path / "d"), cache_at=cache_at, **kwargs)
    assert taken == [[1]]  # decoded again, at image_size
    assert ds.cache_bytes == 20 * 8 * 8 * 3  # no common size: the cache is at image_size
    streamed = make_pipeline(str(tmp_path / "d"), cache=False, **kwargs)
    np.testing.assert_array_equal(_epoch(ds)[0], _epoch(streamed)[0])


@pytest.mark.parametrize("cache_at", ["source", "target"])
def test_bad_files_among_same_size_images_leave_the_others_exact(
    tmp_path, monkeypatch, cache_at
):
    _tree(tmp_path / "d", [(3, 3)] * 14, np.random.default_rng(2))
    for name in ("a/001x.png", "b/004x.png"):  # between good files, in both classes
        (tmp_path / "d" / name).write_bytes(b"not an image")
    monkeypatch.setattr(stages, "_BUILD_BATCH", 4)  # rows not in one run: scattered
    kwargs = {"image_size": (6, 9), "shuffle": False, "interpolation": "nearest",
              "output_dtype": "uint8", "batch_size": 5, "on_error": "skip"}
    with pytest.warns(UserWarning, match="skipped 2 of 16"):
        ds = make_pipeline(str(tmp_path / "d"), cache_at=cache_at, **kwargs)
    with pytest.warns(UserWarning, match="skipped 2 of 16"):
        streamed = make_pipeline(str(tmp_path / "d"), cache=False, **kwargs)
    assert ds.file_paths == streamed.file_paths and len(ds.file_paths) == 14
    size = (3, 3) if cache_at == "source" else (6, 9)
    assert ds.cache_bytes == 14 * size[0] * size[1] * 3
    (x, y), (x_streamed, y_streamed) = _epoch(ds), _epoch(streamed)
    np.testing.assert_array_equal(x, x_streamed)
    np.testing.assert_array_equal(y, y_streamed)


def test_a_bad_cache_at_names_the_choices(tmp_path):
    _tree(tmp_path / "d", [(2, 2)] * 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="`cache_at` must be one of 'auto', 'target', 'source'"):
        make_pipeline(str(tmp_path / "d"), image_size=4, cache_at="disk")


@pytest.mark.parametrize("size", [(8, 10), (4, 15), (12, 5), (4, 5)])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_whole_number_upscales_equal_the_resize_kernel(size, dtype):
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 5, 3)).astype(dtype)
    expected = tf.image.resize(images, size, method="nearest").numpy()
    assert expected.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(sources.upscale_nearest(images, size), expected)
    out = np.zeros((3, *size, 3), dtype)
    assert sources.upscale_nearest(images, size, out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(sources.resize_batch(tf.constant(images), size, "nearest"),
                                  expected)


def test_as_tensor_shares_aligned_memory_and_copies_the_rest():
    aligned = sources.aligned_empty((4, 2, 2, 3))
    assert aligned.ctypes.data % 64 == 0 and aligned.flags.writeable
    aligned[...] = 5
    shared = sources.as_tensor(aligned)
    aligned[0, 0, 0, 0] = 9  # the tensor sees it: no copy was made
    assert int(shared[0, 0, 0, 0]) == 9
    assert int(tf.reduce_sum(tf.cast(shared, tf.int32))) == 47 * 5 + 9
    big = sources.aligned_empty((300, 128, 128, 3))  # mapped memory: aligned too
    assert big.ctypes.data % 64 == 0 and big.flags.writeable
    raw = np.zeros(4 * 12 + 1, np.uint8)
    start = 1 if raw.ctypes.data % 64 == 0 else 0
    unaligned = raw[start : start + 48].reshape(4, 2, 2, 3)
    read_only = np.frombuffer(bytes(48), np.uint8).reshape(4, 2, 2, 3)
    for array in (unaligned, read_only):
        copied = sources.as_tensor(array)
        np.testing.assert_array_equal(copied.numpy(), array)
        if array.flags.writeable:
            array[0, 0, 0, 0] = 7
            assert int(copied[0, 0, 0, 0]) == 0  # a copy


def test_build_pass_parallelism_follows_the_cpus_within_bounds(monkeypatch):
    """With AUTOTUNE the build pass keeps a fixed number of files in flight (tf.data's
    autotuner behind `ignore_errors` ramps up too late for a one-off pass); an explicit
    `num_parallel_calls` is used as given."""
    from keras_blocks.data import stages
    from keras_blocks.data.config import AUTOTUNE

    class Config:
        num_parallel_calls = AUTOTUNE

    for cpus, calls in ((1, 16), (2, 16), (8, 32), (64, 64), (None, 16)):
        monkeypatch.setattr(stages.os, "cpu_count", lambda cpus=cpus: cpus)
        assert stages._pass_parallelism(Config) == calls
    Config.num_parallel_calls = 3
    assert stages._pass_parallelism(Config) == 3


def test_build_pass_runs_with_that_parallelism(tmp_path, monkeypatch):
    from keras_blocks.data import stages

    root = tmp_path / "data"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            keras.utils.save_img(
                str(root / name / f"{i}.png"), np.full((4, 4, 3), 40 * i, "uint8")
            )
    seen = []
    original = stages._read_and_decode

    def spy(*args, parallel=None, **kwargs):
        seen.append(parallel)
        return original(*args, parallel=parallel, **kwargs)

    monkeypatch.setattr(stages, "_read_and_decode", spy)
    monkeypatch.setattr(stages, "_pass_parallelism", lambda config: 5)
    ds = make_pipeline(str(root), image_size=4, shuffle=False, verbose=0)
    assert ds.num_images == 6
    assert seen == [5]
