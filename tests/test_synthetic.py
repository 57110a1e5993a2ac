"""make_synthetic_car_truck: the course layout, reproducible pixels, clear errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from keras_blocks import make_synthetic_car_truck
from keras_blocks.data.synthetic import render_vehicle


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))


def test_course_layout_and_counts(tmp_path):
    root = make_synthetic_car_truck(tmp_path / "cars", n_per_class=10, image_size=24, seed=3)
    assert root == tmp_path / "cars"
    for split, count in (("train", 8), ("valid", 2)):
        for name in ("Car", "Truck"):
            files = sorted((root / split / name).iterdir())
            assert len(files) == count
            with Image.open(files[0]) as image:
                assert image.size == (24, 24) and image.mode == "RGB"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".synthetic-")]


def test_same_seed_same_pixels_other_seed_other_pixels(tmp_path):
    a = make_synthetic_car_truck(tmp_path / "a", n_per_class=3, image_size=16, seed=1)
    b = make_synthetic_car_truck(tmp_path / "b", n_per_class=3, image_size=16, seed=1)
    c = make_synthetic_car_truck(tmp_path / "c", n_per_class=3, image_size=16, seed=2)
    assert _files(a) == _files(b) == _files(c)
    for name in _files(a):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert all((a / n).read_bytes() != (c / n).read_bytes() for n in _files(a))


@given(size=st.integers(16, 70), seed=st.integers(0, 2**16))
def test_render_vehicle_shape_and_variety(size, seed):
    rng = np.random.default_rng(seed)
    for truck in (False, True):
        pixels = render_vehicle(rng, truck=truck, image_size=size)
        assert pixels.shape == (size, size, 3) and pixels.dtype == np.uint8
        assert pixels.std() > 5  # a scene, not a flat colour


def test_classes_differ_in_shape():
    """Trucks are taller than cars: their mean outline differs, so the task is learnable."""
    rng = np.random.default_rng(0)

    def mean_image(truck):
        return np.mean([render_vehicle(rng, truck=truck, image_size=32) for _ in range(40)], 0)

    assert np.abs(mean_image(True) - mean_image(False)).mean() > 2.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_per_class": 1}, "n_per_class"),
        ({"image_size": 8}, "image_size"),
        ({"valid_fraction": 0.0}, "valid_fraction"),
        ({"valid_fraction": 1.0}, "valid_fraction"),
        ({"seed": -1}, "seed"),
        ({"quality": 101}, "quality"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic_car_truck(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        make_synthetic_car_truck(tmp_path / "full", n_per_class=2)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


def test_an_empty_directory_is_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    root = make_synthetic_car_truck(tmp_path / "empty", n_per_class=2, image_size=16)
    assert len(_files(root)) == 4
