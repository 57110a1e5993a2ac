"""RandomFlip: mirror images left-right and/or top-bottom, per sample."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment import affine
from keras_blocks.augment._base import AugmentationLayer, batch_size

_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomFlip(affine.GeometricLayer):
    """Flips each image with probability `probability` (each axis independently).

    A flip moves whole pixels, so it is exact under any interpolation: alone it
    reverses the axis, in a [`Pipeline`][keras_blocks.Pipeline] it joins the
    neighbouring geometric layers' single resampling.

    Args:
        mode: `"horizontal"` (default, left-right), `"vertical"` or
            `"horizontal_and_vertical"`.
        probability: chance of flipping an image along each flipped axis, in [0, 1].
        seed: int or `None`.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import RandomFlip

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomFlip("horizontal", seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, mode="horizontal", probability=0.5, seed=None, **kwargs):
        for key in ("interpolation", "fill_mode", "fill_value"):
            kwargs.pop(key, None)
        super().__init__(seed=seed, **kwargs)
        self.mode = check.one_of("RandomFlip", "mode", mode, _MODES)
        self.probability = check.fraction("RandomFlip", "probability", probability,
                                          include_high=True)
        self.supports_jit = True  # alone it reverses axes, no resampling op

    @property
    def fuse_key(self):
        return None  # exact whatever the interpolation: fuses with any geometric layer

    def _draw(self, b, n):
        draws = self.uniform(b, (n, 2))
        flip_x = b.cast(draws[:, 0] < self.probability, "float32")
        flip_y = b.cast(draws[:, 1] < self.probability, "float32")
        if self.mode == "vertical":
            flip_x = 0.0 * flip_x
        if self.mode == "horizontal":
            flip_y = 0.0 * flip_y
        return flip_x, flip_y

    def sample_matrices(self, b, n, height, width, training):
        if not training:
            return None
        flip_x, flip_y = self._draw(b, n)
        return affine.flip(b, flip_x, flip_y, height, width)

    def augment(self, b, images, labels, training):
        if not training:
            return images, labels
        flip_x, flip_y = self._draw(b, batch_size(b, images))
        images = b.cast(images, "float32")
        if self.mode != "vertical":
            mask = b.numpy.reshape(flip_x, (-1, 1, 1, 1)) > 0.5
            images = b.numpy.where(mask, b.numpy.flip(images, axis=2), images)
        if self.mode != "horizontal":
            mask = b.numpy.reshape(flip_y, (-1, 1, 1, 1)) > 0.5
            images = b.numpy.where(mask, b.numpy.flip(images, axis=1), images)
        return images, labels

    def get_config(self):
        config = AugmentationLayer.get_config(self)
        config.update({"mode": self.mode, "probability": self.probability})
        return config


registry.register("augmentation", "flip", RandomFlip)
