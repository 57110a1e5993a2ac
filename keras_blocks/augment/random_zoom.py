"""RandomZoom: zoom each image in or out by its own random factor."""

from __future__ import annotations

import keras

from keras_blocks import registry
from keras_blocks.augment import affine
from keras_blocks.augment._base import open_low_factor


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomZoom(affine.GeometricLayer):
    """Zooms each image about its centre by a random factor.

    As in Keras, a positive draw `z` zooms OUT (the output shows `1 + z` times the
    height of the input), a negative one zooms in.

    Args:
        height_factor: float `f` (draws in `[-f, f]`) or `(low, high)`, low > -1.
        width_factor: the same for the width; `None` (default) keeps the aspect ratio
            (the height's draw is used).
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
        from keras_blocks.augment import RandomZoom

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomZoom(0.2, seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, height_factor, width_factor=None, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, seed=None, **kwargs):
        super().__init__(interpolation, fill_mode, fill_value, seed=seed, **kwargs)
        self.height_factor = open_low_factor("RandomZoom", "height_factor", height_factor)
        self.width_factor = (
            None if width_factor is None
            else open_low_factor("RandomZoom", "width_factor", width_factor)
        )

    def sample_matrices(self, b, n, height, width, training):
        if not training:
            return None
        draws = self.uniform(b, (n, 2))
        h_lo, h_hi = self.height_factor
        read_y = 1.0 + h_lo + (h_hi - h_lo) * draws[:, 0]
        if self.width_factor is None:
            read_x = read_y
        else:
            w_lo, w_hi = self.width_factor
            read_x = 1.0 + w_lo + (w_hi - w_lo) * draws[:, 1]
        return affine.scaling(b, read_x, read_y, height, width)

    def get_config(self):
        config = super().get_config()
        config.update({
            "height_factor": list(self.height_factor),
            "width_factor": None if self.width_factor is None else list(self.width_factor),
        })
        return config


registry.register("augmentation", "zoom", RandomZoom)
