"""The example's data: the course-layout folders, the pipelines, the augmentation."""

from __future__ import annotations

import pathlib

from .recipes import CLASS_NAMES, IMAGE_SUFFIXES, SHARED_WEIGHTS
from .runs import UsageError, not_a_file, note


def check_dataset(directory, splits=("train", "valid")):
    """The course layout: each split holds one non-empty folder per class."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise UsageError(f"--data-dir {directory}: no such directory")
    for split in splits:
        for name in CLASS_NAMES:
            folder = directory / split / name
            if not folder.is_dir():
                raise UsageError(
                    f"--data-dir {directory}: expected the course layout "
                    f"{'/'.join(splits)} x {'/'.join(CLASS_NAMES)} (train/Car, train/Truck, "
                    f"valid/Car, valid/Truck); {folder} is missing"
                )
            if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
                raise UsageError(f"--data-dir {directory}: {folder} holds no images")
    return directory


def resolve_weights(value):
    if value in ("imagenet", "none"):
        return None if value == "none" else "imagenet"
    path = pathlib.Path(value)
    if not path.is_file():
        raise UsageError(
            f"--weights {value}: no such file (give 'imagenet', 'none' or the path of a "
            "MobileNetV2 no-top weights file)"
        )
    return str(path)


def default_weights():
    return str(SHARED_WEIGHTS) if SHARED_WEIGHTS.is_file() else "imagenet"


def pipeline(folder, on_error="raise", **kwargs):
    """`make_pipeline(folder, ...)`, its data errors as one line naming the folder.

    The flags were validated before, so a `ValueError` here is about the files (a
    corrupt image, an empty class folder...). Skipped files are listed on stderr.
    """
    import warnings

    from keras_blocks import make_pipeline

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = make_pipeline(folder, on_error=on_error, **kwargs)
    except ValueError as error:
        message = str(error)
        if on_error == "raise" and ("on_error" in message or "decode" in message):
            message += " On the command line: --on-error skip."
        raise UsageError(f"data in {folder}: {message}") from error
    for warning in caught:
        if "skipped" in str(warning.message):
            note(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return dataset


def pipelines(data_dir, image_size, batch_size, seed, on_error="raise"):
    """Train and validation datasets of (uint8 images, 0/1 labels)."""
    # Raw uint8 pixels straight from the pipeline's cache: both models cast and scale
    # them inside (the pretrained base with its own preprocessing), so the host writes a
    # quarter of the bytes and a saved model takes raw images.
    common = {"image_size": (image_size, image_size), "batch_size": batch_size,
              "label_mode": "binary", "class_names": list(CLASS_NAMES),
              "value_range": (0, 255), "output_dtype": "uint8", "on_error": on_error}
    train = pipeline(data_dir / "train", shuffle=True, seed=seed, **common)
    valid = pipeline(data_dir / "valid", shuffle=False, **common)
    return train, valid


def arrays(dataset, limit=None):
    """(images, labels) as NumPy arrays from a batched dataset."""
    import numpy as np

    images, labels = [], []
    count = 0
    for x, y in dataset:
        images.append(np.asarray(x))
        labels.append(np.asarray(y).reshape(-1))
        count += len(images[-1])
        if limit is not None and count >= limit:
            break
    images, labels = np.concatenate(images), np.concatenate(labels).astype("int64")
    return (images[:limit], labels[:limit]) if limit else (images, labels)


def augmentation(seed, erasing=0.0):
    """The augmentation inside the model: horizontal flips and shifts up to 1/8 of the
    side, fused into one resampling pass (active in training only); with `erasing > 0`,
    then a random rectangle blanked out in that fraction of the images."""
    from keras_blocks import augment

    layers = [augment.RandomFlip("horizontal"),
              augment.RandomTranslation(0.125, 0.125, fill_mode="reflect")]
    if erasing:
        layers.append(augment.RandomErasing(probability=erasing, scale=(0.02, 0.25)))
    return augment.Pipeline(layers, seed=seed, name="augmentation")


def image_files(paths):
    """The image files named by PATH arguments (folders searched recursively, without
    following links to folders). Names with an image suffix that are not files (a
    folder called x.jpg, a broken link) are left out with a note."""
    files = []
    for given in paths:
        path = pathlib.Path(given)
        if path.is_dir():
            found = []
            for candidate in sorted(path.rglob("*")):
                if candidate.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                why = not_a_file(candidate)
                if why is None:
                    found.append(candidate)
                else:
                    note(f"skipped {candidate}: {why}")
            if not found:
                raise UsageError(f"PATH {path}: the folder holds no image files "
                                 f"({', '.join(IMAGE_SUFFIXES)})")
            files += found
        elif path.exists() or path.is_symlink():
            why = not_a_file(path)
            if why is not None:
                raise UsageError(f"PATH {path}: {why}")
            files.append(path)
        else:
            raise UsageError(f"PATH {path}: no such file or directory")
    return files

