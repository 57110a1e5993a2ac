"""RandomBrightness: add a random offset to each image."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment._base import AugmentationLayer, batch_size


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomBrightness(AugmentationLayer):
    """Adds `u * (high - low)` to each image, `u` drawn per image, then clips.

    Same convention as `keras.layers.RandomBrightness`: the factor is a fraction of
    the value range.

    Args:
        factor: a float `f` (`u` in `[-f, f]`) or a `(low, high)` pair within [-1, 1].
        value_range: `(low, high)` of the pixel values, `(0, 255)` (default) or `(0, 1)`.
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
        from keras_blocks.augment import RandomBrightness

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomBrightness(0.2, value_range=(0, 1), seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = check.factor_pair("RandomBrightness", "factor", factor,
                                        min_value=-1.0, max_value=1.0)
        self.value_range = check.value_range("RandomBrightness", "value_range", value_range)

    def augment(self, b, images, labels, training):
        if not training:
            return images, labels
        low, high = self.value_range
        delta = self.uniform(b, (batch_size(b, images), 1, 1, 1), *self.factor) * (high - low)
        return b.numpy.clip(b.cast(images, "float32") + delta, low, high), labels

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self.factor), "value_range": list(self.value_range)})
        return config


registry.register("augmentation", "brightness", RandomBrightness)
