"""The course-layout car/truck dataset from the official CIFAR-10 binary archive.

CIFAR-10's "binary version" (`cifar-10-binary.tar.gz`, about 163 MB, from
https://www.cs.toronto.edu/~kriz/cifar.html) holds six files of plain bytes:
`data_batch_1.bin` ... `data_batch_5.bin` (50,000 training images) and
`test_batch.bin` (10,000). Each record is 3,073 bytes: one label byte (0-9), then the
32x32 image as 1,024 red, 1,024 green and 1,024 blue bytes, row by row. No pickle is
read. Label 1 is "automobile" (written to `Car/`), label 9 "truck" (`Truck/`).

Run as a command (`keras_blocks/data/cifar.py`, a separate module so that `python -m`
does not find it imported already by the package):

    python -m keras_blocks.data.cifar cifar-10-binary.tar.gz data/cifar10-car-truck
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import shutil
import sys
import tarfile
import tempfile

import numpy as np

from keras_blocks import _validation as check

_OWNER = "make_car_truck_from_cifar10"
RECORD_BYTES = 1 + 32 * 32 * 3
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
CLASSES = {1: "Car", 9: "Truck"}  # CIFAR-10 labels: 1 automobile, 9 truck
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


def read_cifar10_records(data: bytes, name: str = "<bytes>"):
    """Labels and images of one CIFAR-10 binary batch file.

    Args:
        data: the file's bytes (a whole number of 3,073-byte records).
        name: the file's name, for error messages.

    Returns:
        `(labels, images)`: uint8 arrays of shapes `(n,)` and `(n, 32, 32, 3)`.

    Raises:
        ValueError: the length is not a multiple of 3,073 bytes, or a label is not in
            0-9 (the message names the file and the record).

    Example:
        ```python
        import numpy as np
        from keras_blocks.data.cifar import read_cifar10_records

        record = bytes([9]) + bytes(range(256)) * 12  # one truck, 3,072 pixel bytes
        labels, images = read_cifar10_records(record)
        labels, images.shape  # (array([9], dtype=uint8), (1, 32, 32, 3))
        ```
    """
    if len(data) == 0 or len(data) % RECORD_BYTES:
        raise ValueError(
            f"{name}: a CIFAR-10 binary batch is a whole number of {RECORD_BYTES}-byte "
            f"records (1 label byte + 3,072 pixel bytes); got {len(data)} bytes."
        )
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise ValueError(
            f"{name}: record {int(bad[0])} has label {int(labels[bad[0]])}; CIFAR-10 labels "
            "are 0-9. Is this the binary version (cifar-10-binary.tar.gz), not the Python "
            "or MATLAB one?"
        )
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return labels, np.ascontiguousarray(images)


def _batch_files(source: pathlib.Path) -> dict[str, bytes]:
    """The six batch files' bytes, from the .tar.gz archive or an extracted folder."""
    wanted = (*TRAIN_FILES, TEST_FILE)
    found: dict[str, bytes] = {}
    if source.is_dir():
        for name in wanted:
            matches = sorted(source.rglob(name))
            if matches:
                found[name] = matches[0].read_bytes()
    elif source.is_file():
        try:
            with tarfile.open(source, "r:*") as archive:
                for member in archive.getmembers():
                    base = pathlib.PurePosixPath(member.name).name
                    if member.isfile() and base in wanted and base not in found:
                        found[base] = archive.extractfile(member).read()
        except tarfile.TarError as error:
            raise ValueError(
                f"{_OWNER}: {str(source)!r} is not a readable tar archive ({error}); pass "
                f"cifar-10-binary.tar.gz ({ARCHIVE_URL}) or the folder it extracts to."
            ) from error
    else:
        raise FileNotFoundError(
            f"{_OWNER}: `source` {str(source)!r} does not exist; pass cifar-10-binary.tar.gz "
            f"({ARCHIVE_URL}) or the folder it extracts to (cifar-10-batches-bin)."
        )
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValueError(
            f"{_OWNER}: {str(source)!r} lacks {', '.join(missing)}; the CIFAR-10 binary "
            f"version has {', '.join(wanted)} ({ARCHIVE_URL})."
        )
    return found


def make_car_truck_from_cifar10(source, directory, *, train_per_class=None, quality=95):
    """Writes the course-layout car/truck dataset from CIFAR-10's binary archive.

    `directory/train/{Car,Truck}/NNNNN.jpg` come from the five training batches,
    `directory/valid/{Car,Truck}/NNNNN.jpg` from the test batch (1,000 per class), so
    the validation photos were never seen in training. Images stay 32x32 and are
    written as JPEG, in file order. The files go to a temporary folder beside
    `directory` and are moved into place at the end: an interrupted call leaves nothing
    half-written.

    Get the archive once (about 163 MB) on a machine with a network:
    `curl -LO https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`.

    Args:
        source: the path of `cifar-10-binary.tar.gz`, or of a folder holding its
            extracted batch files (`data_batch_1.bin` ... `test_batch.bin`).
        directory: where to write; it must not exist yet or be empty.
        train_per_class: keep only the first this many training photos per class
            (`None`: all 5,000; 4,000 gives the layout of the copy in `../shared`).
        quality: JPEG quality, 1 to 100.

    Returns:
        The dataset directory as a `pathlib.Path`.

    Raises:
        FileNotFoundError: `source` does not exist.
        FileExistsError: `directory` exists and is not an empty folder.
        ValueError: `source` is not the binary CIFAR-10 version (missing batch files,
            a truncated file, a label out of range), or an argument out of range.

    Example:
        ```python
        import pathlib, tarfile, tempfile
        import numpy as np
        from keras_blocks.data.cifar import make_car_truck_from_cifar10

        # A small archive in the real byte format: 4 records per batch file.
        work = pathlib.Path(tempfile.mkdtemp())
        rng = np.random.default_rng(0)
        with tarfile.open(work / "cifar-10-binary.tar.gz", "w:gz") as archive:
            for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
                records = rng.integers(0, 256, (4, 3073), dtype=np.uint8)
                records[:, 0] = [1, 9, 3, 1]  # car, truck, cat, car
                path = work / name
                path.write_bytes(records.tobytes())
                archive.add(path, arcname=f"cifar-10-batches-bin/{name}")
        root = make_car_truck_from_cifar10(work / "cifar-10-binary.tar.gz", work / "data")
        len(list((root / "train" / "Car").glob("*.jpg")))  # 10: two per batch file
        ```
    """
    from PIL import Image

    source = pathlib.Path(os.fspath(source))
    directory = pathlib.Path(os.fspath(directory))
    if train_per_class is not None:
        train_per_class = check.positive_int(_OWNER, "train_per_class", train_per_class)
    quality = check.positive_int(_OWNER, "quality", quality)
    if quality > 100:
        raise ValueError(f"{_OWNER}: `quality` must be an integer in [1, 100]; got {quality!r}.")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(
            f"{_OWNER}: `directory` {str(directory)!r} exists and is not an empty folder; "
            "pass a new path."
        )
    files = _batch_files(source)
    splits = {"train": TRAIN_FILES, "valid": (TEST_FILE,)}

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".cifar-", dir=directory.parent))
    try:
        for split, names in splits.items():
            counts = dict.fromkeys(CLASSES.values(), 0)
            for name in names:
                labels, images = read_cifar10_records(files[name], name)
                for label, image in zip(labels, images, strict=True):
                    folder_name = CLASSES.get(int(label))
                    if folder_name is None:
                        continue  # the other eight classes
                    if split == "train" and train_per_class is not None and \
                            counts[folder_name] >= train_per_class:
                        continue
                    folder = staging / split / folder_name
                    folder.mkdir(parents=True, exist_ok=True)
                    buffer = io.BytesIO()
                    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
                    (folder / f"{counts[folder_name]:05d}.jpg").write_bytes(buffer.getvalue())
                    counts[folder_name] += 1
            empty = [f"{split}/{c}" for c, n in counts.items() if n == 0]
            if empty:
                raise ValueError(
                    f"{_OWNER}: {str(source)!r} has no {' or '.join(empty)} images (labels 1 "
                    "and 9); is it CIFAR-10 (not CIFAR-100)?"
                )
        if directory.exists():
            directory.rmdir()  # empty, checked above
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m keras_blocks.data.cifar",
        description="Write the course-layout car/truck dataset (train/{Car,Truck}, "
        "valid/{Car,Truck}) from CIFAR-10's binary archive. Get the archive with: "
        f"curl -LO {ARCHIVE_URL}",
    )
    parser.add_argument("source", help="cifar-10-binary.tar.gz or its extracted folder")
    parser.add_argument("directory", help="the new dataset folder")
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="keep the first N training photos per class (default: all 5,000)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    args = parser.parse_args(argv)
    try:
        root = make_car_truck_from_cifar10(args.source, args.directory,
                                           train_per_class=args.train_per_class,
                                           quality=args.quality)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = {f"{split}/{c}": len(list((root / split / c).glob("*.jpg")))
              for split in ("train", "valid") for c in CLASSES.values()}
    print(f"wrote {root}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0

