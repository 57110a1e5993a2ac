"""`make_pipeline`: a tf.data input pipeline that is fast, exact and hard to misuse.

The course's recipe (`image_dataset_from_directory`, `map(convert_to_float)`, `cache()`,
`prefetch`) caches float32 *batches*: four times the memory of uint8 pixels, and every
epoch after the first replays the first epoch's order. `make_pipeline` instead

1. decodes and resizes every image once, in parallel, into a `uint8` cache (in memory or
   in a file written atomically), checking every file and naming the bad ones;
2. every epoch, shuffles *indices* (a new order each epoch) and gathers whole batches
   from the cache, one tensor operation per batch instead of one per image;
3. then, per batch (vectorized): augmentation, conversion to float32 (or the uint8
   pixels as they are, for the model to scale), prefetch.

With `cache=False` it streams instead: shuffled file order, parallel (optionally
interleaved) reads and decodes, batch, the same per-batch transforms.

Where things live: `config.py` checks the arguments (one frozen `PipelineConfig`);
`adapters.py` turns each kind of source into the same `SourceImages`; `stages.py` holds
the stages every source shares (decode/cache, epoch order, gather, augment, finish);
`cache.py` the cache file format; `sources.py` the file listing and decoding.
"""

from __future__ import annotations

from keras_blocks.data import adapters, sources, stages
from keras_blocks.data.config import AUTOTUNE, PipelineConfig

__all__ = ["AUTOTUNE", "make_pipeline"]


def make_pipeline(
    source,
    *,
    image_size,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int | None = None,
    cache=True,
    cache_at: str = "auto",
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
    output_dtype: str = "float32",
    verbose: int = 1,
):
    """Builds a `tf.data.Dataset` of `(images, labels)` batches ready for `model.fit`.

    Images come out as float32 `(batch, height, width, 3)` in `value_range` (default
    `[0, 1]`, like the course's `convert_to_float`), or with `output_dtype="uint8"` as
    the cached `uint8` pixels in `[0, 255]`, for a model that casts and scales them
    itself (a quarter of the bytes per batch, and no conversion pass in the pipeline).
    Every epoch yields every image exactly once with its label, in a new order when
    `shuffle=True`.

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
        cache_at: the size the cache keeps file images at; it changes speed and
            memory, never the pixels. `"target"`: always `image_size`, so every later
            epoch only gathers each batch (and converts it to float32): the fastest
            later epochs, at the price of `N x height x width x 3` bytes and a slower
            build (writing those bytes). `"source"`: when every image has one size
            smaller than `image_size` (the course's 32x32 photos shown at 128x128), that
            size, `(128 / 32)**2 = 16` times less memory and the fastest first epoch,
            but every batch is then resized after the gather, every epoch (for
            `"nearest"`, only whole-number factors qualify); otherwise `image_size`.
            `"auto"` (default): `"target"` while that cache takes at most a quarter of
            this machine's memory, else `"source"`. Measured on 8,000 32x32 JPEGs at
            128x128 (2 cores): at `image_size`, later epochs ran about 2x (float32)
            and 2-5x (uint8) faster, the first epoch (build included) 5-10% slower.
            Arrays and datasets are always cached at `image_size`.
        augment: a Keras layer (any `keras_blocks.augment` or `keras.layers` random
            augmentation) or a callable, applied to each float32 batch with pixels in
            `[0, 255]`, after the cache, in training mode (to the `uint8` batch with
            `output_dtype="uint8"`, which accepts only exact augmentation).
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
        num_parallel_calls: parallelism of the decode and per-batch maps. With
            `AUTOTUNE` (default) the one-off decode pass that builds the cache keeps 4
            files per CPU in flight (16 to 64): tf.data's autotuner ramps up too late
            for a single sweep (the first epoch of 8,000 JPEGs took 1.25-1.5x longer).
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
        output_dtype: `"float32"` (default): each batch is converted to float32 in
            `value_range` in the pipeline (on the CPU), and `augment` gets float32
            pixels in `[0, 255]`. `"uint8"`: the batches are the cached `uint8`
            pixels, gathered (and, from a source-size cache, resized and rounded
            exactly as a cache at `image_size` would hold them; a cache at
            `image_size` leaves only the gather) with nothing else done:
            the model casts and scales them (on the accelerator, where it is nearly
            free), and each batch moves a quarter of the bytes. `value_range` must then
            stay at its default, and `augment` must be exact on `uint8`: a layer that
            only moves whole pixels (`keras.layers.RandomFlip`,
            `keras.layers.RandomCrop`, `keras_blocks.RandomFlip`, or a
            `keras_blocks.Pipeline` of those; their output is cast back to `uint8`),
            or a callable that returns `uint8`. Interpolating or colour augmentation
            raises (put it in the model instead). float32 stays the default because
            Keras models and layers expect it; `"uint8"` pays where the model scales
            its own input (`build_classifier` models do): measured as above, later
            epochs from a cache at `image_size` took about half the CPU time of
            float32 ones (the float32 batch is 4x the bytes to write).
        verbose: `1` (default) shows a progress bar (images, images/s, skipped files
            found) while the files are decoded into the cache, when that takes more than
            about two seconds; `2` prints one line at the end; `0` is silent.

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
            writable; an `output_dtype` other than `"float32"` or `"uint8"`, or (with
            `"uint8"`) a `value_range` other than the default or an `augment` layer
            that computes in float.

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
        raw = make_pipeline((images, labels), image_size=8, output_dtype="uint8")
        next(iter(raw))[0].dtype  # tf.uint8
        ```
    """
    config = PipelineConfig.validated(
        image_size=image_size,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        cache=cache,
        cache_path=None,
        cache_at=cache_at,
        augment=augment,
        label_mode=label_mode,
        validation_split=validation_split,
        subset=subset,
        class_names=class_names,
        num_parallel_calls=num_parallel_calls,
        deterministic=deterministic,
        prefetch=prefetch,
        drop_remainder=drop_remainder,
        interpolation=interpolation,
        crop_to_aspect_ratio=crop_to_aspect_ratio,
        on_error=on_error,
        value_range=value_range,
        interleave=interleave,
        validate=validate,
        input_context=input_context,
        cache_check=cache_check,
        source_range=source_range,
        output_dtype=output_dtype,
        verbose=verbose,
    )
    images = adapters.adapt(source, config)
    if config.validation_split is None:
        return _build(images, config, config.cache_path)
    if config.subset == "both":
        return (
            _build_subset(images, config, "training"),
            _build_subset(images, config.replace(shuffle=False, augment=None), "validation"),
        )
    return _build_subset(images, config, config.subset)


def _build_subset(images, config, subset):
    """One subset of a `validation_split` (with its own cache file, `<cache>.<subset>`)."""
    keep = sources.split_indices(
        images.split_keys, images.labels, config.validation_split, subset
    )
    cache_path = config.cache_path
    if cache_path is not None and images.files is not None:
        cache_path = f"{cache_path}.{subset}"
    return _build(images.subset(keep), config, cache_path)


def _build(images, config, cache_path):
    """The stages, from the adapter's images to the annotated dataset."""
    store = stages.decode_and_cache(images, config, cache_path)
    ds = stages.batches(store, config)
    # Attributes a user can read back (Keras sets `class_names` the same way).
    ds.class_names = list(store.class_names)
    ds.file_paths = None if store.paths is None else list(store.paths)
    ds.skipped_files = list(store.skipped)
    ds.num_images = store.num_images
    ds.cache_bytes = store.cache_bytes
    return ds
