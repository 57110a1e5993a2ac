"""RandomFlip: mirror images left-right and/or top-bottom, per sample."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment import affine
from keras_blocks.augment._base import batch_size

_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


_RESAMPLING_ARGS = ("interpolation", "fill_mode", "fill_value")


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomFlip(affine.AffineLayer):
    """Flips each image with probability `probability` (each axis independently).

    A flip moves whole pixels: it is an exact pixel flip, with no interpolation and no
    fill, so it takes no `interpolation`, `fill_mode` or `fill_value`. Alone it
    reverses the axis; in a [`Pipeline`][keras_blocks.Pipeline] its matrices join the
    neighbouring geometric layers' single resampling (whatever their interpolation),
    and a run of flips with no resampling layer stays an exact flip.

    Compared with `keras.layers.RandomFlip` (same `mode` names and default):
    `"horizontal_and_vertical"` draws the two axes independently here (four outcomes,
    each axis flipped with `probability`), where Keras draws once and flips both axes or
    neither; `probability` is ours (Keras flips with probability 0.5); images are
    channels-last only (no `data_format`).

    Args:
        mode: `"horizontal_and_vertical"` (default, as Keras), `"horizontal"`
            (left-right) or `"vertical"` (top-bottom).
        probability: chance of flipping an image along each flipped axis, in [0, 1].
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

    Raises:
        ValueError: an unknown `mode`, a `probability` outside [0, 1].
        TypeError: `interpolation`, `fill_mode` or `fill_value`, which a flip does not
            use.

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import RandomFlip

        images = np.random.rand(4, 32, 32, 3).astype("float32")
        RandomFlip("horizontal", seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, mode="horizontal_and_vertical", probability=0.5, seed=None, **kwargs):
        unused = [key for key in _RESAMPLING_ARGS if key in kwargs]
        if unused:
            raise TypeError(
                f"RandomFlip: got {', '.join(f'`{key}`' for key in unused)}, which a flip "
                "does not use: it moves whole pixels (no interpolation, nothing to fill). "
                "Remove the argument; in a Pipeline the neighbouring geometric layers' "
                "settings apply."
            )
        super().__init__(seed=seed, **kwargs)
        self.mode = check.one_of("RandomFlip", "mode", mode, _MODES)
        self.probability = check.fraction("RandomFlip", "probability", probability,
                                          include_high=True)

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
        config = super().get_config()
        config.update({"mode": self.mode, "probability": self.probability})
        return config


registry.register("augmentation", "flip", RandomFlip)
