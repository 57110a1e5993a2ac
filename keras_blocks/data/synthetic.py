"""Synthetic car/truck photos in the course layout, for machines without the dataset.

The images are drawn, not sampled from a model: a sky and a ground of random colours,
then a vehicle seen from the side. A car is a long, low body with a smaller cabin on
top; a truck is a tall cab in front of a taller cargo box. Both have dark wheels with
light hubs, random colours, sizes, positions and facing direction, and a little pixel
noise, so the two classes differ in shape (height, the step between cab and box), not
in a single pixel statistic a classifier could shortcut on.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

import numpy as np

from keras_blocks import _validation as check

CLASS_NAMES = ("Car", "Truck")
_OWNER = "make_synthetic_car_truck"
_SUPERSAMPLE = 4  # draw at 4x and downsample: smooth edges at small sizes


def make_synthetic_car_truck(
    directory,
    n_per_class=100,
    *,
    valid_fraction=0.2,
    image_size=64,
    seed=0,
    quality=92,
):
    """Render a small car/truck dataset to JPEG files in the course layout.

    Writes `directory/train/{Car,Truck}/NNNN.jpg` and `directory/valid/{Car,Truck}/NNNN.jpg`,
    the layout of the course's dataset, so every tool that reads the real photos
    (`make_pipeline`, `keras.utils.image_dataset_from_directory`, the car-or-truck
    example) reads these too. The files are written into a temporary folder beside
    `directory` and moved into place at the end, so an interrupted call leaves nothing
    half-written. The same arguments always give the same pixels.

    Args:
        directory: where to write; it must not exist yet or be empty.
        n_per_class: images per class across both splits (int >= 2).
        valid_fraction: share of each class that goes to `valid/`, in (0, 1); at least
            one image per class lands in each split.
        image_size: side of the square images in pixels (int >= 16).
        seed: seed of the random generator (int >= 0).
        quality: JPEG quality, 1 to 100.

    Returns:
        The dataset directory as a `pathlib.Path`.

    Raises:
        ValueError: an argument out of range.
        FileExistsError: `directory` exists and is not empty.

    Example:
        ```python
        import tempfile
        from keras_blocks import make_synthetic_car_truck

        root = make_synthetic_car_truck(tempfile.mkdtemp() + "/cars", n_per_class=20,
                                        image_size=32, seed=0)
        sorted(p.name for p in (root / "train").iterdir())  # ['Car', 'Truck']
        ```
    """
    from PIL import Image

    n_per_class = check.positive_int(_OWNER, "n_per_class", n_per_class, minimum=2)
    valid_fraction = check.fraction(_OWNER, "valid_fraction", valid_fraction)
    if valid_fraction <= 0:
        raise ValueError(
            f"{_OWNER}: `valid_fraction` must be a number in (0, 1); got {valid_fraction!r}."
        )
    image_size = check.positive_int(_OWNER, "image_size", image_size, minimum=16)
    seed = check.positive_int(_OWNER, "seed", seed, minimum=0)
    quality = check.positive_int(_OWNER, "quality", quality)
    if quality > 100:
        raise ValueError(f"{_OWNER}: `quality` must be an integer in [1, 100]; got {quality!r}.")
    directory = pathlib.Path(os.fspath(directory))
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(
            f"{_OWNER}: `directory` {str(directory)!r} exists and is not an empty folder; "
            "pass a new path."
        )

    n_valid = min(max(1, round(n_per_class * valid_fraction)), n_per_class - 1)
    rng = np.random.default_rng(seed)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".synthetic-", dir=directory.parent))
    try:
        for label, name in enumerate(CLASS_NAMES):
            for index in range(n_per_class):
                split = "valid" if index < n_valid else "train"
                folder = staging / split / name
                folder.mkdir(parents=True, exist_ok=True)
                pixels = render_vehicle(rng, truck=bool(label), image_size=image_size)
                Image.fromarray(pixels).save(folder / f"{index:04d}.jpg", quality=quality)
        if directory.exists():
            directory.rmdir()  # empty, checked above
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def render_vehicle(rng, *, truck, image_size=64):
    """Draw one side view of a car (`truck=False`) or a truck as a uint8 RGB array.

    Args:
        rng: a `numpy.random.Generator` (all randomness comes from it).
        truck: `True` for a truck, `False` for a car.
        image_size: side of the square image in pixels (int >= 16).

    Returns:
        A `(image_size, image_size, 3)` uint8 array.

    Example:
        ```python
        import numpy as np
        from keras_blocks.data.synthetic import render_vehicle

        render_vehicle(np.random.default_rng(0), truck=True, image_size=32).shape
        # (32, 32, 3)
        ```
    """
    from PIL import Image, ImageDraw

    image_size = check.positive_int("render_vehicle", "image_size", image_size, minimum=16)
    side = image_size * _SUPERSAMPLE
    image = Image.new("RGB", (side, side))
    draw = ImageDraw.Draw(image)

    def colour(low=0, high=256):
        return tuple(int(c) for c in rng.integers(low, high, 3))

    horizon = int(side * rng.uniform(0.45, 0.75))
    sky_top, sky_bottom = np.array(colour(60, 256)), np.array(colour(60, 256))
    for y in range(horizon):
        t = y / max(1, horizon - 1)
        draw.line(
            [(0, y), (side, y)], fill=tuple(int(v) for v in (1 - t) * sky_top + t * sky_bottom)
        )
    draw.rectangle([0, horizon, side, side], fill=colour(0, 200))

    # Vehicle geometry in units of the image side, then jittered and placed.
    length = side * rng.uniform(0.55, 0.9)
    wheel_r = side * rng.uniform(0.05, 0.08)
    ground = min(side - 1, horizon + side * rng.uniform(0.05, 0.2))
    left = rng.uniform(0, side - length)
    bottom = ground - wheel_r
    body = colour()
    window = colour(150, 256)
    facing_right = bool(rng.integers(0, 2))

    def box(x0, x1, y0, y1, fill):
        if not facing_right:  # mirror around the vehicle's centre
            x0, x1 = 2 * left + length - x1, 2 * left + length - x0
        draw.rectangle([x0, y0, x1, y1], fill=fill)

    def polygon(points, fill):
        if not facing_right:
            points = [(2 * left + length - x, y) for x, y in points]
        draw.polygon(points, fill=fill)

    if truck:
        cab_len = length * rng.uniform(0.22, 0.3)
        cab_top = bottom - side * rng.uniform(0.25, 0.35)
        box_top = cab_top - side * rng.uniform(0.02, 0.12)
        box(left, left + length - cab_len - length * 0.02, box_top, bottom, colour())
        box(left + length - cab_len, left + length, cab_top, bottom, body)
        box(
            left + length - cab_len * 0.6,
            left + length - cab_len * 0.1,
            cab_top + (bottom - cab_top) * 0.12,
            cab_top + (bottom - cab_top) * 0.45,
            window,
        )
        wheels = [left + length * f for f in (0.15, 0.35, 0.87)]
    else:
        body_top = bottom - side * rng.uniform(0.09, 0.14)
        roof = body_top - side * rng.uniform(0.07, 0.11)
        box(left, left + length, body_top, bottom, body)
        a, b = left + length * rng.uniform(0.2, 0.3), left + length * rng.uniform(0.65, 0.75)
        polygon(
            [(a, body_top), (a + length * 0.1, roof), (b - length * 0.08, roof), (b, body_top)],
            body,
        )
        polygon(
            [
                (a + length * 0.05, body_top - 1),
                (a + length * 0.12, roof + (body_top - roof) * 0.2),
                (b - length * 0.1, roof + (body_top - roof) * 0.2),
                (b - length * 0.04, body_top - 1),
            ],
            window,
        )
        wheels = [left + length * f for f in (0.2, 0.8)]
    hub = colour(150, 256)
    for x in wheels:
        if not facing_right:
            x = 2 * left + length - x
        draw.ellipse([x - wheel_r, ground - 2 * wheel_r, x + wheel_r, ground], fill=(20, 20, 20))
        r = wheel_r * 0.45
        draw.ellipse([x - r, ground - wheel_r - r, x + r, ground - wheel_r + r], fill=hub)

    image = image.resize((image_size, image_size), Image.LANCZOS)
    pixels = np.asarray(image, dtype=np.float32)
    pixels += rng.normal(0.0, rng.uniform(2.0, 10.0), pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)
