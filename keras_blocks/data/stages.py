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
import re
import time

import keras
import numpy as np

from keras_blocks._warnings import warn_user
from keras_blocks.data import cache as cache_file
from keras_blocks.data import sources
from keras_blocks.data._lazy import tf
from keras_blocks.data.adapters import SourceImages, plain
from keras_blocks.data.config import AUTOTUNE, OWNER, PipelineConfig

_BUILD_BATCH = 256  # images resized at once while the cache is built
PROGRESS_AFTER_S = 2.0  # a decode pass that takes longer shows a progress bar


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


def _read_and_decode(paths_t, order, config, interleave, deterministic, resize=True):
    """A dataset of `(index, uint8 image)` for the indices in `order`.

    With `resize=False` the images keep their own size (the cache-building pass groups
    them by size and resizes whole groups at once).
    """

    def decode(index, contents):
        if not resize:
            return index, sources.decode_source(contents)
        image = sources.decode_image(
            contents, config.image_size, config.interpolation, config.crop_to_aspect_ratio
        )
        return index, image

    npc = config.num_parallel_calls
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


def _decode_pass(files, config, keep_pixels):
    """Decodes every file once: `(pixels or None, ok indices, [(path, reason)])`.

    Images are decoded at their own size in a parallel map and grouped by size; then
    `_assemble_cache` resizes each group in whole batches. `keep_pixels=False` only
    checks the files. A failure is found at the end (it is dropped from the parallel
    pass), where it is decoded again alone to say why.
    """
    n = len(files.paths)
    paths_t = tf.constant(files.paths)
    pass_ds = _read_and_decode(
        paths_t, tf.data.Dataset.range(n), config, config.interleave_for(files.paths),
        False, False,
    )
    if not keep_pixels:
        pass_ds = pass_ds.map(plain(lambda i, image: (i, tf.zeros([1, 1, 3], tf.uint8))))
    # A file that fails to read or decode is dropped here and found below by its index.
    pass_ds = pass_ds.ignore_errors()
    pass_ds = pass_ds.group_by_window(
        key_func=plain(
            lambda i, image: tf.cast(tf.shape(image)[0], tf.int64) * 2**31
            + tf.cast(tf.shape(image)[1], tf.int64)
        ),
        reduce_func=plain(lambda key, group: group.batch(_BUILD_BATCH)),
        window_size=_BUILD_BATCH,
    ).prefetch(2)
    progress = _Progress(n, config.verbose)
    groups: dict[tuple[int, int], list] = {}
    ok = np.zeros(n, bool)
    done = 0
    for indices, images in pass_ds:
        indices = indices.numpy()
        if keep_pixels:
            groups.setdefault(tuple(images.shape[1:3]), []).append((indices, images.numpy()))
        ok[indices] = True
        done += len(indices)
        if Hooks.on_build_chunk is not None:
            Hooks.on_build_chunk(done)
        progress.update(done, 0)
    skipped = []
    for i in np.flatnonzero(~ok):
        # Decode the few failures again, one by one, to report why each failed.
        try:
            image = sources.decode_source(sources.read_file(files.paths[i])).numpy()
        except (tf.errors.OpError, ValueError) as error:
            skipped.append((files.paths[i], _error_reason(error)))
            progress.update(done, len(skipped))
            continue
        if keep_pixels:  # a transient read error: the retry worked
            groups.setdefault(image.shape[:2], []).append((np.array([i]), image[None]))
        ok[i] = True
        done += 1
    keep = np.flatnonzero(ok)
    if not keep_pixels:
        progress.update(done, len(skipped), final=progress.bar is not None)
        return None, keep, skipped
    pixels = _assemble_cache(groups, keep, n, config)
    progress.update(done, len(skipped), final=progress.bar is not None)
    return pixels, keep, skipped


def _assemble_cache(groups, keep, n, config):
    """One uint8 array, in file order, at `image_size`.

    With `cache_at="source"`, when every image has the same size and it is smaller
    than `image_size` (upscaling, as with the course's 32x32 photos resized to
    128x128), the cache keeps them at that source size instead: it is smaller, and
    each batch is resized after the gather every epoch (for `"nearest"`, only
    whole-number factors, where that resize is a broadcast).
    """
    height, width = config.image_size
    position = np.full(n, -1, np.int64)
    position[keep] = np.arange(keep.size)
    if len(groups) == 1 and config.cache_at == "source":
        ((h, w),) = groups
        if config.crop_to_aspect_ratio:
            _, _, h, w = sources.crop_box(h, w, (height, width))
        fast = config.interpolation != "nearest" or sources.integer_upscale(
            (h, w), (height, width)
        )
        if h * w < height * width and fast:
            (h, w), chunks = next(iter(groups.items()))
            pixels = np.empty((keep.size, h, w, 3), np.uint8)
            for indices, images in chunks:
                pixels[position[indices]] = images
            return pixels
    pixels = np.empty((keep.size, height, width, 3), np.uint8)
    for chunks in groups.values():
        for indices, images in chunks:
            pixels[position[indices]] = sources.resize_uint8_batch(
                tf.convert_to_tensor(images),
                (height, width),
                config.interpolation,
                config.crop_to_aspect_ratio,
            ).numpy()
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
    return finish(augment(ds, take, store, config), config)


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
        images_t = tf.convert_to_tensor(store.pixels)
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


def finish(ds, config: PipelineConfig):
    """Prefetch, and the auto-shard policy of a distribution strategy."""
    if config.prefetch:
        ds = ds.prefetch(config.prefetch)
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    # Sources live in memory (a cache or a list of paths), so there are no reader
    # datasets for FILE sharding: DATA shards batches; with an input_context the files
    # are already sharded per input pipeline.
    options.experimental_distribute.auto_shard_policy = (
        policy.OFF if config.input_context is not None else policy.DATA
    )
    return ds.with_options(options)
