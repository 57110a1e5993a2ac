"""RandomRotation: rotate each image by its own random angle."""

from __future__ import annotations

import math

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment import affine


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomRotation(affine.GeometricLayer):
    """Rotates each image about its centre by a random fraction of a full turn.

    Args:
        factor: a float `f` (angles drawn from `[-f, f]`) or a `(low, high)` pair, as a
            fraction of 360 degrees, within [-1, 1]. `0.1` means up to +-36 degrees.
            Positive angles turn counter-clockwise.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        fill_mode: `"reflect"` (default), `"constant"`, `"nearest"` or `"wrap"`.
        fill_value: value of `fill_mode="constant"`.
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
        from keras_blocks.augment import RandomRotation

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomRotation(0.1, seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, factor, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, seed=None, **kwargs):
        super().__init__(interpolation, fill_mode, fill_value, seed=seed, **kwargs)
        self.factor = check.factor_pair("RandomRotation", "factor", factor,
                                        min_value=-1.0, max_value=1.0)

    def sample_matrices(self, b, n, height, width, training):
        if not training:
            return None
        turns = self.uniform(b, (n,), *self.factor)
        return affine.rotation(b, turns * (2.0 * math.pi), height, width)

    def get_config(self):
        config = super().get_config()
        config["factor"] = list(self.factor)
        return config


registry.register("augmentation", "rotation", RandomRotation)
