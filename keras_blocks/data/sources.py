"""Where images come from: directories, (path, label) pairs, arrays, datasets.

Everything here turns a user's `source` into a list of files (or an array) with integer
labels and class names, and decodes one image file into a resized `uint8` tensor. File
access goes through `tf.io.gfile`, so any file system TensorFlow supports (local,
`gs://`, `s3://` with the right plugin, `hdfs://`) works the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import warnings
from collections.abc import Sequence

import numpy as np

from keras_blocks.data._lazy import tf

OWNER = "make_pipeline"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
INTERPOLATIONS = (
    "bilinear",
    "nearest",
    "bicubic",
    "area",
    "lanczos3",
    "lanczos5",
    "gaussian",
    "mitchellcubic",
)
REMOTE_SCHEMES = ("gs://", "s3://", "hdfs://", "http://", "https://", "az://")


@dataclasses.dataclass
class ImageFiles:
    """A list of image files with integer labels and the class names they index."""

    paths: list[str]
    labels: np.ndarray  # int32, one per path
    class_names: list[str]
    ignored: list[str] = dataclasses.field(default_factory=list)  # not image files

    def subset(self, keep: np.ndarray) -> ImageFiles:
        keep = np.asarray(keep, dtype=np.int64)
        return ImageFiles(
            [self.paths[i] for i in keep], self.labels[keep], self.class_names, self.ignored
        )


def is_remote(path: str) -> bool:
    """True for paths on a remote file system (where interleaved reads pay off)."""
    return str(path).startswith(REMOTE_SCHEMES)


def _join(*parts: str) -> str:
    # tf.io.gfile paths use "/" on every file system, including remote ones.
    return posixpath.join(*parts) if is_remote(parts[0]) else os.path.join(*parts)


def list_image_directory(directory, class_names: Sequence[str] | None = None) -> ImageFiles:
    """Lists a directory with one subfolder per class (the course's layout).

    Files are found recursively inside each class folder and sorted, so the order (and
    thus a seeded shuffle) is the same on every machine. Files without an image
    extension are left out and reported with a warning; hidden files (starting with a
    dot, such as `.DS_Store`) are ignored.

    Raises:
        ValueError: the path does not exist, is not a directory, has no class folders,
            holds no images, or `class_names` does not match its subfolders.
    """
    directory = os.fspath(directory)
    if not tf.io.gfile.exists(directory):
        raise ValueError(f"{OWNER}: `source` directory {directory!r} does not exist.")
    if not tf.io.gfile.isdir(directory):
        raise ValueError(
            f"{OWNER}: `source` {directory!r} is a file, not a directory with one "
            "subfolder per class."
        )
    found = sorted(
        name.rstrip("/")
        for name in tf.io.gfile.listdir(directory)
        if not name.startswith(".") and tf.io.gfile.isdir(_join(directory, name.rstrip("/")))
    )
    if not found:
        raise ValueError(
            f"{OWNER}: `source` directory {directory!r} is empty: it needs one subfolder "
            "per class (for example train/Car/*.jpg and train/Truck/*.jpg)."
        )
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if sorted(class_names) != found:
            raise ValueError(
                f"{OWNER}: `class_names` {class_names} do not match the class folders of "
                f"{directory!r}: {found}. Train and validation splits must have the same "
                "classes (pass the training pipeline's `class_names`)."
            )
    else:
        class_names = found
    paths: list[str] = []
    labels: list[int] = []
    ignored: list[str] = []
    for label, name in enumerate(class_names):
        class_dir = _join(directory, name)
        for root, _, files in sorted(tf.io.gfile.walk(class_dir)):
            for file in sorted(files):
                if file.startswith("."):
                    continue
                path = _join(root, file)
                if file.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(path)
                    labels.append(label)
                else:
                    ignored.append(path)
    if ignored:
        warnings.warn(
            f"{OWNER}: ignored {len(ignored)} file(s) without an image extension "
            f"{IMAGE_EXTENSIONS} in {directory!r}, such as {ignored[:3]}.",
            stacklevel=3,
        )
    if not paths:
        raise ValueError(
            f"{OWNER}: `source` directory {directory!r} has class folders {class_names} "
            f"but no image files ({', '.join(IMAGE_EXTENSIONS)})."
        )
    return ImageFiles(paths, np.asarray(labels, np.int32), list(class_names), ignored)


def files_from_pairs(pairs, class_names: Sequence[str] | None = None) -> ImageFiles:
    """(path, label) pairs, labels being class names (strings) or integer indices."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError(f"{OWNER}: `source` is an empty list of (path, label) pairs.")
    for item in pairs[:1] + pairs[-1:]:
        if not (isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2):
            raise ValueError(
                f"{OWNER}: `source` as a list must hold (path, label) pairs; got "
                f"{repr(item)[:200]}."
            )
    paths = [os.fspath(p) for p, _ in pairs]
    raw = [label for _, label in pairs]
    if all(isinstance(label, str) for label in raw):
        names = sorted(set(raw)) if class_names is None else [str(c) for c in class_names]
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise ValueError(
                f"{OWNER}: labels {unknown} are not in `class_names` {names}."
            )
        index = {name: i for i, name in enumerate(names)}
        labels = np.asarray([index[label] for label in raw], np.int32)
    else:
        labels = int_labels(raw, "source labels")
        names = _class_names_for(labels, class_names)
    return ImageFiles(paths, labels, names)


def int_labels(values, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not (
        np.issubdtype(array.dtype, np.integer)
        or (np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array)))
    ):
        raise ValueError(
            f"{OWNER}: {what} must be a 1-D sequence of integer class indices (or class "
            f"name strings); got dtype {array.dtype} and shape {array.shape}."
        )
    if array.size and array.min() < 0:
        raise ValueError(f"{OWNER}: {what} must be >= 0; got {int(array.min())}.")
    return array.astype(np.int32)


def _class_names_for(labels: np.ndarray, class_names) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(int(labels.max()) + 1 if labels.size else 0)]
    names = [str(c) for c in class_names]
    if labels.size and labels.max() >= len(names):
        raise ValueError(
            f"{OWNER}: label {int(labels.max())} is out of range for `class_names` "
            f"{names} ({len(names)} classes)."
        )
    return names


def arrays_source(images, labels, class_names) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validates `(images, labels)` NumPy arrays: NHWC or NHW pixels in [0, 255]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or images.shape[0] == 0:
        raise ValueError(
            f"{OWNER}: `source` images must be a non-empty (N, height, width, channels) "
            f"array with 1, 3 or 4 channels; got shape {images.shape}."
        )
    if np.issubdtype(images.dtype, np.floating):
        if images.max() <= 1.0:
            raise ValueError(
                f"{OWNER}: `source` images are floats in [0, 1]; pass pixels in [0, 255] "
                "(multiply by 255) so that they are cached as uint8 without loss."
            )
    elif images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.integer):
        raise ValueError(f"{OWNER}: `source` images have unsupported dtype {images.dtype}.")
    labels = int_labels(labels, "`source` labels")
    if len(labels) != len(images):
        raise ValueError(
            f"{OWNER}: `source` has {len(images)} images but {len(labels)} labels."
        )
    return images, labels, _class_names_for(labels, class_names)


def split_indices(
    keys: Sequence[str], labels: np.ndarray, validation_split: float, subset: str
) -> np.ndarray:
    """Stratified, seed-independent split: the same file always lands in the same subset.

    Each class's items are ordered by a hash of their key (a path or an index), and the
    last `validation_split` fraction of each class becomes the validation subset. The
    split therefore never depends on `seed` or `shuffle`, so a training and a validation
    pipeline built with the same `validation_split` can never overlap.
    """
    digest = np.asarray(
        [int(hashlib.sha1(k.encode()).hexdigest()[:12], 16) for k in keys], np.int64
    )
    validation = np.zeros(len(keys), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[np.argsort(digest[members], kind="stable")]
        n_val = round(len(members) * validation_split)
        validation[members[len(members) - n_val :]] = True
    chosen = validation if subset == "validation" else ~validation
    keep = np.flatnonzero(chosen)
    if keep.size == 0:
        raise ValueError(
            f"{OWNER}: `validation_split={validation_split}` leaves the {subset!r} subset "
            f"empty ({len(keys)} items in all)."
        )
    return keep


def crop_box(height, width, image_size):
    """`(top, left, crop_height, crop_width)`: the centered crop with the target's aspect."""
    target = image_size[1] / image_size[0]
    if isinstance(height, int) and isinstance(width, int):
        crop_h = max(1, min(height, round(width / target)))
        crop_w = max(1, min(width, round(height * target)))
        return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w
    h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    crop_h = tf.maximum(tf.cast(tf.minimum(h, tf.round(w / target)), tf.int32), 1)
    crop_w = tf.maximum(tf.cast(tf.minimum(w, tf.round(h * target)), tf.int32), 1)
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def integer_upscale(source_size, image_size) -> bool:
    """True when `image_size` is a whole multiple of `source_size` on both axes."""
    return all(t % s == 0 and t >= s for s, t in zip(source_size, image_size, strict=True))


def _nearest(images, image_size):
    static = images.shape[1:3]
    if None not in static and integer_upscale(tuple(static), image_size):
        # Whole-number factors: nearest neighbour is each pixel repeated, one broadcast
        # (several times cheaper than the resize kernel), identical to tf.image.resize.
        h, w = static
        fy, fx = image_size[0] // h, image_size[1] // w
        n, c = tf.shape(images)[0], images.shape[-1] or tf.shape(images)[-1]
        tiled = tf.broadcast_to(images[:, :, None, :, None, :], [n, h, fy, w, fx, c])
        return tf.reshape(tiled, [n, image_size[0], image_size[1], c])
    return tf.image.resize(images, image_size, method="nearest")


def resize_batch(images, image_size, interpolation: str):
    """Resizes an (N, H, W, C) batch in one operation.

    `"nearest"` keeps the dtype; every other method returns float32 (not rounded).
    Every method is linear in the pixel values, so scaling before or after resizing
    gives the same result.
    """
    if interpolation == "nearest":
        return _nearest(images, image_size)
    return tf.image.resize(
        tf.cast(images, tf.float32), image_size, method=interpolation, antialias=False
    )


def resize_uint8_batch(images, image_size, interpolation: str, crop_to_aspect_ratio=False):
    """`resize_batch`, rounded to `uint8` (what the cache stores).

    With `crop_to_aspect_ratio`, the same-size images are first center-cropped to the
    target's aspect ratio.
    """
    if crop_to_aspect_ratio:
        shape = tf.shape(images)
        top, left, crop_h, crop_w = crop_box(shape[1], shape[2], image_size)
        images = images[:, top : top + crop_h, left : left + crop_w]
    resized = resize_batch(images, image_size, interpolation)
    if resized.dtype == tf.uint8:
        return resized
    return tf.saturate_cast(tf.round(resized), tf.uint8)


def resize_uint8(image, image_size, interpolation: str, crop_to_aspect_ratio: bool):
    """Resizes one (H, W, C) image, optionally center-cropping to the target aspect ratio.

    The result is `uint8` (rounded), which is what the cache stores.
    """
    return resize_uint8_batch(image[None], image_size, interpolation, crop_to_aspect_ratio)[0]


def decode_source(contents):
    """Decodes JPEG/PNG/BMP/GIF bytes to an (H, W, 3) `uint8` tensor at its own size.

    Grayscale and RGBA images become three channels; an animated GIF gives its first
    frame.
    """
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def decode_image(contents, image_size, interpolation: str, crop_to_aspect_ratio: bool):
    """`decode_source`, then `resize_uint8` to `image_size`."""
    return resize_uint8(
        decode_source(contents), image_size, interpolation, crop_to_aspect_ratio
    )


def read_file(path):
    """`tf.io.read_file`: the Extract step (any file system TensorFlow supports)."""
    return tf.io.read_file(path)
