"""`make_pipeline`: a tf.data input pipeline that is fast, exact and hard to misuse.

The course's recipe (`image_dataset_from_directory`, `map(convert_to_float)`, `cache()`,
`prefetch`) caches float32 *batches*: four times the memory of uint8 pixels, and every
epoch after the first replays the first epoch's order. `make_pipeline` instead

1. decodes and resizes every image once, in parallel, into a `uint8` cache (in memory or
   in a file written atomically), checking every file and naming the bad ones;
2. every epoch, shuffles *indices* (a new order each epoch) and gathers whole batches
   from the cache, one tensor operation per batch instead of one per image;
3. then, per batch (vectorized): augmentation, conversion to float32, prefetch.

With `cache=False` it streams instead: shuffled file order, parallel (optionally
interleaved) reads and decodes, batch, the same per-batch transforms.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid

import keras
import numpy as np

from keras_blocks import _validation as check
from keras_blocks._warnings import warn_user
from keras_blocks.data import sources
from keras_blocks.data._lazy import tf

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow
OWNER = sources.OWNER
LABEL_MODES = ("binary", "int", "categorical")
SUBSETS = ("training", "validation", "both")
CACHE_AT = ("target", "source")
ON_ERROR = ("raise", "skip")
CACHE_VERSION = 2
CACHE_CHECKS = ("stat", "content")
_BUILD_BATCH = 256


def _plain(fn):
    """`fn` for a tf.data map, traced as written: no AutoGraph conversion.

    Our map functions have no data-dependent Python control flow, and AutoGraph's
    source-to-source conversion of them (and everything they call) used to cost about
    four seconds per `make_pipeline` call. A user's `augment` runs in its own map,
    which tf.data converts as usual.
    """
    return tf.autograph.experimental.do_not_convert(fn)


class _Hooks:
    """Test seams: after each decoded chunk, and while the cache file is written."""

    on_build_chunk = None
    on_cache_write = None


def make_pipeline(
    source,
    *,
    image_size,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int | None = None,
    cache=True,
    cache_at: str = "source",
    augment=None,
    label_mode: str = "binary",
    validation_split: float | None = None,
    subset: str | None = None,
    class_names=None,
    num_parallel_calls: int = AUTOTUNE,
    deterministic: bool | None = None,
    prefetch: int | None = AUTOTUNE,
    drop_remainder: bool = False,
    interpolation: str = "bilinear",
    crop_to_aspect_ratio: bool = False,
    on_error: str = "raise",
    value_range=(0.0, 1.0),
    interleave=None,
    validate: bool = True,
    input_context=None,
    cache_check: str = "stat",
    source_range=None,
):
    """Builds a `tf.data.Dataset` of `(images, labels)` batches ready for `model.fit`.

    Images come out as float32 `(batch, height, width, 3)` in `value_range` (default
    `[0, 1]`, like the course's `convert_to_float`). Every epoch yields every image
    exactly once with its label, in a new order when `shuffle=True`.

    What happens, in order: list the files (sorted class folders); decode and resize
    each image once, in parallel, to `uint8` (this is also where corrupt files are
    found, so a bad file costs nothing later); keep those pixels in the cache; then
    every epoch shuffle the image *indices*, batch them, gather each batch from the
    cache in one operation, apply `augment` to the batch, convert to float32, and
    prefetch. The cache holds `uint8` pixels at `image_size` (a quarter of the float32
    bytes) and sits *before* augmentation, so augmentation stays random every epoch.

    With `cache=False` nothing is kept: each epoch reads and decodes the files again
    (shuffled file order, parallel map, interleaved reads for remote storage), which
    suits data that does not fit in memory.

    Train and validation pipelines must agree on the classes. A validation pipeline
    reuses the training pipeline's names, and a mismatch raises:

    ```python
    train = make_pipeline("data/train", image_size=128)
    valid = make_pipeline("data/valid", image_size=128, shuffle=False,
                          class_names=train.class_names)
    ```

    Distribution: the dataset works with `tf.distribute` strategies. Given to
    `model.fit` (or `strategy.experimental_distribute_dataset`), `batch_size` is the
    *global* batch, split across replicas; the auto-shard policy is set to `DATA`
    (the cache or file list is in memory, so there are no files to shard). With
    `strategy.distribute_datasets_from_function`, pass its `input_context`: each input
    pipeline then reads its own shard of the files (file-level sharding) and
    `batch_size` is still the global batch (each pipeline batches
    `input_context.get_per_replica_batch_size(batch_size)`).

    Args:
        source: a directory with one subfolder per class (the course's layout, any
            file system `tf.io.gfile` supports); a list of `(path, label)` pairs with
            labels as class-name strings or integer indices; a tuple `(images, labels)`
            of NumPy arrays (see `source_range` for the accepted dtypes and values); or
            a `tf.data.Dataset` of unbatched `(image, label)` elements (non-`uint8`
            images must be finite and in `[0, 255]`, checked image by image). In a
            directory, an empty class folder raises (naming it), and so does a
            dataset root given for one split (class folders that hold only class
            folders, such as `data/` for `data/train`: pass `class_names` if those
            really are the classes). A class folder may be a link; inside one, links
            to folders are not followed and a link to a file listed elsewhere is left
            out (both with a warning naming them), so no image is listed twice or
            under another class; a symlink loop raises, naming the link.
        image_size: output `(height, width)`, or one int for square images.
        batch_size: images per batch (the global batch under a distribution strategy).
        shuffle: shuffle every epoch, with a new order each epoch.
        seed: seed of the shuffle (`None`: a different order every run). The
            `validation_split` split does not depend on it. Required for a shuffled
            pipeline when `TF_CONFIG` lists several workers (unless `input_context`
            is given), so that every worker draws the same order.
        cache: `True` or `"memory"` keeps the decoded `uint8` images in memory; a file
            path also writes them to that file (atomically, when the decode pass is
            complete, so an interrupted run never leaves a half-written cache) and later
            runs load it instead of decoding; `False` decodes the files every epoch.
            The file is rebuilt, with a warning saying why, when the files, settings
            or (see `cache_check`) any file's size, modification time or contents
            changed, or when its bytes are damaged (it stores checksums of its header
            and pixels). An existing file that is not a cache is never overwritten (a
            `ValueError`), and a path that cannot be written fails before decoding.
        cache_at: the size the cache keeps file images at. `"source"` (default):
            when every image has the same size and it is smaller than `image_size`
            (the course's 32x32 photos shown at 128x128), the images' own size, and
            each batch is resized after the gather every epoch: `(128 / 32)**2 = 16`
            times less memory and the fastest first epoch; otherwise `image_size`.
            `"target"`: always `image_size`, so later epochs only gather and convert,
            which pays off when TensorFlow's arena allocator is on
            (`TF_CPU_ALLOCATOR_USE_BFC=true`; see the input-pipelines guide). Arrays
            and datasets are always cached at `image_size`.
        augment: a Keras layer (any `keras_blocks.augment` or `keras.layers` random
            augmentation) or a callable, applied to each float32 batch with pixels in
            `[0, 255]`, after the cache, in training mode.
        label_mode: `"binary"` (float32 `(batch, 1)`), `"int"` (int32 `(batch,)`) or
            `"categorical"` (float32 one-hot `(batch, classes)`).
        validation_split: fraction of the images held out, in (0, 1). The split is
            stratified by class and depends only on the file names (not on `seed`), so
            the training and validation subsets never overlap.
        subset: `"training"`, `"validation"` or `"both"` (returns a `(train, valid)`
            tuple; the validation dataset is not shuffled and not augmented). Required
            with `validation_split`.
        class_names: the classes, in label order. For a directory they must match its
            subfolders (order gives the labels); inferred in sorted order when `None`.
        num_parallel_calls: parallelism of the decode and per-batch maps.
        deterministic: whether parallel maps keep their order (`None`: tf.data's
            default, deterministic). `False` can be faster on a busy machine.
        prefetch: batches to prefetch, `AUTOTUNE` (default), or `0`/`None` for none.
        drop_remainder: drop the last, smaller batch of each epoch.
        interpolation: resize method: `"bilinear"`, `"nearest"`, `"bicubic"`,
            `"area"`, `"lanczos3"`, `"lanczos5"`, `"gaussian"` or `"mitchellcubic"`.
        crop_to_aspect_ratio: center-crop each image to the target aspect ratio before
            resizing instead of distorting it.
        on_error: what a corrupt, truncated or non-image file does: `"raise"` (a
            `ValueError` naming the file) or `"skip"` (left out, with a warning that
            gives the count and names; also in `dataset.skipped_files`).
        value_range: `(low, high)` of the output pixels: `(0, 1)` (default) or
            `(0, 255)`, or any other range.
        interleave: interleaved (parallel, overlapping) file reads: `None` turns them
            on for remote paths (`gs://`, `s3://`, `hdfs://`...), `True`/`False` forces
            them, an int sets the number of files read at once.
        validate: with `cache=False`, decode every file once while building the
            pipeline to find bad files up front (as the cache does). Without it a bad
            file fails in the middle of an epoch (an error naming the file), so
            `validate=False` with `on_error="skip"` raises.
        input_context: a `tf.distribute.InputContext` from
            `distribute_datasets_from_function`, to shard the files per input pipeline.
        cache_check: how a cache file is checked against the image files: `"stat"`
            (default: each file's size and modification time, cheap) or `"content"`
            (a SHA-256 of each file's bytes, read again at every load: catches a file
            rewritten with the same size and time, and ignores a mere `touch`).
        source_range: `(low, high)` of the pixel values of an `(images, labels)`
            array `source`, scaled linearly to `[0, 255]` (such as `(0, 1)` for
            float images or `(0, 65535)` for 16-bit ones); every value must be finite
            and in the range. `None` (default) accepts `uint8`, other integer dtypes
            with values in `[0, 255]`, and finite floats in `[0, 255]` whose maximum is
            above 2 (a smaller maximum looks like `[0, 1]` floats); anything else
            raises, naming the values found. Nothing is clipped silently.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` (a `(train, valid)` pair for
        `subset="both"`), with attributes `class_names`, `file_paths` (the images it
        yields, for file sources), `skipped_files` (`(path, reason)` pairs),
        `num_images` and `cache_bytes` (bytes of the `uint8` cache; 0 without one).

    Raises:
        ValueError: a path that does not exist, an empty directory, fewer than two
            classes for `"binary"`/`"categorical"`, class names that differ from the
            directory's, a non-positive `image_size` or `batch_size`,
            `validation_split` without `subset`, `shuffle=True` with `seed=None` when
            `TF_CONFIG` lists several workers and no `input_context` is given (the
            workers would shuffle differently), (with `on_error="raise"`) a file
            that cannot be decoded, a class whose every file is bad, array pixels that
            are NaN, infinite or outside the accepted range, an `image_size` whose
            float32 batch would not fit in memory (the message gives the figure), or
            a `cache` path that is a directory, an existing non-cache file or not
            writable.

    Example:
        ```python
        import numpy as np
        from keras_blocks import make_pipeline

        images = np.random.randint(0, 256, (10, 8, 8, 3), dtype="uint8")
        labels = np.arange(10) % 2
        ds = make_pipeline((images, labels), image_size=16, batch_size=4, seed=0)
        x, y = next(iter(ds))
        x.shape, y.shape  # (4, 16, 16, 3), (4, 1)
        ds.class_names  # ['0', '1']
        ```
    """
    image_size = check.int_tuple(OWNER, "image_size", image_size, 2)
    batch_size = check.positive_int(OWNER, "batch_size", batch_size)
    check.one_of(OWNER, "label_mode", label_mode, LABEL_MODES)
    check.one_of(OWNER, "interpolation", interpolation, sources.INTERPOLATIONS)
    check.one_of(OWNER, "on_error", on_error, ON_ERROR)
    check.one_of(OWNER, "cache_at", cache_at, CACHE_AT)
    check.one_of(OWNER, "cache_check", cache_check, CACHE_CHECKS)
    if source_range is not None:
        source_range = check.value_range(OWNER, "source_range", source_range)
        if not all(np.isfinite(source_range)):
            raise ValueError(
                f"{OWNER}: `source_range` must be finite; got {source_range!r}."
            )
    _check_batch_bytes(image_size, batch_size)
    value_range = check.value_range(OWNER, "value_range", value_range)
    if num_parallel_calls != AUTOTUNE:
        num_parallel_calls = check.positive_int(
            OWNER, "num_parallel_calls", num_parallel_calls
        )
    if prefetch is None:
        prefetch = 0
    elif prefetch != AUTOTUNE:
        prefetch = check.positive_int(OWNER, "prefetch", prefetch, minimum=0)
    if seed is not None:
        seed = check.positive_int(OWNER, "seed", seed, minimum=0)
    if deterministic not in (None, True, False):
        raise ValueError(
            f"{OWNER}: `deterministic` must be None, True or False; got {deterministic!r}."
        )
    if isinstance(interleave, bool) or interleave is None:
        pass
    else:
        interleave = check.positive_int(OWNER, "interleave", interleave)
    cache_path = _check_cache(cache)
    if cache is False and not validate and on_error == "skip":
        raise ValueError(
            f"{OWNER}: on_error='skip' with cache=False needs validate=True: without the "
            "validation pass a bad file is only met in the middle of an epoch, where it "
            "can no longer be skipped. Pass validate=True (one decode pass while building "
            "the pipeline) or on_error='raise'."
        )
    _check_multi_worker_seed(shuffle, seed, input_context)
    if validation_split is not None:
        validation_split = check.fraction(OWNER, "validation_split", validation_split)
        if validation_split == 0.0:
            raise ValueError(f"{OWNER}: `validation_split` must be in (0, 1); got 0.")
        if subset is None:
            raise ValueError(
                f"{OWNER}: `validation_split={validation_split}` needs `subset` "
                f"(one of {', '.join(repr(s) for s in SUBSETS)})."
            )
    if subset is not None:
        check.one_of(OWNER, "subset", subset, SUBSETS)
        if validation_split is None:
            raise ValueError(f"{OWNER}: `subset={subset!r}` needs `validation_split`.")
    if augment is not None and not callable(augment):
        raise ValueError(
            f"{OWNER}: `augment` must be a Keras layer or a callable on image batches; "
            f"got {augment!r}."
        )

    settings = {
        "image_size": image_size,
        "batch_size": batch_size,
        "seed": seed,
        "label_mode": label_mode,
        "num_parallel_calls": num_parallel_calls,
        "deterministic": deterministic,
        "prefetch": prefetch,
        "drop_remainder": drop_remainder,
        "interpolation": interpolation,
        "crop_to_aspect_ratio": bool(crop_to_aspect_ratio),
        "cache_at": cache_at,
        "on_error": on_error,
        "value_range": value_range,
        "input_context": input_context,
        "cache_check": cache_check,
    }

    if isinstance(source, tf.data.Dataset):
        if validation_split is not None:
            raise ValueError(
                f"{OWNER}: `validation_split` is not supported for a tf.data.Dataset "
                "`source` (its size is unknown); split it first and call make_pipeline "
                "on each part."
            )
        return _from_dataset(
            source, class_names, cache, cache_path, shuffle, augment, settings
        )

    if source_range is not None and not _is_array_pair(source):
        raise ValueError(
            f"{OWNER}: `source_range` is for an (images, labels) tuple of NumPy arrays "
            f"`source`; got a {type(source).__name__} `source`."
        )
    if _is_array_pair(source):
        if cache_path is not None:
            raise ValueError(
                f"{OWNER}: `cache` as a file is for files; (images, labels) arrays are "
                "already in memory and are always kept there as uint8."
            )
        images, labels, names = sources.arrays_source(
            source[0], source[1], class_names, source_range
        )
        _check_classes(names, labels, label_mode)
        keys = [str(i) for i in range(len(labels))]

        height, width = image_size
        if len(images) * height * width * 3 > _memory_bytes() // 2:
            raise ValueError(
                f"{OWNER}: the uint8 cache of {len(images)} images at `image_size`="
                f"{image_size} needs {_human(len(images) * height * width * 3)}, more "
                f"than half of this machine's memory ({_human(_memory_bytes())}). Pass a "
                "smaller `image_size`."
            )

        def build(keep, subset_name, do_shuffle, do_augment):
            part = images if keep is None else images[keep]
            part_labels = labels if keep is None else labels[keep]
            pixels = _resize_arrays(part, settings)
            ds = _gather_pipeline(pixels, part_labels, names, do_shuffle, do_augment, settings)
            return _annotate(ds, names, None, [], pixels.nbytes, len(part_labels))

        return _split_and_build(
            keys, labels, validation_split, subset, shuffle, augment, build
        )

    if isinstance(source, (str, os.PathLike)):
        files = sources.list_image_directory(source, class_names)
    elif isinstance(source, (list, tuple)):
        files = sources.files_from_pairs(source, class_names)
    else:
        raise ValueError(
            f"{OWNER}: `source` must be a directory, a list of (path, label) pairs, an "
            f"(images, labels) tuple of NumPy arrays or a tf.data.Dataset; got "
            f"{type(source).__name__}."
        )
    _check_classes(files.class_names, files.labels, label_mode)
    if interleave is None:
        interleave = any(sources.is_remote(p) for p in files.paths[:1])
    settings["interleave"] = 4 if interleave is True else int(interleave or 0)

    def build(keep, subset_name, do_shuffle, do_augment):
        part = files if keep is None else files.subset(keep)
        path = cache_path
        if path is not None and subset_name is not None:
            path = f"{cache_path}.{subset_name}"
        return _files_pipeline(
            part, cache, path, validate, do_shuffle, do_augment, settings
        )

    return _split_and_build(
        files.paths, files.labels, validation_split, subset, shuffle, augment, build
    )


# --------------------------------------------------------------------------- checks


def _memory_bytes() -> int:
    """Physical memory of this machine (1 TiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**40


def _check_batch_bytes(image_size, batch_size):
    """Refuses a float32 batch that could not fit in this machine's memory."""
    height, width = image_size
    batch_bytes = batch_size * height * width * 3 * 4
    memory = _memory_bytes()
    if batch_bytes > memory // 2:
        raise ValueError(
            f"{OWNER}: `image_size`={image_size} with `batch_size`={batch_size} makes "
            f"each float32 batch {batch_size} x {height} x {width} x 3 x 4 bytes = "
            f"{_human(batch_bytes)}, more than half of this machine's memory "
            f"({_human(memory)}). Pass a smaller `image_size` or `batch_size`."
        )


def _human(n_bytes) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return ""


def _check_cache(cache):
    if cache is True or cache is False or cache == "memory":
        return None
    if isinstance(cache, (str, os.PathLike)) and os.fspath(cache):
        path = os.fspath(cache)
        if tf.io.gfile.isdir(path):
            raise ValueError(
                f"{OWNER}: `cache` {path!r} is a directory; pass a file path such as "
                f"{os.path.join(path, 'train.cache')!r}."
            )
        return path
    raise ValueError(
        f"{OWNER}: `cache` must be True, 'memory', a file path or False; got {cache!r}."
    )


def _cluster_workers() -> int:
    """Workers (chief included) that `TF_CONFIG` lists; 0 when it is unset or unreadable."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
        return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    except (ValueError, AttributeError, TypeError):
        return 0


def _check_multi_worker_seed(shuffle, seed, input_context):
    """Several workers sharding one shuffled order must all draw the same order."""
    if not shuffle or seed is not None or input_context is not None:
        return
    workers = _cluster_workers()
    if workers > 1:
        raise ValueError(
            f"{OWNER}: TF_CONFIG lists {workers} workers and `shuffle=True` with "
            "`seed=None`: each worker would shuffle differently and keep every "
            f"{workers}-th batch of its own order, so some images would be seen twice in "
            "an epoch and others never. Pass the same `seed` on every worker, or pass "
            "`input_context` from `strategy.distribute_datasets_from_function` (each "
            "worker then reads its own files)."
        )


def _check_classes(names, labels, label_mode):
    if label_mode in ("binary", "categorical") and len(names) < 2:
        raise ValueError(
            f"{OWNER}: label_mode={label_mode!r} needs at least two classes; found "
            f"{len(names)}: {names}."
        )
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(
            f"{OWNER}: label_mode='binary' needs exactly two classes; found {len(names)}: "
            f"{names}. Use label_mode='categorical' or 'int'."
        )
    if labels is not None and labels.size and labels.max() >= len(names):
        raise ValueError(
            f"{OWNER}: label {int(labels.max())} is out of range for {len(names)} "
            f"classes {names}."
        )


def _is_array_pair(source) -> bool:
    return (
        isinstance(source, tuple)
        and len(source) == 2
        and isinstance(source[0], np.ndarray)
    )


def _split_and_build(keys, labels, validation_split, subset, shuffle, augment, build):
    if validation_split is None:
        return build(None, None, shuffle, augment)
    if subset == "both":
        train_keep = sources.split_indices(keys, labels, validation_split, "training")
        valid_keep = sources.split_indices(keys, labels, validation_split, "validation")
        return (
            build(train_keep, "training", shuffle, augment),
            build(valid_keep, "validation", False, None),
        )
    keep = sources.split_indices(keys, labels, validation_split, subset)
    return build(keep, subset, shuffle, augment)


# ---------------------------------------------------------------- decoding the files


def _read_and_decode(paths_t, order, settings, interleave, deterministic, resize=True):
    """A dataset of `(index, uint8 image)` for the indices in `order`.

    With `resize=False` the images keep their own size (the cache-building pass groups
    them by size and resizes whole groups at once).
    """

    def decode(index, contents):
        if not resize:
            return index, sources.decode_source(contents)
        image = sources.decode_image(
            contents,
            settings["image_size"],
            settings["interpolation"],
            settings["crop_to_aspect_ratio"],
        )
        return index, image

    npc = settings["num_parallel_calls"]
    if interleave:
        # Overlap many slow reads (remote storage: high time to first byte) by reading
        # `interleave` blocks of files at once; decoding stays a parallel map.
        def read_block(indices):
            block = tf.data.Dataset.from_tensor_slices(indices)
            return block.map(_plain(lambda i: (i, sources.read_file(tf.gather(paths_t, i)))))

        reads = order.batch(16).interleave(
            _plain(read_block),
            cycle_length=interleave,
            block_length=1,
            num_parallel_calls=AUTOTUNE,
            deterministic=deterministic,
        )
        return reads.map(_plain(decode), num_parallel_calls=npc, deterministic=deterministic)
    return order.map(
        _plain(lambda i: decode(i, sources.read_file(tf.gather(paths_t, i)))),
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


def _decode_pass(files, settings, keep_pixels):
    """Decodes every file once: `(pixels or None, ok indices, [(path, reason)])`.

    Images are decoded at their own size in a parallel map and grouped by size; then
    `_assemble_cache` resizes each group in whole batches. `keep_pixels=False` only
    checks the files.
    """
    n = len(files.paths)
    paths_t = tf.constant(files.paths)
    pass_ds = _read_and_decode(
        paths_t, tf.data.Dataset.range(n), settings, settings["interleave"], False, False
    )
    if not keep_pixels:
        pass_ds = pass_ds.map(_plain(lambda i, image: (i, tf.zeros([1, 1, 3], tf.uint8))))
    # A file that fails to read or decode is dropped here and found below by its index.
    pass_ds = pass_ds.ignore_errors()
    pass_ds = pass_ds.group_by_window(
        key_func=_plain(
            lambda i, image: tf.cast(tf.shape(image)[0], tf.int64) * 2**31
            + tf.cast(tf.shape(image)[1], tf.int64)
        ),
        reduce_func=_plain(lambda key, group: group.batch(_BUILD_BATCH)),
        window_size=_BUILD_BATCH,
    ).prefetch(2)
    groups: dict[tuple[int, int], list] = {}
    ok = np.zeros(n, bool)
    for indices, images in pass_ds:
        indices = indices.numpy()
        if keep_pixels:
            groups.setdefault(tuple(images.shape[1:3]), []).append((indices, images.numpy()))
        ok[indices] = True
        if _Hooks.on_build_chunk is not None:
            _Hooks.on_build_chunk(int(ok.sum()))
    skipped = []
    for i in np.flatnonzero(~ok):
        # Decode the few failures again, one by one, to report why each failed.
        try:
            image = sources.decode_source(sources.read_file(files.paths[i])).numpy()
        except (tf.errors.OpError, ValueError) as error:
            skipped.append((files.paths[i], _error_reason(error)))
            continue
        if keep_pixels:  # a transient read error: the retry worked
            groups.setdefault(image.shape[:2], []).append((np.array([i]), image[None]))
        ok[i] = True
    keep = np.flatnonzero(ok)
    if not keep_pixels:
        return None, keep, skipped
    return _assemble_cache(groups, keep, n, settings), keep, skipped


def _assemble_cache(groups, keep, n, settings):
    """One uint8 array, in file order, at `image_size`.

    With `cache_at="source"`, when every image has the same size and it is smaller
    than `image_size` (upscaling, as with the course's 32x32 photos resized to
    128x128), the cache keeps them at that source size instead: it is smaller, and
    each batch is resized after the gather every epoch (for `"nearest"`, only
    whole-number factors, where that resize is a broadcast).
    """
    height, width = settings["image_size"]
    position = np.full(n, -1, np.int64)
    position[keep] = np.arange(keep.size)
    if len(groups) == 1 and settings["cache_at"] == "source":
        (h, w), = groups
        if settings["crop_to_aspect_ratio"]:
            _, _, h, w = sources.crop_box(h, w, (height, width))
        fast = settings["interpolation"] != "nearest" or sources.integer_upscale(
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
                settings["interpolation"],
                settings["crop_to_aspect_ratio"],
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


# ------------------------------------------------------------------- the disk cache


def _fingerprint(files, settings) -> str:
    """What the cached pixels depend on, besides the files' contents (see `_file_stamps`)."""
    payload = {
        "version": CACHE_VERSION,
        "paths": files.paths,
        "labels": files.labels.tolist(),
        "class_names": files.class_names,
        "image_size": list(settings["image_size"]),
        "interpolation": settings["interpolation"],
        "crop_to_aspect_ratio": settings["crop_to_aspect_ratio"],
        "cache_at": settings["cache_at"],
    }
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _file_stamps(paths) -> list:
    """`[size, mtime in ns]` of each file (`None` for a file that cannot be read)."""
    stamps = []
    for path in paths:
        try:
            if sources.is_remote(path):
                stat = tf.io.gfile.stat(path)
                stamps.append([int(stat.length), int(stat.mtime_nsec)])
            else:
                stat = os.stat(path)
                stamps.append([int(stat.st_size), int(stat.st_mtime_ns)])
        except (OSError, tf.errors.OpError):
            stamps.append(None)
    return stamps


def _file_hashes(paths) -> list:
    """SHA-256 of each file's bytes (`None` for a file that cannot be read)."""
    hashes = []
    for path in paths:
        try:
            with tf.io.gfile.GFile(path, "rb") as f:
                hashes.append(hashlib.sha256(f.read()).hexdigest())
        except (OSError, tf.errors.OpError):
            hashes.append(None)
    return hashes


def _changed(paths, old, new, how) -> str | None:
    """Why a cache no longer matches its files (`None`: it does)."""
    if len(old) != len(new):
        return "it lists another number of files"
    changed = [p for p, a, b in zip(paths, old, new, strict=True) if a != b]
    if not changed:
        return None
    return (
        f"{len(changed)} of {len(paths)} file(s) changed since it was built ({how}), "
        f"such as {changed[:3]}"
    )


_MAGIC_PREFIX = b"KBCACHE"
_MAGIC = _MAGIC_PREFIX + bytes([48 + CACHE_VERSION])
_DIGEST = 32  # bytes of a SHA-256


def _payload_digest(images, labels) -> str:
    digest = hashlib.sha256()
    for start in range(0, len(images), 1024):
        digest.update(np.ascontiguousarray(images[start : start + 1024]).data)
    digest.update(np.asarray(labels, "<i4").tobytes())
    return digest.hexdigest()


class _UnusableCacheError(Exception):
    """The cache file cannot be used; the message says why (and it is rebuilt)."""


def _read_cache(path):
    """The cache file's header and arrays; `_UnusableCacheError` for a damaged or old file."""
    size = tf.io.gfile.stat(path).length
    with tf.io.gfile.GFile(path, "rb") as f:
        magic = f.read(len(_MAGIC))
        if magic != _MAGIC:
            raise _UnusableCacheError(f"written by another version ({magic!r})")
        header_size = int.from_bytes(f.read(8), "little")
        if header_size > size - len(_MAGIC) - 8 - _DIGEST:
            raise _UnusableCacheError(f"its header size field is damaged ({header_size} bytes)")
        raw = f.read(header_size)
        if hashlib.sha256(raw).digest() != f.read(_DIGEST):
            raise _UnusableCacheError("its header is damaged (checksum mismatch)")
        header = json.loads(raw.decode())
        shape = tuple(int(d) for d in header["shape"])
        n_bytes = int(np.prod(shape))
        if size != len(_MAGIC) + 8 + header_size + _DIGEST + n_bytes + 4 * shape[0]:
            raise _UnusableCacheError("the file has the wrong size (truncated or appended to)")
        images = np.frombuffer(f.read(n_bytes), np.uint8)
        labels = np.frombuffer(f.read(4 * shape[0]), "<i4")
    if _payload_digest(images, labels) != header["payload_sha256"]:
        raise _UnusableCacheError("its pixel data is damaged (checksum mismatch)")
    header["images"] = images.reshape(shape)
    header["labels"] = labels.astype(np.int32)
    return header


def _check_cache_file(path):
    """Refuses to use (and later overwrite) an existing file that is not a cache."""
    if not tf.io.gfile.exists(path):
        return
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            start = f.read(len(_MAGIC_PREFIX))
    except (OSError, tf.errors.OpError) as error:
        raise ValueError(
            f"{OWNER}: `cache` file {path!r} exists but cannot be read ({error})."
        ) from None
    if start and not start.startswith(_MAGIC_PREFIX):
        raise ValueError(
            f"{OWNER}: `cache` {path!r} is an existing file that is not a keras_blocks "
            "cache; refusing to overwrite it. Pass a new file path (such as "
            f"{path + '.cache'!r}), or delete the file."
        )


def _check_writable(path):
    """Fails before the decode pass, not after it, when the cache cannot be written."""
    parent = os.path.dirname(path) or "."
    probe = f"{path}.partial-{uuid.uuid4().hex}"
    try:
        if not tf.io.gfile.exists(parent):
            tf.io.gfile.makedirs(parent)
        with tf.io.gfile.GFile(probe, "wb") as f:
            f.write(b"")
        tf.io.gfile.remove(probe)
    except (OSError, tf.errors.OpError) as error:
        reason = getattr(error, "message", None) or str(error)
        raise ValueError(
            f"{OWNER}: `cache` file {path!r} cannot be written ({reason.splitlines()[0]}). "
            "Pass a path in a writable folder, or cache=True to keep the cache in memory "
            "only."
        ) from None


def _load_cache(path, fingerprint, files, cache_check):
    """The cache file's arrays, or `None` (with a warning saying why) to rebuild it."""
    if not tf.io.gfile.exists(path):
        return None
    why = None
    try:
        if tf.io.gfile.stat(path).length == 0:
            raise _UnusableCacheError("it is empty")
        header = _read_cache(path)
        if header["fingerprint"] != fingerprint:
            why = "it was built from other files or settings"
        elif cache_check == "content":
            if header.get("hashes") is None:
                why = "it was built without content hashes (cache_check='stat')"
            else:
                hashes = _file_hashes(files.paths)
                why = _changed(files.paths, header["hashes"], hashes, "contents differ")
        else:
            stamps = _file_stamps(files.paths)
            why = _changed(files.paths, header["stamps"], stamps, "size or modification time")
    except _UnusableCacheError as error:
        why = f"it is unusable: {error}"
    except (OSError, ValueError, KeyError, TypeError, IndexError, tf.errors.OpError) as error:
        why = f"it is unreadable ({type(error).__name__}: {error})"
    if why is not None:
        warn_user(f"{OWNER}: rebuilding the cache file {path!r}: {why}.")
        return None
    return header


def _write_cache(path, images, labels, **header):
    """Writes to a temporary name, then renames: the cache is whole or absent.

    Format: magic, header length, JSON header, the header's SHA-256, raw uint8 pixels,
    raw int32 labels; the header holds the SHA-256 of the pixels and labels.
    """
    parent = os.path.dirname(path)
    if parent and not tf.io.gfile.exists(parent):
        tf.io.gfile.makedirs(parent)
    temporary = f"{path}.partial-{uuid.uuid4().hex}"
    header = json.dumps(
        {
            **header,
            "shape": list(images.shape),
            "payload_sha256": _payload_digest(images, labels),
        }
    ).encode()
    try:
        with tf.io.gfile.GFile(temporary, "wb") as f:
            f.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            f.write(hashlib.sha256(header).digest())
            if _Hooks.on_cache_write is not None:
                _Hooks.on_cache_write()
            for start in range(0, len(images), 1024):  # bounded extra memory
                f.write(np.ascontiguousarray(images[start : start + 1024]).tobytes())
            f.write(np.asarray(labels, "<i4").tobytes())
        tf.io.gfile.rename(temporary, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.remove(temporary)


# ------------------------------------------------------------------- the pipelines


def _files_pipeline(files, cache, cache_path, validate, do_shuffle, do_augment, settings):
    n_total = len(files.paths)
    if cache is False:
        skipped = []
        if validate:
            _, keep, skipped = _decode_pass(files, settings, keep_pixels=False)
            _report_skipped(skipped, settings["on_error"], n_total)
            _check_no_class_lost(files, files.labels[keep])
            files = files.subset(keep)
        ds = _stream_pipeline(
            files, do_shuffle, do_augment, settings, name_failures=not validate
        )
        return _annotate(ds, files.class_names, files.paths, skipped, 0, len(files.paths))

    loaded = None
    if cache_path is not None:
        _check_cache_file(cache_path)
        fingerprint = _fingerprint(files, settings)
        loaded = _load_cache(cache_path, fingerprint, files, settings["cache_check"])
    if loaded is not None:
        pixels = loaded["images"]
        kept_paths = loaded["paths"]
        skipped = [tuple(item) for item in loaded["skipped"]]
        labels = loaded["labels"]
    else:
        if cache_path is not None:
            _check_writable(cache_path)
            # Stamped before decoding: a file changed during the pass rebuilds next time.
            stamps = _file_stamps(files.paths)
            hashes = None
            if settings["cache_check"] == "content":
                hashes = _file_hashes(files.paths)
        pixels, keep, skipped = _decode_pass(files, settings, keep_pixels=True)
        kept_paths = [files.paths[i] for i in keep]
        labels = files.labels[keep]
    _report_skipped(skipped, settings["on_error"], n_total)
    _check_no_class_lost(files, labels)
    if cache_path is not None and loaded is None:
        _write_cache(
            cache_path,
            pixels,
            labels,
            fingerprint=fingerprint,
            stamps=stamps,
            hashes=hashes,
            paths=kept_paths,
            skipped=[list(item) for item in skipped],
        )
    ds = _gather_pipeline(pixels, labels, files.class_names, do_shuffle, do_augment, settings)
    return _annotate(
        ds, files.class_names, kept_paths, skipped, pixels.nbytes, len(kept_paths)
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


def _shard_and_batch(order, do_shuffle, settings, n):
    """Index stream for one epoch: shard (distribution), shuffle, batch."""
    context = settings["input_context"]
    batch_size = settings["batch_size"]
    if context is not None:
        order = order.shard(context.num_input_pipelines, context.input_pipeline_id)
        batch_size = context.get_per_replica_batch_size(batch_size)
    if do_shuffle:
        order = order.shuffle(n, seed=settings["seed"], reshuffle_each_iteration=True)
    return order, batch_size


def _gather_pipeline(pixels, labels, class_names, do_shuffle, do_augment, settings):
    n = len(labels)
    images_t = tf.convert_to_tensor(pixels)
    labels_t = tf.convert_to_tensor(labels, tf.int32)
    order, batch_size = _shard_and_batch(tf.data.Dataset.range(n), do_shuffle, settings, n)
    source_size = tuple(pixels.shape[1:3])
    source_size = None if source_size == tuple(settings["image_size"]) else source_size
    ds = order.batch(batch_size, drop_remainder=settings["drop_remainder"])
    ds = _map_batches(
        ds, class_names, do_augment, settings, source_size, gather=(images_t, labels_t)
    )
    return _finish(ds, settings)


def _stream_pipeline(files, do_shuffle, do_augment, settings, name_failures=False):
    n = len(files.paths)
    paths_t = tf.constant(files.paths)
    labels_t = tf.constant(files.labels, tf.int32)
    order, batch_size = _shard_and_batch(tf.data.Dataset.range(n), do_shuffle, settings, n)
    if name_failures:
        ds = _decode_naming_failures(paths_t, order, settings, n)
    else:
        ds = _read_and_decode(
            paths_t, order, settings, settings["interleave"], settings["deterministic"]
        )
    ds = ds.map(_plain(lambda i, image: (image, tf.gather(labels_t, i))))
    ds = ds.batch(batch_size, drop_remainder=settings["drop_remainder"])
    ds = _map_batches(ds, files.class_names, do_augment, settings)
    return _finish(ds, settings)


def _decode_naming_failures(paths_t, order, settings, n):
    """`_read_and_decode`, where a file that fails raises an error naming it.

    A TensorFlow decode error names no file. Each epoch's order is taken as one
    tensor; the decoded stream drops failures (`ignore_errors`) and is zipped with that
    order (plus an end marker): the first index that does not match is the bad file.
    """
    end = tf.constant(-1, tf.int64)
    blank = tf.zeros([*settings["image_size"], 3], tf.uint8)

    def epoch(indices):
        expected = tf.data.Dataset.from_tensor_slices(indices)
        decoded = _read_and_decode(paths_t, expected, settings, settings["interleave"], True)
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

        pairs = tf.data.Dataset.zip((expected, decoded)).map(_plain(check))
        return pairs.filter(_plain(lambda index, image: index >= 0))

    return order.batch(max(n, 1)).flat_map(_plain(epoch))


def _dequantize(images, value_range):
    """uint8 -> float32 in `value_range`, in one fused pass (`low + x * (high - low) / 255`)."""
    return tf.quantization.dequantize(
        tf.bitcast(images, tf.quint8), value_range[0], value_range[1], mode="MIN_COMBINED"
    )


def _map_batches(ds, class_names, augment, settings, source_size=None, gather=None):
    """Per batch: (gather from the cache), resize, float32, labels; then `augment`.

    `gather=(images, labels)` maps batches of indices into those tensors. The user's
    `augment` gets its own map, converted by AutoGraph as any `Dataset.map` function
    is; ours are traced plainly (`_plain`).
    """
    prepare = _batch_transform(class_names, augment is not None, settings, source_size)
    if gather is not None:
        images_t, labels_t = gather

        def fn(i):
            return prepare(tf.gather(images_t, i), tf.gather(labels_t, i))
    else:
        fn = prepare
    parallel = {
        "num_parallel_calls": settings["num_parallel_calls"],
        "deterministic": settings["deterministic"],
    }
    ds = ds.map(_plain(fn), **parallel)
    if augment is not None:
        ds = ds.map(_augment_step(augment, settings["value_range"]), **parallel)
    return ds


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


def _batch_transform(class_names, augmenting, settings, source_size=None):
    """Per batch: (resize from a source-size cache), float32, labels.

    The images come out in `value_range`, or in [0, 255] when `augmenting` (the
    augmentation step then maps them to `value_range`). Every resize method is linear,
    so the small source batch is scaled first and the (large) resized batch is the
    output directly.
    """
    low, high = (0.0, 255.0) if augmenting else settings["value_range"]
    label_mode = settings["label_mode"]
    num_classes = len(class_names)
    image_size = settings["image_size"]
    crop = None
    if source_size is not None and settings["crop_to_aspect_ratio"]:
        crop = sources.crop_box(source_size[0], source_size[1], image_size)

    nearest = settings["interpolation"] == "nearest"

    def transform(images, labels):
        if source_size is not None:
            if crop is not None:
                top, left, crop_h, crop_w = crop
                images = images[:, top : top + crop_h, left : left + crop_w]
            if nearest:  # repeat the uint8 pixels, then convert the big batch once
                images = sources.resize_batch(images, image_size, "nearest")
            else:  # convert the small batch, then the resize writes the float output
                images = _dequantize(images, (low, high))
                images = sources.resize_batch(images, image_size, settings["interpolation"])
                if settings["interpolation"] not in ("bilinear", "area"):
                    # Kernels with negative lobes overshoot; the uint8 path clips too.
                    images = tf.clip_by_value(images, low, high)
        if images.dtype == tf.uint8:
            images = _dequantize(images, (low, high))
        if label_mode == "binary":
            labels = tf.cast(labels, tf.float32)[:, None]
        elif label_mode == "categorical":
            labels = tf.one_hot(labels, num_classes, dtype=tf.float32)
        return images, labels

    return transform


def _finish(ds, settings):
    if settings["prefetch"]:
        ds = ds.prefetch(settings["prefetch"])
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    # Sources live in memory (a cache or a list of paths), so there are no reader
    # datasets for FILE sharding: DATA shards batches; with an input_context the files
    # are already sharded per input pipeline.
    options.experimental_distribute.auto_shard_policy = (
        policy.OFF if settings["input_context"] is not None else policy.DATA
    )
    return ds.with_options(options)


def _annotate(ds, class_names, file_paths, skipped, cache_bytes, num_images):
    """Attributes a user can read back (Keras sets `class_names` the same way)."""
    ds.class_names = list(class_names)
    ds.file_paths = None if file_paths is None else list(file_paths)
    ds.skipped_files = list(skipped)
    ds.num_images = None if num_images is None else int(num_images)
    ds.cache_bytes = int(cache_bytes)
    return ds


# ------------------------------------------------------- arrays and dataset sources


def _to_three_channels(images):
    channels = images.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(images)
    if channels == 4:
        return images[..., :3]
    return images


def _resize_arrays(images, settings):
    """Resizes an (N, H, W, C) array to the cache's (N, h, w, 3) uint8, in chunks."""
    height, width = settings["image_size"]
    out = np.empty((len(images), height, width, 3), np.uint8)
    for start in range(0, len(images), _BUILD_BATCH):
        chunk = images[start : start + _BUILD_BATCH]
        if chunk.shape[1:3] == (height, width) and chunk.shape[-1] == 3:
            out[start : start + len(chunk)] = np.clip(np.round(chunk), 0, 255)
            continue
        chunk = _to_three_channels(tf.convert_to_tensor(chunk))
        resized = sources.resize_uint8_batch(
            chunk, (height, width), settings["interpolation"], settings["crop_to_aspect_ratio"]
        )
        out[start : start + len(chunk)] = resized.numpy()
    return out


def _from_dataset(source, class_names, cache, cache_path, shuffle, augment, settings):
    spec = source.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(
            f"{OWNER}: a tf.data.Dataset `source` must yield (image, label) pairs of "
            f"unbatched elements; got element_spec {spec}."
        )
    if spec[0].shape.rank != 3:
        raise ValueError(
            f"{OWNER}: a tf.data.Dataset `source` must yield single images of rank 3 "
            f"(height, width, channels), not batches; got image spec {spec[0]}."
        )

    checked = spec[0].dtype != tf.uint8

    def to_uint8(image, label):
        if checked:  # saturate_cast would clip 16-bit pixels and turn NaN into 0
            values = tf.cast(image, tf.float32)
            finite = tf.reduce_all(tf.math.is_finite(values))
            in_range = tf.logical_and(
                tf.reduce_min(values) >= 0.0, tf.reduce_max(values) <= 255.0
            )
            assertion = tf.debugging.Assert(
                tf.logical_and(finite, in_range),
                [
                    f"{OWNER}: a tf.data.Dataset `source` image of dtype "
                    f"{spec[0].dtype.name} has NaN, infinite or out-of-range values; "
                    "pixels must be finite and in [0, 255] (scale 16-bit or [0, 1] "
                    "images to [0, 255] first). Its min and max:",
                    tf.reduce_min(values),
                    tf.reduce_max(values),
                ],
            )
            with tf.control_dependencies([assertion]):
                image = tf.identity(image)
        image = _to_three_channels(image)
        image = sources.resize_uint8(
            image,
            settings["image_size"],
            settings["interpolation"],
            settings["crop_to_aspect_ratio"],
        )
        return image, tf.cast(label, tf.int32)

    resized = source.map(_plain(to_uint8), num_parallel_calls=settings["num_parallel_calls"])
    if cache is False:
        if class_names is None:
            raise ValueError(
                f"{OWNER}: with cache=False and a tf.data.Dataset `source`, pass "
                "`class_names` (the labels cannot be scanned without a pass over the data)."
            )
        names = [str(c) for c in class_names]
        _check_classes(names, None, settings["label_mode"])
        ds = resized
        if shuffle:
            ds = ds.shuffle(10_000, seed=settings["seed"], reshuffle_each_iteration=True)
        ds = ds.batch(settings["batch_size"], drop_remainder=settings["drop_remainder"])
        ds = _map_batches(ds, names, augment, settings)
        return _annotate(_finish(ds, settings), names, None, [], 0, None)
    if cache_path is not None:
        raise ValueError(
            f"{OWNER}: `cache` as a file is for file and array sources; for a "
            "tf.data.Dataset `source` use cache=True (or the dataset's own .cache(path))."
        )
    pixels, labels = [], []
    try:
        for images, batch_labels in resized.batch(_BUILD_BATCH).prefetch(2):
            pixels.append(images.numpy())
            labels.append(batch_labels.numpy())
    except tf.errors.InvalidArgumentError as error:
        found = re.search(rf"{OWNER}: a tf\.data\.Dataset `source` image.*", error.message)
        if found is None:
            raise
        message = re.sub(r"\]\s*\[", " ", found.group(0).splitlines()[0]).rstrip("]")
        raise ValueError(message) from None
    if not pixels:
        raise ValueError(f"{OWNER}: the tf.data.Dataset `source` is empty.")
    pixels, labels = np.concatenate(pixels), np.concatenate(labels).astype(np.int32)
    names = sources._class_names_for(labels, class_names)
    _check_classes(names, labels, settings["label_mode"])
    ds = _gather_pipeline(pixels, labels, names, shuffle, augment, settings)
    return _annotate(ds, names, None, [], pixels.nbytes, len(labels))
