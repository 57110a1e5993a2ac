"""RandomContrast: scale each image's contrast about its mean."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment._base import AugmentationLayer, batch_size


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomContrast(AugmentationLayer):
    """Multiplies each image's deviation from its per-channel mean by `1 + u`.

    `u` is drawn per image from `factor`; the result is clipped to `value_range`
    (as `keras.layers.RandomContrast`).

    Args:
        factor: a float `f` (`u` in `[-f, f]`) or a `(low, high)` pair, low >= -1.
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
        from keras_blocks.augment import RandomContrast

        images = np.random.randint(0, 256, (4, 32, 32, 3), dtype="uint8")
        RandomContrast(0.1, seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = check.factor_pair("RandomContrast", "factor", factor, min_value=-1.0)
        self.value_range = check.value_range("RandomContrast", "value_range", value_range)

    def augment(self, b, images, labels, training):
        if not training:
            return images, labels
        images = b.cast(images, "float32")
        contrast = 1.0 + self.uniform(b, (batch_size(b, images), 1, 1, 1), *self.factor)
        if b.name == "tensorflow":
            from keras_blocks.augment import _tf_xla

            if _tf_xla.static_batch(images):  # one compiled loop instead of four passes
                return _tf_xla.contrast(images, contrast, *self.value_range), labels
        mean = b.numpy.mean(images, axis=(1, 2), keepdims=True)
        images = images * contrast + mean * (1.0 - contrast)
        return b.numpy.clip(images, *self.value_range), labels

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self.factor), "value_range": list(self.value_range)})
        return config


registry.register("augmentation", "contrast", RandomContrast)
