"""RandomShear: shear each image by its own random amounts."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment import affine


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomShear(affine.GeometricLayer):
    """Shears each image about its centre.

    Column `x` of row `y` is read from `x + s_x * (y - centre_y)` (and likewise for
    rows with `s_y`), `s_x` and `s_y` drawn per image. A shear of 1 is 45 degrees.

    Args:
        x_factor: float `f` (draws in `[-f, f]`) or `(low, high)`, within [-1, 1].
        y_factor: the same for the vertical shear (default 0: none).
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
        from keras_blocks.augment import RandomShear

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomShear(0.2, 0.1, seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, seed=None, **kwargs):
        super().__init__(interpolation, fill_mode, fill_value, seed=seed, **kwargs)
        self.x_factor = check.factor_pair("RandomShear", "x_factor", x_factor,
                                          min_value=-1.0, max_value=1.0)
        self.y_factor = check.factor_pair("RandomShear", "y_factor", y_factor,
                                          min_value=-1.0, max_value=1.0)

    def sample_matrices(self, b, n, height, width, training):
        if not training:
            return None
        draws = self.uniform(b, (n, 2))
        (x_lo, x_hi), (y_lo, y_hi) = self.x_factor, self.y_factor
        shear_x = x_lo + (x_hi - x_lo) * draws[:, 0]
        shear_y = y_lo + (y_hi - y_lo) * draws[:, 1]
        return affine.shear(b, shear_x, shear_y, height, width)

    def get_config(self):
        config = super().get_config()
        config.update({"x_factor": list(self.x_factor), "y_factor": list(self.y_factor)})
        return config


registry.register("augmentation", "shear", RandomShear)
