"""Source adapters: every kind of `source` becomes one `SourceImages`.

`make_pipeline` accepts a directory, `(path, label)` pairs, `(images, labels)` arrays
and a `tf.data.Dataset`. Each adapter here checks its kind of source and returns the
same thing: class names, int32 labels, and the images as one of

* `files`: paths still to decode (directories and pairs; the decode/cache stage reads
  them, once into the cache or every epoch),
* `pixels`: `uint8` pixels at `image_size` in memory (arrays, resized by
  `np.asarray(pixels)` once a split has chosen them; a dataset, read once),
* `elements`: a dataset of `(uint8 image at image_size, int32 label)` read every epoch
  (a dataset with `cache=False`).

From there on the stages (`stages.py`) do not know which kind of source it was.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np

from keras_blocks.data import sources
from keras_blocks.data._lazy import tf
from keras_blocks.data.config import OWNER, PipelineConfig, check_cache_bytes, check_classes

_READ_BATCH = 256  # images per chunk while arrays are resized or a dataset is read


def plain(fn):
    """`fn` for a tf.data map, traced as written: no AutoGraph conversion.

    Our map functions have no data-dependent Python control flow, and AutoGraph's
    source-to-source conversion of them (and everything they call) used to cost about
    four seconds per `make_pipeline` call. A user's `augment` runs in its own map,
    which tf.data converts as usual.
    """
    return tf.autograph.experimental.do_not_convert(fn)


@dataclasses.dataclass
class SourceImages:
    """A source, whatever its kind: class names, labels, and files, pixels or elements."""

    class_names: list[str]
    labels: np.ndarray | None  # int32, one per image (None for streamed elements)
    files: sources.ImageFiles | None = None
    # uint8 (N, height, width, 3) at image_size; `np.asarray` it (arrays resize then)
    pixels: object = None
    elements: object = None  # tf.data.Dataset of (uint8 image, int32 label)

    @property
    def split_keys(self) -> list[str]:
        """What the validation split hashes: the paths, or the array indices."""
        if self.files is not None:
            return self.files.paths
        return [str(i) for i in range(len(self.labels))]

    def subset(self, keep: np.ndarray) -> SourceImages:
        if self.files is not None:
            files = self.files.subset(keep)
            return dataclasses.replace(self, files=files, labels=files.labels)
        return dataclasses.replace(self, pixels=self.pixels[keep], labels=self.labels[keep])


def adapt(source, config: PipelineConfig) -> SourceImages:
    """The adapter for `source`'s kind; `ValueError` for a source of no known kind."""
    if isinstance(source, tf.data.Dataset):
        return from_dataset(source, config)
    if config.source_range is not None and not is_array_pair(source):
        raise ValueError(
            f"{OWNER}: `source_range` is for an (images, labels) tuple of NumPy arrays "
            f"`source`; got a {type(source).__name__} `source`."
        )
    if is_array_pair(source):
        return from_arrays(source, config)
    return from_files(source, config)


# ------------------------------------------------------------------------- files


def from_files(source, config: PipelineConfig) -> SourceImages:
    """A directory with one folder per class, or a list of `(path, label)` pairs."""
    if isinstance(source, (str, os.PathLike)):
        files = sources.list_image_directory(source, config.class_names)
    elif isinstance(source, (list, tuple)):
        files = sources.files_from_pairs(source, config.class_names)
    else:
        raise ValueError(
            f"{OWNER}: `source` must be a directory, a list of (path, label) pairs, an "
            f"(images, labels) tuple of NumPy arrays or a tf.data.Dataset; got "
            f"{type(source).__name__}."
        )
    check_classes(files.class_names, files.labels, config.label_mode)
    return SourceImages(files.class_names, files.labels, files=files)


# ------------------------------------------------------------------------ arrays


def is_array_pair(source) -> bool:
    return isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], np.ndarray)


def from_arrays(source, config: PipelineConfig) -> SourceImages:
    """`(images, labels)` NumPy arrays: checked, scaled to [0, 255], resized to uint8."""
    if config.cache_path is not None:
        raise ValueError(
            f"{OWNER}: `cache` as a file is for files; (images, labels) arrays are "
            "already in memory and are always kept there as uint8."
        )
    images, labels, names = sources.arrays_source(
        source[0], source[1], config.class_names, config.source_range
    )
    check_classes(names, labels, config.label_mode)
    check_cache_bytes(len(images), config.image_size)
    return SourceImages(names, labels, pixels=_ArrayPixels(images, config))


class _ArrayPixels:
    """Array images, resized to uint8 at `image_size` when first needed (after a split,
    so only the kept images are resized)."""

    def __init__(self, images, config, keep=None):
        self._images, self._config, self._keep = images, config, keep

    def __getitem__(self, keep):
        chosen = keep if self._keep is None else self._keep[keep]
        return _ArrayPixels(self._images, self._config, np.asarray(chosen))

    def __len__(self):
        return len(self._images) if self._keep is None else len(self._keep)

    def __array__(self, dtype=None, copy=None):
        images = self._images if self._keep is None else self._images[self._keep]
        return resize_arrays(images, self._config)


def to_three_channels(images):
    channels = images.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(images)
    if channels == 4:
        return images[..., :3]
    return images


def resize_arrays(images, config: PipelineConfig) -> np.ndarray:
    """Resizes an (N, H, W, C) array to (N, height, width, 3) uint8, in chunks."""
    height, width = config.image_size
    out = sources.aligned_empty((len(images), height, width, 3))  # shared with TensorFlow
    for start in range(0, len(images), _READ_BATCH):
        chunk = images[start : start + _READ_BATCH]
        if chunk.shape[1:3] == (height, width) and chunk.shape[-1] == 3:
            out[start : start + len(chunk)] = np.clip(np.round(chunk), 0, 255)
            continue
        chunk = to_three_channels(tf.convert_to_tensor(chunk))
        resized = sources.resize_uint8_batch(
            chunk, (height, width), config.interpolation, config.crop_to_aspect_ratio
        )
        out[start : start + len(chunk)] = resized.numpy()
    return out


# ----------------------------------------------------------------------- datasets


def from_dataset(source, config: PipelineConfig) -> SourceImages:
    """A `tf.data.Dataset` of unbatched `(image, label)`: read once (cache) or streamed."""
    if config.validation_split is not None:
        raise ValueError(
            f"{OWNER}: `validation_split` is not supported for a tf.data.Dataset "
            "`source` (its size is unknown); split it first and call make_pipeline "
            "on each part."
        )
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
    resized = source.map(
        plain(_dataset_to_uint8(spec[0].dtype, config)),
        num_parallel_calls=config.num_parallel_calls,
    )
    if config.cache is False:
        if config.class_names is None:
            raise ValueError(
                f"{OWNER}: with cache=False and a tf.data.Dataset `source`, pass "
                "`class_names` (the labels cannot be scanned without a pass over the data)."
            )
        names = [str(c) for c in config.class_names]
        check_classes(names, None, config.label_mode)
        return SourceImages(names, None, elements=resized)
    if config.cache_path is not None:
        raise ValueError(
            f"{OWNER}: `cache` as a file is for file and array sources; for a "
            "tf.data.Dataset `source` use cache=True (or the dataset's own .cache(path))."
        )
    pixels, labels = _read_all(resized)
    names = sources._class_names_for(labels, config.class_names)
    check_classes(names, labels, config.label_mode)
    return SourceImages(names, labels, pixels=pixels)


def _dataset_to_uint8(dtype, config: PipelineConfig):
    checked = dtype != tf.uint8

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
                    f"{dtype.name} has NaN, infinite or out-of-range values; "
                    "pixels must be finite and in [0, 255] (scale 16-bit or [0, 1] "
                    "images to [0, 255] first). Its min and max:",
                    tf.reduce_min(values),
                    tf.reduce_max(values),
                ],
            )
            with tf.control_dependencies([assertion]):
                image = tf.identity(image)
        image = sources.resize_uint8(
            to_three_channels(image),
            config.image_size,
            config.interpolation,
            config.crop_to_aspect_ratio,
        )
        return image, tf.cast(label, tf.int32)

    return to_uint8


def _read_all(resized):
    """Every `(uint8 image, label)` of a dataset, as two arrays."""
    pixels, labels = [], []
    try:
        for images, batch_labels in resized.batch(_READ_BATCH).prefetch(2):
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
    return np.concatenate(pixels), np.concatenate(labels).astype(np.int32)
