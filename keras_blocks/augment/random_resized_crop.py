"""RandomResizedCrop: a random box of random area and aspect ratio, resized."""

from __future__ import annotations

import math

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.augment import affine


def _positive_pair(owner, name, value, upper=None):
    pair = check.factor_pair(owner, name, value, max_value=upper, symmetric=False)
    if isinstance(value, int | float) or pair[0] <= 0:
        raise ValueError(f"{owner}: `{name}` must be a (low, high) pair with "
                         f"0 < low <= high{f' <= {upper}' if upper else ''}; got {value!r}.")
    return pair


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandomResizedCrop(affine.GeometricLayer):
    """Crops a random box from each image and resizes it to `(height, width)`.

    The box covers a fraction `scale` of the image area with an aspect ratio
    (width / height) in `ratio` (drawn log-uniformly), placed uniformly; boxes larger
    than the image are clipped to it. Crop and resize are one affine resampling, so
    this layer fuses with its geometric neighbours in a
    [`Pipeline`][keras_blocks.Pipeline].

    At inference the image's central box with the output's aspect ratio is resized to
    `(height, width)` (the identity when the sizes already match), so shapes agree.

    Args:
        height: output height (int >= 1).
        width: output width (int >= 1).
        scale: `(low, high)`, 0 < low <= high <= 1, fraction of the area kept.
        ratio: `(low, high)`, 0 < low <= high, aspect ratio of the box.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        fill_mode: `"reflect"` (default), `"constant"`, `"nearest"` or `"wrap"`.
        fill_value: value of `fill_mode="constant"`.
        seed: int or `None`.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Input shape:
        A batch `(batch, height, width, channels)` or one image `(height, width,
        channels)`, channels last, of any real dtype (`uint8` pixels are fine).

    Output shape:
        `(batch, height, width, channels)` with this layer's `height` and `width`
        (one image: `(height, width, channels)`), in the layer's compute dtype.

    Call arguments:
        - `inputs`: the images; or `(images, labels)`, or a dict with `"images"` and
          `"labels"`: the labels pass through unchanged, and the output has the same
          structure.
        - `training`: crop at random when true (the default when the layer is called
          directly); with `False` (`model.predict`, `model.evaluate`) the central
          crop of the target aspect ratio is resized to `(height, width)`.

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import RandomResizedCrop

        images = np.random.rand(4, 40, 48, 3).astype("float32")
        RandomResizedCrop(32, 32, seed=0)(images).shape  # (4, 32, 32, 3)
        ```
    """

    def __init__(self, height, width, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                 interpolation="bilinear", fill_mode="reflect", fill_value=0.0, seed=None,
                 **kwargs):
        super().__init__(interpolation, fill_mode, fill_value, seed=seed, **kwargs)
        owner = "RandomResizedCrop"
        self.height = check.positive_int(owner, "height", height)
        self.width = check.positive_int(owner, "width", width)
        self.scale = _positive_pair(owner, "scale", scale, upper=1.0)
        self.ratio = _positive_pair(owner, "ratio", ratio)

    def output_image_size(self, height, width):
        return self.height, self.width

    def sample_matrices(self, b, n, height, width, training):
        in_h, in_w = b.cast(height, "float32"), b.cast(width, "float32")
        if not training:
            if isinstance(height, int) and (height, width) == (self.height, self.width):
                return None
            target = self.width / self.height
            crop_h = b.numpy.minimum(in_h, in_w / target)
            crop_w = crop_h * target
            ones = b.numpy.ones((n,), "float32")
            return affine.crop(b, ones * (in_w - crop_w) / 2.0, ones * (in_h - crop_h) / 2.0,
                               ones * crop_w, ones * crop_h, self.height, self.width)
        draws = self.uniform(b, (n, 4))
        area = (self.scale[0] + (self.scale[1] - self.scale[0]) * draws[:, 0]) * in_h * in_w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = b.numpy.exp(log_lo + (log_hi - log_lo) * draws[:, 1])
        crop_w = b.numpy.minimum(b.numpy.sqrt(area * aspect), in_w)
        crop_h = b.numpy.minimum(b.numpy.sqrt(area / aspect), in_h)
        x0 = draws[:, 2] * (in_w - crop_w)
        y0 = draws[:, 3] * (in_h - crop_h)
        return affine.crop(b, x0, y0, crop_w, crop_h, self.height, self.width)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width, "scale": list(self.scale),
                       "ratio": list(self.ratio)})
        return config


registry.register("augmentation", "resized_crop", RandomResizedCrop)
