"""The stages every source goes through, in order.

1. `decode_and_cache`: the adapter's images become a `Store`: the `uint8` cache (files
   decoded once, in parallel, bad ones named; or a cache file loaded), or a stream
   that decodes every epoch (`cache=False`).
2. `epoch_order`: every epoch, the image indices, sharded (distribution) and
   shuffled anew.
3. `gather`: whole batches: one gather from the cache per batch, or the decoded
   stream batched.
4. `augment`: per batch, the resize from a source-size cache, the labels, the
   conversion to float32 (or the uint8 pixels as they are), and the user's `augment`.
5. `finish`: prefetch and the distribution options.

`batches` chains 2 to 5.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time

import keras
import numpy as np

from keras_blocks._warnings import warn_user
from keras_blocks.data import cache as cache_file
from keras_blocks.data import sources
from keras_blocks.data._lazy import tf
from keras_blocks.data.adapters import SourceImages, plain
from keras_blocks.data.config import AUTOTUNE, OWNER, PipelineConfig, memory_bytes

_BUILD_BATCH = 256  # images per batch the decode pass hands back to Python
_PROBES = 8  # files decoded first to guess the images' common size
# cache_at="auto" keeps images at image_size while that cache takes at most this share
# of the machine's memory.
AUTO_TARGET_MEMORY_FRACTION = 0.25
PROGRESS_AFTER_S = 2.0  # a decode pass that takes longer shows a progress bar
# Files in flight in the build pass when `num_parallel_calls` is AUTOTUNE: this many per
# CPU, within these bounds (see `_pass_parallelism`).
PASS_CALLS_PER_CPU = 4
PASS_CALLS_BOUNDS = (16, 64)


class Hooks:
    """Test seam: called after each decoded chunk of the cache-building pass."""

    on_build_chunk = None


@dataclasses.dataclass
class Store:
    """Where batches are drawn from: the uint8 cache, files to decode, or a stream."""

    class_names: list[str]
    labels: np.ndarray | None  # int32, one per image (None for `elements`)
    pixels: np.ndarray | None = None  # the uint8 cache
    paths: list[str] | None = None  # the files (cached or streamed)
    elements: object = None  # a dataset of (uint8 image, int32 label), streamed
    skipped: list = dataclasses.field(default_factory=list)
    name_failures: bool = False  # streamed files without a validation pass

    @property
    def num_images(self) -> int | None:
        return None if self.labels is None else len(self.labels)

    @property
    def cache_bytes(self) -> int:
        return 0 if self.pixels is None else int(self.pixels.nbytes)


# ------------------------------------------------------------ 1. decode and cache


def decode_and_cache(images: SourceImages, config: PipelineConfig, cache_path=None) -> Store:
    """The images as a `Store`: cached pixels, or what to read every epoch."""
    if images.elements is not None:
        return Store(images.class_names, None, elements=images.elements)
    if images.files is None:
        return Store(images.class_names, images.labels, pixels=np.asarray(images.pixels))
    files = images.files
    if config.cache is False:
        return _stream_files(files, config)
    config = config.replace(cache_at=resolve_cache_at(config, len(files.paths)))
    write = None
    if cache_path is None:
        store = _decode_files(files, config)
    else:
        store, write = _cached_files(files, config, cache_path)
    _report_skipped(store.skipped, config.on_error, len(files.paths))
    _check_no_class_lost(files, store.labels)
    if write is not None:  # only a cache worth keeping is written
        write()
    return store


def _stream_files(files, config):
    skipped = []
    if config.validate:
        _, keep, skipped = _decode_pass(files, config, keep_pixels=False)
        _report_skipped(skipped, config.on_error, len(files.paths))
        _check_no_class_lost(files, files.labels[keep])
        files = files.subset(keep)
    return Store(
        files.class_names,
        files.labels,
        paths=files.paths,
        skipped=skipped,
        name_failures=not config.validate,
    )


def _decode_files(files, config):
    pixels, keep, skipped = _decode_pass(files, config, keep_pixels=True)
    return Store(
        files.class_names,
        files.labels[keep],
        pixels=pixels,
        paths=[files.paths[i] for i in keep],
        skipped=skipped,
    )


def _cached_files(files, config, path):
    """`(store, write)`: the cache file at `path` loaded (`write` is `None`), or the files
    decoded, with `write()` to save them there."""
    cache_file.check_path(path)
    key = cache_file.fingerprint(files, config)
    loaded = cache_file.load(path, key, files, config.cache_check)
    if loaded is not None:
        store = Store(
            files.class_names,
            loaded.labels,
            pixels=loaded.pixels,
            paths=loaded.paths,
            skipped=loaded.skipped,
        )
        return store, None
    cache_file.check_writable(path)
    stamps = cache_file.Stamps(files.paths, config.cache_check)
    store = _decode_files(files, config)

    def write():
        cached = cache_file.CachedFiles(store.pixels, store.labels, store.paths, store.skipped)
        cache_file.save(path, cached, key=key, stamps=stamps)

    return store, write


def _pass_parallelism(config) -> int:
    """Parallel calls of the build pass: `num_parallel_calls`, or with AUTOTUNE
    `PASS_CALLS_PER_CPU` per CPU within `PASS_CALLS_BOUNDS`.

    The pass is one sweep of many small reads and decodes, over before tf.data's
    autotuner (behind `ignore_errors`) has raised its parallelism: on 8,000 32x32 JPEGs
    (2 cores, warm process, medians of 7) the pass and first epoch took 606 ms with
    AUTOTUNE and 482-485 ms with 8 or 16 calls (from the source-size cache; 855 and
    552-622 ms at image_size).
    """
    if config.num_parallel_calls != AUTOTUNE:
        return config.num_parallel_calls
    low, high = PASS_CALLS_BOUNDS
    return min(high, max(low, PASS_CALLS_PER_CPU * (os.cpu_count() or 1)))


def _read_and_decode(
    paths_t, order, config, interleave, deterministic, decode=None, parallel=None
):
    """A dataset of `decode(index, file bytes)` for the indices in `order`.

    The default `decode` gives `(index, uint8 image at image_size)`; `parallel` overrides
    `num_parallel_calls`.
    """
    if decode is None:

        def decode(index, contents):
            image = sources.decode_image(
                contents, config.image_size, config.interpolation, config.crop_to_aspect_ratio
            )
            return index, image

    npc = config.num_parallel_calls if parallel is None else parallel
    if interleave:
        # Overlap many slow reads (remote storage: high time to first byte) by reading
        # `interleave` blocks of files at once; decoding stays a parallel map.
        def read_block(indices):
            block = tf.data.Dataset.from_tensor_slices(indices)
            return block.map(plain(lambda i: (i, sources.read_file(tf.gather(paths_t, i)))))

        reads = order.batch(16).interleave(
            plain(read_block),
            cycle_length=interleave,
            block_length=1,
            num_parallel_calls=AUTOTUNE,
            deterministic=deterministic,
        )
        return reads.map(plain(decode), num_parallel_calls=npc, deterministic=deterministic)
    return order.map(
        plain(lambda i: decode(i, sources.read_file(tf.gather(paths_t, i)))),
        num_parallel_calls=npc,
        deterministic=deterministic,
    )


def _error_reason(error) -> str:
    """The first line of a TensorFlow error, without its op and node decorations."""
    message = getattr(error, "message", str(error))
    message = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", message)
    message = (message.strip().splitlines() or [""])[0]
    message = re.sub(r"\s*\bname:\s*\S*$", "", message)  # eager errors end in "name: "
    return re.sub(r"\s+", " ", message).strip() or "unknown error"


class _Progress:
    """A `keras.utils.Progbar` of the decode pass, shown once it takes `PROGRESS_AFTER_S`."""

    def __init__(self, total: int, verbose: int):
        self.total, self.verbose = total, verbose
        self.start = time.perf_counter()
        self.bar = None

    def update(self, done: int, skipped: int, final: bool = False):
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self.start
        if self.bar is None:
            if elapsed < PROGRESS_AFTER_S:
                return
            self.bar = keras.utils.Progbar(
                self.total,
                verbose=self.verbose,
                unit_name="image",
                stateful_metrics=["images/s", "skipped"],
            )
        values = [("images/s", round(done / elapsed) if elapsed > 0 else 0)]
        if skipped:  # bad files are found once the parallel pass is over
            values.append(("skipped", skipped))
        self.bar.update(done if not final else self.total, values=values, finalize=final)


def resolve_cache_at(config: PipelineConfig, n_images: int) -> str:
    """`"target"` or `"source"`: `"auto"` is `"target"` while the cache at `image_size`
    takes at most `AUTO_TARGET_MEMORY_FRACTION` of this machine's memory."""
    if config.cache_at != "auto":
        return config.cache_at
    height, width = config.image_size
    budget = memory_bytes() * AUTO_TARGET_MEMORY_FRACTION
    return "target" if n_images * height * width * 3 <= budget else "source"


def _decode_pass(files, config, keep_pixels):
    """Decodes every file once: `(pixels or None, ok indices, [(path, reason)])`.

    A parallel map reads and decodes the files; batches of `_BUILD_BATCH` come back to
    Python, which writes them into the preallocated cache (`_CacheWriter`) while the
    map decodes the next ones. `keep_pixels=False` only checks the files. A file that
    fails is dropped from the parallel pass and found at the end, where it is decoded
    again alone to say why.
    """
    n = len(files.paths)
    paths_t = tf.constant(files.paths)
    interleave = config.interleave_for(files.paths)
    writer = _CacheWriter(files.paths, config) if keep_pixels else None
    progress = _Progress(n, config.verbose)
    ok = np.zeros(n, bool)
    done = 0
    calls = _pass_parallelism(config)

    def run(order, decode):
        nonlocal done
        # In file order where reads are local: each batch is then (almost always) one
        # run of cache rows, written in place.
        pass_ds = _read_and_decode(
            paths_t, order, config, interleave, not interleave, decode, parallel=calls
        )
        # A file that fails to read or decode is dropped here and found below.
        pass_ds = pass_ds.ignore_errors().batch(_BUILD_BATCH).prefetch(2)
        pass_ds = _without_rewrites(pass_ds)
        for indices, *decoded in pass_ds:
            indices = np.asarray(indices)
            if writer is not None:
                indices = writer.write(indices, *decoded)
            ok[indices] = True
            done += len(indices)
            if Hooks.on_build_chunk is not None:
                Hooks.on_build_chunk(done)
            progress.update(done, 0)

    run(tf.data.Dataset.range(n), _check_only if writer is None else writer.decode)
    if writer is not None and writer.odd:
        # Images of another size than the one guessed: decoded again, at image_size.
        odd = np.asarray(writer.take_odd(), np.int64)
        run(tf.data.Dataset.from_tensor_slices(odd), writer.decode)
    skipped = []
    for i in np.flatnonzero(~ok):
        # Decode the few failures again, one by one, to report why each failed.
        try:
            image = sources.decode_source(sources.read_file(files.paths[i]))
        except (tf.errors.OpError, ValueError) as error:
            skipped.append((files.paths[i], _error_reason(error)))
            progress.update(done, len(skipped))
            continue
        if writer is not None:  # a transient read error: the retry worked
            writer.write_one(i, image)
        ok[i] = True
        done += 1
    keep = np.flatnonzero(ok)
    pixels = None if writer is None else writer.finish(keep)
    progress.update(done, len(skipped), final=progress.bar is not None)
    return pixels, keep, skipped


def _check_only(index, contents):
    # Fails for a bad file; only the size is kept (an unused result would be pruned).
    return index, tf.shape(sources.decode_source(contents))


def _probe_size(paths) -> tuple[int, int] | None:
    """The one size of up to `_PROBES` files spread over `paths`; `None` if they differ."""
    picks = np.unique(np.linspace(0, len(paths) - 1, min(len(paths), _PROBES)).astype(int))
    sizes = set()
    for i in picks:
        try:
            sizes.add(tuple(sources.decode_source(sources.read_file(paths[i])).shape[:2]))
        except (tf.errors.OpError, ValueError):
            continue  # a bad file: the pass names it
    return sizes.pop() if len(sizes) == 1 else None


class _Allocation:
    """`sources.aligned_empty(shape)`, made in a thread (`array`: one already made)."""

    def __init__(self, shape, array=None):
        self._array, self._error, self._thread = array, None, None
        if array is None:
            self._thread = threading.Thread(target=self._allocate, args=(shape,), daemon=True)
            self._thread.start()

    def _allocate(self, shape):
        try:
            self._array = sources.aligned_empty(shape)
        except BaseException as error:  # raised where the array is first needed
            self._error = error

    def result(self) -> np.ndarray:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if self._error is not None:
                raise self._error
        return self._array


class _CacheWriter:
    """Puts the decode pass's images into one preallocated, aligned `uint8` array.

    When the files seem to share one size smaller than `image_size` (the course's 32x32
    photos at 128x128; `_probe_size` decodes a few first), the parallel map only
    decodes them, and they are resized here a batch at a time (several times faster
    than one resize per image), or kept at their own size for a source-size cache (see
    `make_pipeline`'s `cache_at`). Otherwise the map resizes each image to `image_size`.
    An image of another size met in the first case (`odd`) is decoded again at
    `image_size` at the end, and the cache is then at `image_size`. Either way each
    image's pixels are exactly those of `sources.resize_uint8`.
    """

    def __init__(self, paths, config: PipelineConfig):
        self.config = config
        self.target = config.image_size
        height, width = self.target
        small = _probe_size(paths)
        if small is not None and small[0] * small[1] >= height * width:
            small = None  # as large as the output: resized image by image, in the map
        self.small = small
        self.keep_small = small is not None and self._source_size_cache(small)
        size = small if self.keep_small else self.target
        # The kernel populates a large array's pages (about 0.15 s for 400 MB) in a
        # thread, while the map decodes the first images.
        self._allocation = _Allocation((len(paths), *size, 3))
        self.odd: list[np.ndarray] = []

    @property
    def pixels(self) -> np.ndarray:
        return self._allocation.result()

    @pixels.setter
    def pixels(self, array: np.ndarray):
        self._allocation = _Allocation(None, array)

    def _source_size_cache(self, size) -> bool:
        """Whether the cache keeps images of one `size` at that size (`cache_at="source"`)."""
        config = self.config
        if config.cache_at != "source":
            return False
        height, width = self.target
        h, w = size
        if config.crop_to_aspect_ratio:
            _, _, h, w = sources.crop_box(h, w, self.target)
        # Nearest neighbour: only whole-number factors, where the per-batch resize is a
        # gather of whole pixels.
        fast = config.interpolation != "nearest" or sources.integer_upscale(
            (h, w), self.target
        )
        return h * w < height * width and fast

    def decode(self, index, contents):
        """The map function: `(index, whether it has the probed size, uint8 image)`."""
        config, small = self.config, self.small
        image = sources.decode_source(contents)
        if small is None:
            resized = sources.resize_uint8(
                image, self.target, config.interpolation, config.crop_to_aspect_ratio
            )
            return index, tf.constant(True), resized
        fits = tf.reduce_all(tf.equal(tf.shape(image)[:2], small))
        blank = tf.zeros([*small, 3], tf.uint8)
        image = tf.cond(fits, lambda: image, lambda: blank)
        image.set_shape([*small, 3])
        return index, fits, image

    def write(self, indices, fits, images) -> np.ndarray:
        """Stores a batch; returns the indices stored (the odd ones wait for `take_odd`)."""
        images, fits = np.asarray(images), np.asarray(fits)
        if not fits.all():
            self.odd.append(indices[~fits])
            indices, images = indices[fits], images[fits]
        if self.small is not None and not self.keep_small:
            self._place(indices, images, upscale=True)
        else:
            self._place(indices, images)
        return indices

    def write_one(self, index, image):
        """One image decoded alone (a retried file), at its own size."""
        if self.small is not None and tuple(image.shape[:2]) == self.small:
            self.write(np.array([index]), np.array([True]), np.asarray(image)[None])
            return
        self._at_target()
        config = self.config
        resized = sources.resize_uint8(
            image, self.target, config.interpolation, config.crop_to_aspect_ratio
        )
        self.pixels[index] = np.asarray(resized)

    def take_odd(self) -> np.ndarray:
        """The odd images' indices; from now on `decode` resizes to `image_size`."""
        odd = np.concatenate(self.odd)
        self.odd = []
        self._at_target()
        self.small = None
        return odd

    def _at_target(self):
        """A source-size cache becomes one at `image_size` (its images do not share a size)."""
        if not self.keep_small:
            return
        small = self.pixels
        self.pixels = sources.aligned_empty((len(small), *self.target, 3))
        self.keep_small = False
        for start in range(0, len(small), _BUILD_BATCH):
            stop = min(start + _BUILD_BATCH, len(small))
            self._upscale(small[start:stop], self.pixels[start:stop])

    def _place(self, indices, images, upscale=False):
        if not len(indices):
            return
        start, stop = int(indices[0]), int(indices[-1]) + 1
        if stop - start == len(indices) and (np.diff(indices) == 1).all():
            out = self.pixels[start:stop]  # one run of rows: written in place
            if upscale:
                self._upscale(images, out)
            else:
                out[...] = images
        else:
            self.pixels[indices] = self._upscale(images) if upscale else images

    def _upscale(self, images, out=None):
        """Same-size small images to `image_size`, as `sources.resize_uint8_batch` does."""
        config = self.config
        if config.crop_to_aspect_ratio:
            top, left, h, w = sources.crop_box(images.shape[1], images.shape[2], self.target)
            images = images[:, top : top + h, left : left + w]
        if config.interpolation == "nearest" and sources.integer_upscale(
            images.shape[1:3], self.target
        ):
            return sources.upscale_nearest(np.ascontiguousarray(images), self.target, out)
        resized = np.asarray(
            sources.resize_uint8_batch(
                tf.convert_to_tensor(images), self.target, config.interpolation
            )
        )
        if out is None:
            return resized
        out[...] = resized
        return out

    def finish(self, keep) -> np.ndarray:
        """The cache: the rows of the images kept, in file order."""
        if len(keep) == len(self.pixels):
            return self.pixels
        pixels = sources.aligned_empty((len(keep), *self.pixels.shape[1:]))
        np.take(self.pixels, keep, axis=0, out=pixels)
        return pixels


def _report_skipped(skipped, on_error, n_total):
    if not skipped:
        return
    listing = "; ".join(f"{path}: {reason}" for path, reason in skipped[:10])
    more = f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else ""
    if on_error == "raise":
        raise ValueError(
            f"{OWNER}: could not decode {len(skipped)} of {n_total} image file(s): "
            f"{listing}{more}. Fix or remove them, or pass on_error='skip' to leave them "
            "out (they are then listed in `dataset.skipped_files`)."
        )
    warn_user(
        f"{OWNER}: skipped {len(skipped)} of {n_total} image file(s) that could not be "
        f"decoded: {listing}{more}. The list is in `dataset.skipped_files`.",
    )


def _check_no_class_lost(files, kept_labels):
    """With on_error="skip": a class whose every file was bad would vanish silently."""
    had = np.bincount(files.labels, minlength=len(files.class_names))
    has = np.bincount(kept_labels, minlength=len(files.class_names))
    lost = [files.class_names[k] for k in np.flatnonzero((had > 0) & (has == 0))]
    if lost:
        raise ValueError(
            f"{OWNER}: every image file of class(es) {lost} could not be decoded (see "
            "the files listed above); a class without images cannot be learnt."
        )


# ------------------------------------------------------------------ 2 to 5, chained


def batches(store: Store, config: PipelineConfig):
    """The epochs of `store`: epoch order, gather, augment, finish."""
    order, batch_size = epoch_order(store, config)
    ds, take = gather(store, order, batch_size, config)
    return finish(augment(ds, take, store, config), config, cached=store.pixels is not None)


# ---------------------------------------------------------------- 2. epoch order


def epoch_order(store: Store, config: PipelineConfig):
    """`(what each epoch visits, batch size)`: indices sharded and shuffled anew each epoch.

    A streamed dataset (`elements`) has no indices: its elements are shuffled in a
    buffer of 10,000.
    """
    if store.elements is not None:
        order = store.elements
        if config.shuffle:
            order = order.shuffle(10_000, seed=config.seed, reshuffle_each_iteration=True)
        return order, config.batch_size
    n = store.num_images
    order = tf.data.Dataset.range(n)
    context = config.input_context
    batch_size = config.batch_size
    if context is not None:
        order = order.shard(context.num_input_pipelines, context.input_pipeline_id)
        batch_size = context.get_per_replica_batch_size(batch_size)
    if config.shuffle:
        order = order.shuffle(n, seed=config.seed, reshuffle_each_iteration=True)
    return order, batch_size


# --------------------------------------------------------------------- 3. gather


def gather(store: Store, order, batch_size, config: PipelineConfig):
    """`(dataset, take)`: `take` maps each of its elements to a batch `(uint8 images,
    int32 labels)`; it runs in the same map as the next stage's per-batch work."""
    drop = config.drop_remainder
    if store.pixels is not None:  # one gather from the cache per batch
        images_t = sources.as_tensor(store.pixels)  # no copy of a cache built here
        labels_t = tf.convert_to_tensor(store.labels, tf.int32)

        def take(i):
            return tf.gather(images_t, i), tf.gather(labels_t, i)

        return order.batch(batch_size, drop_remainder=drop), take
    if store.paths is not None:  # decode the epoch's files, then batch
        paths_t = tf.constant(store.paths)
        labels_t = tf.constant(store.labels, tf.int32)
        interleave = config.interleave_for(store.paths)
        if store.name_failures:
            decoded = _decode_naming_failures(paths_t, order, config, interleave)
        else:
            decoded = _read_and_decode(paths_t, order, config, interleave, config.deterministic)
        order = decoded.map(plain(lambda i, image: (image, tf.gather(labels_t, i))))
    return order.batch(batch_size, drop_remainder=drop), _as_batch


def _as_batch(images, labels):
    return images, labels


def _decode_naming_failures(paths_t, order, config, interleave):
    """`_read_and_decode`, where a file that fails raises an error naming it.

    A TensorFlow decode error names no file. Each epoch's order is taken as one
    tensor; the decoded stream drops failures (`ignore_errors`) and is zipped with that
    order (plus an end marker): the first index that does not match is the bad file.
    """
    end = tf.constant(-1, tf.int64)
    blank = tf.zeros([*config.image_size, 3], tf.uint8)
    n = int(paths_t.shape[0])

    def epoch(indices):
        expected = tf.data.Dataset.from_tensor_slices(indices)
        decoded = _read_and_decode(paths_t, expected, config, interleave, True)
        decoded = decoded.ignore_errors().concatenate(
            tf.data.Dataset.from_tensors((end, blank))
        )
        expected = expected.concatenate(tf.data.Dataset.from_tensors(end))

        def check(want, got):
            index, image = got
            assertion = tf.debugging.Assert(
                tf.equal(want, index),
                [
                    f"{OWNER}: could not read or decode the image file",
                    tf.gather(paths_t, tf.maximum(want, 0)),
                    "(cache=False, validate=False); pass validate=True to find every bad "
                    "file, with the reason, when the pipeline is built.",
                ],
            )
            with tf.control_dependencies([assertion]):
                return tf.identity(index), image

        pairs = tf.data.Dataset.zip((expected, decoded)).map(plain(check))
        return pairs.filter(plain(lambda index, image: index >= 0))

    return order.batch(max(n, 1)).flat_map(plain(epoch))


# -------------------------------------------------------------------- 4. augment


def augment(ds, take, store: Store, config: PipelineConfig):
    """Per batch: `take`, then `convert` (one map); then the user's `augment` (its own map,
    converted by AutoGraph as any `Dataset.map` function is; ours are traced plainly)."""
    source_size = None
    if store.pixels is not None and tuple(store.pixels.shape[1:3]) != config.image_size:
        source_size = tuple(store.pixels.shape[1:3])
    prepare = convert(store.class_names, config, source_size)
    ds = ds.map(plain(lambda *element: prepare(*take(*element))), **config.parallel)
    if config.augment is not None:
        if config.output_dtype == "uint8":
            ds = ds.map(_uint8_augment_step(config.augment), **config.parallel)
            ds = _check_uint8_output(ds, config.augment)
        else:
            ds = ds.map(_augment_step(config.augment, config.value_range), **config.parallel)
    return ds


def dequantize(images, value_range):
    """uint8 -> float32 in `value_range`, in one fused pass (`low + x * (high - low) / 255`)."""
    return tf.quantization.dequantize(
        tf.bitcast(images, tf.quint8), value_range[0], value_range[1], mode="MIN_COMBINED"
    )


def convert(class_names, config: PipelineConfig, source_size=None):
    """Per batch: (resize from a source-size cache), the output dtype, the labels.

    float32 images come out in `value_range`, or in [0, 255] when augmenting (the
    augmentation step then maps them to `value_range`). Every resize method is linear,
    so the small source batch is scaled first and the (large) resized batch is the
    output directly. uint8 images are resized and rounded as the cache at `image_size`
    would hold them.
    """
    label_mode, num_classes = config.label_mode, len(class_names)
    image_size, interpolation = config.image_size, config.interpolation
    to_uint8 = config.output_dtype == "uint8"
    low, high = (0.0, 255.0) if config.augment is not None else config.value_range
    crop = None
    if source_size is not None and config.crop_to_aspect_ratio:
        crop = sources.crop_box(source_size[0], source_size[1], image_size)

    def transform(images, labels):
        if source_size is not None:
            if crop is not None:
                top, left, crop_h, crop_w = crop
                images = images[:, top : top + crop_h, left : left + crop_w]
            if to_uint8:
                images = sources.resize_uint8_batch(images, image_size, interpolation)
            elif interpolation == "nearest":  # repeat the uint8 pixels, convert once
                images = sources.resize_batch(images, image_size, "nearest")
            else:  # convert the small batch, then the resize writes the float output
                images = dequantize(images, (low, high))
                images = sources.resize_batch(images, image_size, interpolation)
                if interpolation not in ("bilinear", "area"):
                    # Kernels with negative lobes overshoot; the uint8 path clips too.
                    images = tf.clip_by_value(images, low, high)
        if images.dtype == tf.uint8 and not to_uint8:
            images = dequantize(images, (low, high))
        if label_mode == "binary":
            labels = tf.cast(labels, tf.float32)[:, None]
        elif label_mode == "categorical":
            labels = tf.one_hot(labels, num_classes, dtype=tf.float32)
        return images, labels

    return transform


def _augment_step(augment, value_range):
    """`augment` on a float32 batch in [0, 255], then float32 in `value_range`."""
    low, high = value_range
    is_layer = isinstance(augment, keras.layers.Layer)

    def step(images, labels):
        images = augment(images, training=True) if is_layer else augment(images)
        images = tf.cast(images, tf.float32)
        if (low, high) != (0.0, 255.0):
            images = images * ((high - low) / 255.0) + low
        return images, labels

    return step


def _uint8_augment_step(augment):
    """`augment` on a uint8 batch; a pixel-moving layer's float32 output is cast back."""
    from keras_blocks.data.config import is_exact_on_uint8

    is_layer = isinstance(augment, keras.layers.Layer)
    exact = is_exact_on_uint8(augment)

    def step(images, labels):
        out = augment(images, training=True) if is_layer else augment(images)
        if exact and out.dtype != tf.uint8:
            out = tf.saturate_cast(tf.round(out), tf.uint8)  # whole pixels: exact
        return out, labels

    return step


def _check_uint8_output(ds, augment):
    """Refuses an `augment` callable that turned the uint8 batch into another dtype."""
    dtype = ds.element_spec[0].dtype
    if dtype != tf.uint8:
        raise ValueError(
            f"{OWNER}: output_dtype='uint8' needs an `augment` that returns uint8 batches "
            f"(or a layer that only moves whole pixels); {augment!r} returned {dtype.name}. "
            "Pass output_dtype='float32', or apply it inside the model."
        )
    return ds


# --------------------------------------------------------------------- 5. finish


def _without_rewrites(ds):
    """`ds` without tf.data's default graph rewrites. They have nothing to do in these
    pipelines (every map is already parallel, batching comes before the maps, there is a
    prefetch), yet the first iterator of a process paid for them in proportion to the
    tensors it captures: 0.2 s for a 400 MB cache, a sixth of the first epoch."""
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return ds.with_options(options)


def finish(ds, config: PipelineConfig, cached: bool = False):
    """Prefetch, and the auto-shard policy of a distribution strategy."""
    if config.prefetch:
        ds = ds.prefetch(config.prefetch)
    if cached:
        ds = _without_rewrites(ds)
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    # Sources live in memory (a cache or a list of paths), so there are no reader
    # datasets for FILE sharding: DATA shards batches; with an input_context the files
    # are already sharded per input pipeline.
    options.experimental_distribute.auto_shard_policy = (
        policy.OFF if config.input_context is not None else policy.DATA
    )
    return ds.with_options(options)
