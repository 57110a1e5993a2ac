"""Where images come from: directories, (path, label) pairs, arrays, datasets.

Everything here turns a user's `source` into a list of files (or an array) with integer
labels and class names, and decodes one image file into a resized `uint8` tensor. File
access goes through `tf.io.gfile`, so any file system TensorFlow supports (local,
`gs://`, `s3://` with the right plugin, `hdfs://`) works the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import mmap
import os
import posixpath
from collections.abc import Sequence

import numpy as np

from keras_blocks._warnings import warn_user
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
    # (link, why): links left out so that no image is listed twice
    not_followed: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def subset(self, keep: np.ndarray) -> ImageFiles:
        keep = np.asarray(keep, dtype=np.int64)
        return ImageFiles(
            [self.paths[i] for i in keep],
            self.labels[keep],
            self.class_names,
            self.ignored,
            self.not_followed,
        )


def is_remote(path: str) -> bool:
    """True for paths on a remote file system (where interleaved reads pay off)."""
    return str(path).startswith(REMOTE_SCHEMES)


def _join(*parts: str) -> str:
    # tf.io.gfile paths use "/" on every file system, including remote ones.
    return posixpath.join(*parts) if is_remote(parts[0]) else os.path.join(*parts)


def _prefix(folder: str) -> str:
    """`_prefix(folder) + name == _join(folder, name)` for a plain entry name (faster for
    the many files of a folder)."""
    sep = "/" if is_remote(folder) else os.sep
    return folder if not folder or folder.endswith(sep) else folder + sep


SPLIT_NAMES = ("train", "training", "valid", "validation", "val", "test", "testing", "eval")


def _inside(path: str, folder: str) -> bool:
    """True when the real path `path` is `folder` or lies below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _subfolders(directory: str) -> tuple[list[str], bool]:
    """`(sorted visible subfolder names, whether it holds image files directly)`."""
    dirs, has_images = [], False
    for name, is_dir, _ in _entries(directory, not is_remote(directory)):
        if name.startswith("."):
            continue
        if is_dir:
            dirs.append(name)
        elif name.lower().endswith(IMAGE_EXTENSIONS):
            has_images = True
    return sorted(dirs), has_images


def _check_not_a_dataset_root(directory: str, found: list[str]) -> None:
    """Refuses `data/` given for `data/train`: class folders that hold only class folders."""
    inner = {}
    for name in found:
        subfolders, has_images = _subfolders(_join(directory, name))
        if has_images or not subfolders:
            return
        inner[name] = subfolders
    same = len(found) >= 2 and len({tuple(v) for v in inner.values()}) == 1
    split_like = all(name.lower() in SPLIT_NAMES for name in found)
    if not (same and len(inner[found[0]]) >= 2) and not split_like:
        return
    first = _join(directory, found[0])
    raise ValueError(
        f"{OWNER}: `source` {directory!r} looks like a dataset root, not one split: its "
        f"folders {found} hold only folders (such as {inner[found[0]]}) and no images, so "
        f"they would become the classes. Pass one split, such as {first!r}; if {found} "
        "really are the classes, pass them as `class_names` to say so."
    )


def _entries(folder: str, local: bool):
    """`(name, is_dir, is_link)` of a folder's entries (`is_dir` follows links)."""
    try:
        if local:
            with os.scandir(folder) as scan:
                return [(e.name, e.is_dir(), e.is_symlink()) for e in scan]
        return [
            (name.rstrip("/"), tf.io.gfile.isdir(_join(folder, name.rstrip("/"))), False)
            for name in tf.io.gfile.listdir(folder)
        ]
    except (OSError, tf.errors.OpError) as error:
        reason = getattr(error, "message", None) or str(error)
        raise ValueError(
            f"{OWNER}: cannot list the folder {folder!r} of `source`: {reason}"
        ) from None


def _list_class_folder(class_dir: str, dataset_reals: list[str], local: bool):
    """Files of one class folder, recursively: `([(path, real path, is_link)], links)`.

    Links to folders are not followed (`links` lists them, with why): one back into
    the dataset would list its images twice, under another class; one out of it would
    add images from elsewhere. A link to its own folder or an ancestor (a loop) raises.
    """
    found: list[tuple[str, str, list]] = []
    not_followed: list[tuple[str, str]] = []
    stack = [(class_dir, os.path.realpath(class_dir) if local else class_dir)]
    while stack:
        folder, real = stack.pop()
        files = []
        prefix = _prefix(folder)
        for name, is_dir, is_link in _entries(folder, local):
            if not is_dir:
                files.append((name, is_link))
                continue
            path = prefix + name
            if not is_link:
                stack.append((path, _join(real, name)))
            else:
                target = os.path.realpath(path)
                if _inside(real, target):
                    raise ValueError(
                        f"{OWNER}: the link {path!r} -> {os.readlink(path)!r} points to "
                        f"its own folder or an ancestor ({target!r}): a symlink loop. "
                        "Remove it: following it would list the same images again and "
                        "again (and the other classes' images under this class)."
                    )
                inside = any(_inside(target, r) or _inside(r, target) for r in dataset_reals)
                where = "back into the dataset" if inside else "out of the dataset"
                not_followed.append((path, f"a folder link {where}, to {target!r}"))
        found.append((folder, real, files))
    listed = []
    for folder, real, files in sorted(found):
        prefix, real_prefix = _prefix(folder), _prefix(real)
        for name, is_link in sorted(files):
            path = prefix + name
            file_real = os.path.realpath(path) if is_link else real_prefix + name
            listed.append((path, file_real, is_link))
    return listed, not_followed


def list_image_directory(directory, class_names: Sequence[str] | None = None) -> ImageFiles:
    """Lists a directory with one subfolder per class (the course's layout).

    Files are found recursively inside each class folder and sorted, so the order (and
    thus a seeded shuffle) is the same on every machine. Files without an image
    extension are left out and reported with a warning; hidden files (starting with a
    dot, such as `.DS_Store`) are ignored. A class folder may itself be a link; inside
    one, links to folders are not followed and a link to a file listed elsewhere is
    left out (both reported with a warning), so no image is listed twice or under
    another class; a link to its own folder or an ancestor (a loop) raises.

    Raises:
        ValueError: the path does not exist, is not a directory, has no class folders,
            holds no images, has a class folder without images, looks like a dataset
            root (class folders holding only class folders, such as `train/` and
            `valid/`), has a symlink loop or class folders that are the same folder,
            or `class_names` does not match its subfolders.
    """
    directory = os.fspath(directory)
    if not tf.io.gfile.exists(directory):
        raise ValueError(f"{OWNER}: `source` directory {directory!r} does not exist.")
    if not tf.io.gfile.isdir(directory):
        raise ValueError(
            f"{OWNER}: `source` {directory!r} is a file, not a directory with one "
            "subfolder per class."
        )
    found, _ = _subfolders(directory)
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
        _check_not_a_dataset_root(directory, found)
        class_names = found
    local = not is_remote(directory)
    class_dirs = [_join(directory, name) for name in class_names]
    dataset_reals = []
    if local:
        root_real = os.path.realpath(directory)
        dataset_reals = [root_real]
        reals = {}
        for class_dir in class_dirs:
            real = os.path.realpath(class_dir)
            if _inside(root_real, real):
                raise ValueError(
                    f"{OWNER}: the class folder {class_dir!r} is a link to {real!r}, which "
                    f"holds the dataset {directory!r} itself: a symlink loop."
                )
            for other, other_real in reals.items():
                if _inside(real, other_real) or _inside(other_real, real):
                    raise ValueError(
                        f"{OWNER}: the class folders {other!r} and {class_dir!r} are (or "
                        f"contain) the same folder {min(real, other_real, key=len)!r} "
                        "through a link; their images would be listed under both classes."
                    )
            reals[class_dir] = real
        dataset_reals += list(reals.values())
    candidates: list[tuple[str, int, str, bool]] = []  # path, label, real path, link
    ignored: list[str] = []
    not_followed: list[tuple[str, str]] = []
    for label, class_dir in enumerate(class_dirs):
        listed, links = _list_class_folder(class_dir, dataset_reals, local)
        not_followed += links
        for path, real, is_link in listed:
            file = os.path.basename(path) if local else posixpath.basename(path)
            if file.startswith("."):
                continue
            if file.lower().endswith(IMAGE_EXTENSIONS):
                candidates.append((path, label, real, is_link))
            else:
                ignored.append(path)
    if any(is_link for *_, is_link in candidates):
        # A file link to an image listed elsewhere would show it twice (maybe under
        # another class): the real file keeps its place and label, the link is left out.
        listed = {os.path.abspath(path) for path, *_ in candidates}

        def rank(path, is_link):  # who keeps an image: a file, a link out, the rest
            if not is_link:
                return 0
            hop = os.path.join(os.path.dirname(path), os.readlink(path))
            return 2 if os.path.abspath(hop) in listed else 1

        ranks = [rank(path, is_link) for path, _, _, is_link in candidates]
        owner = {}  # real path -> the listed path that keeps it
        for wanted in (0, 1, 2):
            for (path, _, real, _), r in zip(candidates, ranks, strict=True):
                if r == wanted:
                    owner.setdefault(real, path)
        kept = []
        for path, label, real, is_link in candidates:
            if owner[real] == path:
                kept.append((path, label, real, is_link))
            else:
                not_followed.append((path, f"a link to {owner[real]!r}, already listed"))
        candidates = kept
    paths = [path for path, *_ in candidates]
    labels = [label for _, label, *_ in candidates]
    counts = np.bincount(np.asarray(labels, np.int64), minlength=len(class_dirs))
    empty = [class_dir for class_dir, count in zip(class_dirs, counts, strict=True) if not count]
    if ignored:
        warn_user(
            f"{OWNER}: ignored {len(ignored)} file(s) without an image extension "
            f"{IMAGE_EXTENSIONS} in {directory!r}, such as {ignored[:3]}.",
        )
    if not_followed:
        listing = "; ".join(f"{path} ({why})" for path, why in not_followed[:10])
        more = f" (and {len(not_followed) - 10} more)" if len(not_followed) > 10 else ""
        warn_user(
            f"{OWNER}: did not follow {len(not_followed)} link(s) in {directory!r}, so "
            f"that no image is listed twice or under another class: {listing}{more}. "
            "Copy the images into the class folder (or make the class folder itself the "
            "link) to include them.",
        )
    if not paths:
        raise ValueError(
            f"{OWNER}: `source` directory {directory!r} has class folders {class_names} "
            f"but no image files ({', '.join(IMAGE_EXTENSIONS)})."
        )
    if empty:
        raise ValueError(
            f"{OWNER}: the class folder(s) {empty} of `source` hold no image files "
            f"({', '.join(IMAGE_EXTENSIONS)}): every class needs at least one image. "
            "Add images, or remove the folder (and that class)."
        )
    labels_array = np.asarray(labels, np.int32)
    return ImageFiles(paths, labels_array, list(class_names), ignored, not_followed)


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


def arrays_source(
    images, labels, class_names, source_range=None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validates `(images, labels)` NumPy arrays: NHWC or NHW pixels, scaled to [0, 255].

    Accepted without `source_range`: `uint8`; other integer dtypes with every value in
    [0, 255]; finite floats in [0, 255] whose maximum is above 2 (a maximum of 2 or
    less looks like [0, 1] pixels, which would turn black). With
    `source_range=(low, high)` every value must be finite and in `[low, high]`, and is
    scaled linearly to [0, 255] (`(0, 1)` for [0, 1] floats, `(0, 65535)` for 16-bit
    images). Nothing is clipped silently: values outside the range raise.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or images.shape[0] == 0:
        raise ValueError(
            f"{OWNER}: `source` images must be a non-empty (N, height, width, channels) "
            f"array with 1, 3 or 4 channels; got shape {images.shape}."
        )
    labels = _labels_for(images, labels)
    names = _class_names_for(labels, class_names)
    floating = np.issubdtype(images.dtype, np.floating)
    if not (floating or np.issubdtype(images.dtype, np.integer)):
        raise ValueError(
            f"{OWNER}: `source` images have unsupported dtype {images.dtype}; pass uint8 "
            "(or other integer) pixels in [0, 255], or floats with `source_range`."
        )
    if floating and not np.isfinite(images).all():
        bad = int(images.size - np.count_nonzero(np.isfinite(images)))
        raise ValueError(
            f"{OWNER}: `source` images hold {bad} NaN or infinite value(s); every pixel "
            "must be a finite number."
        )
    low, high = float(images.min()), float(images.max())
    if source_range is not None:
        lo, hi = source_range
        slack = 1e-6 * (hi - lo)  # float rounding at the ends of the range
        if low < lo - slack or high > hi + slack:
            raise ValueError(
                f"{OWNER}: `source` images have values in [{low:g}, {high:g}], outside "
                f"`source_range`={source_range}; pass the range the pixels really have."
            )
        if (lo, hi) != (0.0, 255.0) or images.dtype != np.uint8:
            images = (images.astype(np.float32) - lo) * np.float32(255.0 / (hi - lo))
            images = np.clip(images, 0.0, 255.0)  # only the float rounding slack
        return images, labels, names
    if images.dtype == np.uint8:
        pass
    elif not floating:
        if low < 0 or high > 255:
            raise ValueError(
                f"{OWNER}: `source` images are {images.dtype} with values in "
                f"[{low:g}, {high:g}], outside the [0, 255] of 8-bit pixels; they are not "
                "clipped. Pass `source_range` with their range to scale them (such as "
                "source_range=(0, 65535) for 16-bit images)."
            )
    elif low < 0 or high > 255 or high <= 2:
        looks = "floats in [0, 1]" if low >= 0 and high <= 2 else "not [0, 255] pixels"
        raise ValueError(
            f"{OWNER}: `source` images are {images.dtype} values in [{low:g}, {high:g}], "
            f"which looks like {looks}. Floats are taken as [0, 255] pixels only when "
            "they lie in [0, 255] with a maximum above 2; otherwise pass `source_range` "
            "with their range (such as source_range=(0, 1)) to scale them."
        )
    return images, labels, names


def _labels_for(images, labels) -> np.ndarray:
    labels = int_labels(labels, "`source` labels")
    if len(labels) != len(images):
        raise ValueError(
            f"{OWNER}: `source` has {len(images)} images but {len(labels)} labels."
        )
    return labels


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
        # Whole-number factors: nearest neighbour is each pixel repeated, identical to
        # tf.image.resize. Two gathers (columns, then whole rows) run about twice as fast
        # as the resize kernel or a 6-D broadcast, in any dtype.
        h, w = static
        rows = tf.range(image_size[0]) // (image_size[0] // h)
        columns = tf.range(image_size[1]) // (image_size[1] // w)
        return tf.gather(tf.gather(images, columns, axis=2), rows, axis=1)
    return tf.image.resize(images, image_size, method="nearest")


def upscale_nearest(images: np.ndarray, image_size, out: np.ndarray | None = None):
    """`_nearest` in NumPy for whole-number factors: (N, h, w, C) to (N, H, W, C).

    Repeats columns, then copies whole rows (contiguous bytes): several times faster
    than the resize kernel, and identical to it. Writes into `out` when given.
    """
    n, h, w, c = images.shape
    fy, fx = image_size[0] // h, image_size[1] // w
    if out is None:
        out = np.empty((n, *image_size, c), images.dtype)
    wide = np.repeat(images, fx, axis=2) if fx > 1 else images
    row = image_size[1] * c
    out.reshape(n, h, fy, row)[:] = wide.reshape(n, h, 1, row)
    return out


_POPULATE_BYTES = 1 << 24  # arrays this large get their pages from the kernel at once


def aligned_empty(shape, dtype=np.uint8, align: int = 64) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on an `align`-byte boundary.

    TensorFlow can then use its memory without a copy (`as_tensor`). A large one is
    mapped with its pages populated up front (`MAP_POPULATE`), where the kernel supports
    it: a 400 MB cache otherwise takes one page fault per 4 KiB page as it is first
    written, which measured 2-3 times slower here.
    """
    dtype = np.dtype(dtype)
    n_bytes = int(np.prod(shape)) * dtype.itemsize
    populate = getattr(mmap, "MAP_POPULATE", None)
    if n_bytes >= _POPULATE_BYTES and populate is not None:
        try:
            flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate
            memory = mmap.mmap(-1, n_bytes, flags=flags)  # page-aligned
            return np.frombuffer(memory, dtype).reshape(shape)
        except (OSError, ValueError, AttributeError):
            pass
    buffer = np.empty(n_bytes + align, np.uint8)
    start = (-buffer.ctypes.data) % align
    return buffer[start : start + n_bytes].view(dtype).reshape(shape)


def as_tensor(array: np.ndarray):
    """`array` as a tensor, sharing its memory when TensorFlow allows it (64-byte aligned,
    C-contiguous and writable: a 400 MB cache then costs no copy); otherwise a copy."""
    if (
        array.size
        and array.flags.c_contiguous
        and array.flags.writeable
        and array.ctypes.data % 64 == 0
    ):
        try:
            return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
        except (AttributeError, TypeError, ValueError, BufferError, tf.errors.OpError):
            pass
    return tf.convert_to_tensor(array)


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
