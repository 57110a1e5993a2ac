"""Draws the figures of docs/tutorials/data-augmentation.md from the library.

    python docs/scripts/augmentation_figures.py   # from the repository root
"""

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import keras_blocks.augment as kba
from keras_blocks.viz import show_augmentations

REPO = pathlib.Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
PHOTO = REPO.parent / "shared/data/cifar10-car-truck/train/Car/0007.jpg"


def main():
    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((128, 128), Image.BICUBIC))
    show_augmentations(kba.Pipeline.from_preset("course", seed=4), photo, n=16,
                       path=IMAGES / "augment-course-grid.png",
                       title='Pipeline.from_preset("course"): 16 draws, one batch')
    plt.close("all")
    _shrink(IMAGES / "augment-course-grid.png")

    names = ("rotation", "translation", "width", "shear")

    def layers():
        return [kba.RandomRotation((0.04, 0.04), seed=1),
                kba.RandomTranslation((0.03, 0.03), (0.03, 0.03), seed=2),
                kba.RandomWidth((0.1, 0.1), seed=3), kba.RandomShear((0.1, 0.1), seed=4)]

    native = np.asarray(Image.open(PHOTO).convert("RGB"))  # 32x32: every pixel counts
    batch = native[None].astype("float32")
    fused = np.asarray(kba.Pipeline(layers())(batch))[0]
    unfused = np.asarray(kba.Pipeline(layers(), fuse=False)(batch))[0]
    figure, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    for ax, picture, label in zip(axes, (native, fused, unfused), (
            "original", "fused: 1 resampling", f"one by one: {len(names)} resamplings"),
            strict=True):
        ax.imshow(np.clip(picture / 255.0, 0, 1), interpolation="nearest")
        ax.set_title(label)
        ax.axis("off")
    figure.tight_layout()
    figure.savefig(IMAGES / "augment-fused-vs-sequential.png", dpi=100)


def _shrink(path):
    """Re-saves a PNG at most 600 px wide with a 256-colour palette (docs figures stay
    under 200 KB)."""
    image = Image.open(path).convert("RGB")
    if image.width > 600:
        image = image.resize((600, round(image.height * 600 / image.width)), Image.LANCZOS)
    image = image.quantize(256, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)


if __name__ == "__main__":
    main()
