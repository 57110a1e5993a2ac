"""make_car_truck_from_cifar10: the course layout from CIFAR-10's binary archive.

Each test writes a small archive in the real byte format (3,073-byte records: a label
byte, then 1,024 red, 1,024 green, 1,024 blue bytes, row by row).
"""

import pathlib
import tarfile

import numpy as np
import pytest
from PIL import Image

from keras_blocks.data.cifar import (
    TEST_FILE,
    TRAIN_FILES,
    main,
    make_car_truck_from_cifar10,
    read_cifar10_records,
)


def record(label, image):
    """One CIFAR-10 record from an (32, 32, 3) uint8 image."""
    return bytes([label]) + image.transpose(2, 0, 1).tobytes()


def solid(red, green, blue):
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = red, green, blue
    return image


def write_batches(folder, labels_per_file, extra=None):
    """Batch files under folder/cifar-10-batches-bin; labels_per_file maps file -> labels.
    Image k of a file is solid, coloured by its label and index, so tests can find it."""
    batches = folder / "cifar-10-batches-bin"
    batches.mkdir(parents=True)
    for name, labels in labels_per_file.items():
        data = b"".join(record(label, solid(200 if label == 1 else 20, 10 * k % 250, 100))
                        for k, label in enumerate(labels))
        (batches / name).write_bytes(data)
    for name, data in (extra or {}).items():
        (batches / name).write_bytes(data)
    return batches


def archive_of(folder, batches):
    path = folder / "cifar-10-binary.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for file in sorted(batches.iterdir()):
            archive.add(file, arcname=f"cifar-10-batches-bin/{file.name}")
    return path


LABELS = {name: [1, 9, 3, 1, 9, 0] for name in TRAIN_FILES} | {TEST_FILE: [9, 1, 1, 5]}


def test_record_layout_is_planar_rgb():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    labels, images = read_cifar10_records(record(7, image) + record(1, solid(255, 0, 0)))
    assert labels.tolist() == [7, 1]
    np.testing.assert_array_equal(images[0], image)
    assert images[1, 5, 9].tolist() == [255, 0, 0]


@pytest.mark.parametrize("as_archive", [True, False])
def test_layout_counts_and_pixels(tmp_path, as_archive):
    batches = write_batches(tmp_path, LABELS)
    source = archive_of(tmp_path, batches) if as_archive else tmp_path
    root = make_car_truck_from_cifar10(source, tmp_path / "out", quality=100)
    counts = {f"{s}/{c}": sorted(p.name for p in (root / s / c).iterdir())
              for s in ("train", "valid") for c in ("Car", "Truck")}
    assert {k: len(v) for k, v in counts.items()} == {
        "train/Car": 10, "train/Truck": 10, "valid/Car": 2, "valid/Truck": 1}
    assert counts["train/Car"][:2] == ["00000.jpg", "00001.jpg"]
    assert sorted(p.name for p in root.iterdir()) == ["train", "valid"]
    # Cars were drawn with red 200, trucks with red 20: classes went to the right folder
    # and the planes to the right channels.
    car = np.asarray(Image.open(root / "train/Car/00000.jpg"), "float32")
    truck = np.asarray(Image.open(root / "valid/Truck/00000.jpg"), "float32")
    assert car.shape == (32, 32, 3)
    assert abs(car[..., 0].mean() - 200) < 3 and abs(car[..., 2].mean() - 100) < 3
    assert abs(truck[..., 0].mean() - 20) < 3


def test_train_per_class_keeps_the_first(tmp_path):
    batches = write_batches(tmp_path, LABELS)
    root = make_car_truck_from_cifar10(batches, tmp_path / "out", train_per_class=3)
    assert len(list((root / "train/Car").iterdir())) == 3
    assert len(list((root / "train/Truck").iterdir())) == 3
    assert len(list((root / "valid/Car").iterdir())) == 2  # valid is never cut


def test_bad_sources_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_car_truck_from_cifar10(tmp_path / "nope.tar.gz", tmp_path / "out")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ValueError, match="not a readable tar archive"):
        make_car_truck_from_cifar10(tmp_path / "junk.tar.gz", tmp_path / "out")
    partial = write_batches(tmp_path / "partial", {TEST_FILE: [1, 9]})
    with pytest.raises(ValueError, match=r"lacks data_batch_1\.bin"):
        make_car_truck_from_cifar10(partial, tmp_path / "out")
    truncated = dict(LABELS)
    del truncated[TEST_FILE]
    cut = write_batches(tmp_path / "cut", truncated, extra={TEST_FILE: b"\x01" * 3000})
    with pytest.raises(ValueError, match=r"test_batch\.bin: .* 3073-byte records"):
        make_car_truck_from_cifar10(cut, tmp_path / "out")
    wrong = write_batches(tmp_path / "wrong", truncated,
                          extra={TEST_FILE: record(42, solid(0, 0, 0))})
    with pytest.raises(ValueError, match="record 0 has label 42"):
        make_car_truck_from_cifar10(wrong, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
    assert not list(tmp_path.glob(".cifar-*"))


def test_refuses_a_non_empty_directory(tmp_path):
    batches = write_batches(tmp_path, LABELS)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        make_car_truck_from_cifar10(batches, tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_command_line(tmp_path, capsys):
    archive = archive_of(tmp_path, write_batches(tmp_path, LABELS))
    assert main([str(archive), str(tmp_path / "data")]) == 0
    assert "train/Car 10, train/Truck 10, valid/Car 2, valid/Truck 1" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.tar.gz"), str(tmp_path / "data2")]) == 2
    assert "missing.tar.gz" in capsys.readouterr().err


def test_make_pipeline_reads_the_result(tmp_path):
    from keras_blocks import make_pipeline

    root = make_car_truck_from_cifar10(write_batches(tmp_path, LABELS), tmp_path / "out")
    dataset = make_pipeline(pathlib.Path(root) / "train", image_size=32, batch_size=64,
                            label_mode="binary", shuffle=False)
    assert dataset.class_names == ["Car", "Truck"]
    labels = np.concatenate([y.numpy().ravel() for _, y in dataset])
    assert labels.tolist() == [0] * 10 + [1] * 10
