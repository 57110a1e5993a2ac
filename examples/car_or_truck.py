"""Car or truck? A custom convnet stacked from keras_blocks blocks (interim demo).

Trains for one epoch on ../shared/data/cifar10-car-truck (or on generated images where
that folder is absent) and saves the model. The full example (custom and transfer
models, evaluation, figures) replaces this script.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import keras
import numpy as np

from keras_blocks import ConvBlock

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared/data/cifar10-car-truck"


def generated_images(n=256, size=32, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.uniform(0, 60, (n, size, size, 3))
    for i, label in enumerate(y):  # trucks: a tall bright box; cars: a flat one
        h = size // 2 if label else size // 4
        x[i, size - h - 4 : size - 4, 4 : size - 4] += 150
    return x.astype("float32"), y.astype("float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["train"], help="what to do")
    parser.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--output-dir", type=pathlib.Path, default=pathlib.Path("runs/demo"))
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            ConvBlock(32, repeats=1),
            ConvBlock(64, repeats=2, norm="batch"),
            ConvBlock(128, repeats=2, norm="batch", pool=None),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["binary_accuracy"])
    if (args.data_dir / "train").is_dir():
        print(f"Training on {args.data_dir}")
        train, valid = (
            keras.utils.image_dataset_from_directory(
                args.data_dir / split, label_mode="binary", image_size=(32, 32), batch_size=64
            )
            for split in ("train", "valid")
        )
        model.fit(train, validation_data=valid, epochs=args.epochs)
    else:
        print(f"{args.data_dir} not found: training on GENERATED images (synthetic data)")
        x, y = generated_images()
        model.fit(x, y, validation_split=0.25, epochs=args.epochs)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    model.save(args.output_dir / "model.keras")
    print(f"Saved {args.output_dir / 'model.keras'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
