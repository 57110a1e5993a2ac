"""RandomTranslation: shift each image by its own random offset."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment import affine


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomTranslation(affine.GeometricLayer):
    """Shifts each image by a random fraction of its height and width.

    Args:
        height_factor: float `f` (shift drawn from `[-f, f]` of the height) or
            `(low, high)`, within [-1, 1]; positive moves the content down.
        width_factor: the same along the width; positive moves the content right.
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
        from keras_blocks.augment import RandomTranslation

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomTranslation(0.1, 0.1, seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, height_factor, width_factor, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, seed=None, **kwargs):
        super().__init__(interpolation, fill_mode, fill_value, seed=seed, **kwargs)
        owner = "RandomTranslation"
        self.height_factor = check.factor_pair(owner, "height_factor", height_factor,
                                               min_value=-1.0, max_value=1.0)
        self.width_factor = check.factor_pair(owner, "width_factor", width_factor,
                                              min_value=-1.0, max_value=1.0)

    def sample_matrices(self, b, n, height, width, training):
        if not training:
            return None
        draws = self.uniform(b, (n, 2))
        (h_lo, h_hi), (w_lo, w_hi) = self.height_factor, self.width_factor
        dy = (h_lo + (h_hi - h_lo) * draws[:, 0]) * b.cast(height, "float32")
        dx = (w_lo + (w_hi - w_lo) * draws[:, 1]) * b.cast(width, "float32")
        return affine.translation(b, dx, dy)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": list(self.height_factor),
                       "width_factor": list(self.width_factor)})
        return config


registry.register("augmentation", "translation", RandomTranslation)
