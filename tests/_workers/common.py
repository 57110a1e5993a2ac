"""What the scale-out workers share: an image folder whose pixels carry each image's id,
the classifier they train, and JSON output."""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

IMAGE_SIZE = (8, 8)
CLASSES = ("car", "truck")


def write_id_images(folder, per_class: int) -> list[int]:
    """Writes `per_class` PNGs per class; returns the ids (0 .. 2 * per_class - 1).

    Pixel (0, 0) is black, (0, 1) white and (0, 2) holds the id, so `decode_ids` reads the
    id back from a batch whatever affine scaling the pipeline applies ([0, 1], [0, 255],
    [-1, 1]). Trucks are brighter than cars, so the classifier has something to learn.
    """
    from PIL import Image

    folder = pathlib.Path(folder)
    rng = np.random.default_rng(0)
    ids = []
    for label, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image_id = label * per_class + i
            assert image_id < 255
            pixels = rng.integers(0, 150, size=(*IMAGE_SIZE, 3)) + 100 * label
            pixels[0, 0], pixels[0, 1], pixels[0, 2] = 0, 255, image_id
            Image.fromarray(pixels.astype("uint8")).save(folder / name / f"{image_id:03d}.png")
            ids.append(image_id)
    return ids


def decode_ids(images) -> list[int]:
    images = np.asarray(images, dtype="float64")
    low, high, value = images[:, 0, 0, 0], images[:, 0, 1, 0], images[:, 0, 2, 0]
    return [int(i) for i in np.rint(255.0 * (value - low) / (high - low))]


def pipeline(folder, batch_size, **kwargs):
    from keras_blocks import make_pipeline

    return make_pipeline(str(folder), image_size=IMAGE_SIZE, batch_size=batch_size,
                         label_mode="binary", **kwargs)


def build_classifier(norm="batch", dropout=0.0):
    """A small keras_blocks classifier: two ConvBlocks and a DenseHead.

    Dropout and augmentation are off by default: random draws differ between one device
    and several, and the equivalence tests compare the two.
    """
    import keras_blocks as kb

    base = kb.build_conv_net(
        [{"name": "conv", "filters": 4, "norm": norm}, {"name": "conv", "filters": 8}],
        input_shape=(*IMAGE_SIZE, 3),
    )
    return kb.build_classifier(base, head={"name": "dense", "units": (4,), "dropout": dropout},
                               input_shape=(*IMAGE_SIZE, 3))


def compile_sgd(model, learning_rate=0.05):
    import keras

    from keras_blocks import compile_classifier

    # SGD: its update is linear in the gradient, so one device and several agree closely.
    return compile_classifier(model, optimizer=keras.optimizers.SGD(learning_rate))


def max_weight_difference(a, b) -> float:
    pairs = zip(a, b, strict=True)
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in pairs)


def write_json(path, data) -> None:
    pathlib.Path(path).write_text(json.dumps(data, indent=2))
