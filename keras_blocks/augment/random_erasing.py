"""RandomErasing (cutout): blank a random box in each image."""

from __future__ import annotations

import math

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment._base import AugmentationLayer, batch_size, image_size


def box_mask(b, y0, x0, box_h, box_w, height, width):
    """(B, H, W, 1) float mask, 1 inside each sample's box [y0, y0+h) x [x0, x0+w)."""
    rows = b.numpy.reshape(b.cast(b.numpy.arange(height), "float32"), (1, -1, 1, 1))
    cols = b.numpy.reshape(b.cast(b.numpy.arange(width), "float32"), (1, 1, -1, 1))

    def col(v):
        return b.numpy.reshape(v, (-1, 1, 1, 1))

    inside_rows = b.numpy.logical_and(rows >= col(y0), rows < col(y0 + box_h))
    inside_cols = b.numpy.logical_and(cols >= col(x0), cols < col(x0 + box_w))
    return b.cast(b.numpy.logical_and(inside_rows, inside_cols), "float32")


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomErasing(AugmentationLayer):
    """Erases a random box (area fraction `scale`, aspect ratio `ratio`) per image.

    Each image is erased with probability `probability`; the box is filled with
    `fill_value`, or with uniform noise over `value_range` when `fill_value="random"`
    (Zhong et al., 2017; "cutout" is the constant-fill case).

    Compared with `keras.layers.RandomErasing(factor=1.0, scale=(0.02, 0.33),
    fill_value=None, value_range=(0, 255), seed=None)`: `scale`, `value_range` and `seed`
    are the same; the others differ on purpose. Ours has `probability` (default 0.5, the
    paper's), a fixed chance per image, where Keras' `factor` is a range from which each
    image's chance is drawn; `ratio` (the box's aspect ratio) is ours; and `fill_value`
    defaults to 0 (cutout), with `"random"` for uniform noise over `value_range`, where
    Keras' default `None` fills with normal noise. Images are channels-last only (no
    `data_format`).

    Args:
        probability: chance that an image is erased, in [0, 1].
        scale: `(low, high)`, 0 < low <= high <= 1, fraction of the image area.
        ratio: `(low, high)`, 0 < low <= high, aspect ratio (height / width) of the box.
        fill_value: a number, or `"random"` for noise.
        value_range: `(low, high)` of the pixel values (for the noise).
        seed: int or `None`.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Input shape:
        A batch `(batch, height, width, channels)` or one image `(height, width,
        channels)`, channels last, of any real dtype (`uint8` pixels are fine).

    Output shape:
        The input's shape, in the layer's compute dtype (float32 by default).

    Call arguments:
        - `inputs`: the images; or `(images, labels)`, or a dict with `"images"` and
          `"labels"`: the labels pass through unchanged, and the output has the same
          structure.
        - `training`: augment when true (the default when the layer is called
          directly); `model.predict` and `model.evaluate` pass `False`, and the
          images pass through unchanged.

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import RandomErasing

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomErasing(value_range=(0, 1), seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, probability=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), fill_value=0.0,
                 value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = "RandomErasing"
        self.probability = check.fraction(owner, "probability", probability,
                                          include_high=True)
        self.scale = check.factor_pair(owner, "scale", scale, min_value=0.0, max_value=1.0,
                                       symmetric=False)
        self.ratio = check.factor_pair(owner, "ratio", ratio, min_value=0.0, symmetric=False)
        if self.scale[0] <= 0 or self.ratio[0] <= 0 or isinstance(scale, int | float) or (
            isinstance(ratio, int | float)
        ):
            raise ValueError(f"{owner}: `scale` and `ratio` must be (low, high) pairs with "
                             f"0 < low <= high; got scale={scale!r}, ratio={ratio!r}.")
        if fill_value != "random" and not check._is_number(fill_value):
            raise ValueError(f"{owner}: `fill_value` must be a finite number or 'random'; "
                             f"got {fill_value!r}.")
        self.fill_value = fill_value if fill_value == "random" else float(fill_value)
        self.value_range = check.value_range(owner, "value_range", value_range)

    def augment(self, b, images, labels, training):
        if not training:
            return images, labels
        images = b.cast(images, "float32")
        n = batch_size(b, images)
        height, width = image_size(b, images)
        in_h, in_w = b.cast(height, "float32"), b.cast(width, "float32")
        draws = self.uniform(b, (n, 5))
        area = (self.scale[0] + (self.scale[1] - self.scale[0]) * draws[:, 0]) * in_h * in_w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = b.numpy.exp(log_lo + (log_hi - log_lo) * draws[:, 1])
        box_h = b.numpy.round(b.numpy.minimum(b.numpy.sqrt(area * aspect), in_h))
        box_w = b.numpy.round(b.numpy.minimum(b.numpy.sqrt(area / aspect), in_w))
        y0 = b.numpy.floor(draws[:, 2] * (in_h - box_h + 1.0))
        x0 = b.numpy.floor(draws[:, 3] * (in_w - box_w + 1.0))
        erase = b.cast(draws[:, 4] < self.probability, "float32")
        mask = box_mask(b, y0, x0, box_h * erase, box_w, height, width)
        if self.fill_value == "random":
            low, high = self.value_range
            fill = self.uniform(b, b.shape(images), low, high)
        else:
            fill = self.fill_value
        return images + mask * (fill - images), labels

    def get_config(self):
        config = super().get_config()
        config.update({"probability": self.probability, "scale": list(self.scale),
                       "ratio": list(self.ratio), "fill_value": self.fill_value,
                       "value_range": list(self.value_range)})
        return config


registry.register("augmentation", "erasing", RandomErasing)
