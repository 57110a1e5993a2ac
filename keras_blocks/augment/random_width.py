"""RandomWidth: stretch or squeeze each image horizontally, keeping its size."""

from __future__ import annotations

import keras

from keras_blocks import registry
from keras_blocks.augment import affine
from keras_blocks.augment._base import open_low_factor


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomWidth(affine.GeometricLayer):
    """Stretches each image horizontally by a random factor about its centre.

    The course's `RandomWidth`. Unlike the Keras 2 layer of that name (gone from
    Keras 3), the output keeps its size: the content is stretched by `1 + u`, `u`
    drawn from `factor`, and cropped or filled at the sides, so batches keep one
    shape and the transform fuses with the other geometric layers.

    Args:
        factor: a float `f` (stretch `1 + u`, `u` in `[-f, f]`) or `(low, high)`,
            with low > -1. `0.15` stretches between 0.85x and 1.15x.
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
        from keras_blocks.augment import RandomWidth

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomWidth(0.15, seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, factor, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, seed=None, **kwargs):
        super().__init__(interpolation, fill_mode, fill_value, seed=seed, **kwargs)
        self.factor = open_low_factor("RandomWidth", "factor", factor)

    def sample_matrices(self, b, n, height, width, training):
        if not training:
            return None
        stretch = 1.0 + self.uniform(b, (n,), *self.factor)
        return affine.scaling(b, 1.0 / stretch, b.numpy.ones_like(stretch), height, width)

    def get_config(self):
        config = super().get_config()
        config["factor"] = list(self.factor)
        return config


registry.register("augmentation", "width", RandomWidth)
