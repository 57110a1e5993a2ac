"""CutMix: paste a box from a partner image; mix labels by area."""

from __future__ import annotations

import keras

from keras_blocks import registry
from keras_blocks.augment._base import image_size
from keras_blocks.augment._mixing import MixingLayer
from keras_blocks.augment.random_erasing import box_mask


@keras.saving.register_keras_serializable(package="keras_blocks")
class CutMix(MixingLayer):
    """Pastes a random box of a partner image into each image; labels mix by area.

    For each sample, `lam ~ Beta(alpha, alpha)`; a box of `sqrt(1 - lam)` times the
    height and width, centred uniformly and clipped to the image, is copied from a
    random partner of the batch (Yun et al., 2019). The label weight is the fraction of
    the image NOT pasted. Inputs and label formats as [`MixUp`][keras_blocks.MixUp].

    Compared with `keras.layers.CutMix(factor=1.0)`: ours keeps the paper's fixed
    `alpha` where Keras has `factor`, a range from which it draws the Beta parameter
    once per batch (`U(0, 1)` by default), so the names differ because the meanings do:
    `CutMix(alpha=1.0)` is the paper's `Beta(1, 1)`, i.e. uniform box areas. `num_classes`
    is ours (as in MixUp); images are channels-last only (no `data_format`).

    Args:
        alpha: Beta distribution parameter (> 0), default 1.0.
        num_classes: classes of integer labels; `None` for float labels.
        seed: int or `None`.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Input shape:
        `(images, labels)` or a dict with `"images"` and `"labels"`: images
        `(batch, height, width, channels)`, channels last; labels integer class ids
        `(batch,)` or `(batch, 1)` (with `num_classes`), or float labels: binary
        `(batch,)`/`(batch, 1)` or one-hot rows `(batch, num_classes)`.

    Output shape:
        The same structure: images of the input's shape in the layer's compute dtype,
        labels as float32: one-hot rows `(batch, num_classes)` for integer class ids
        (with `num_classes=1`, the 0/1 labels as floats), float labels in their shape.

    Call arguments:
        - `inputs`: `(images, labels)` or `{"images": ..., "labels": ...}` (a batch;
          one image alone is refused: mixing needs a batch).
        - `training`: mix when true (the default when the layer is called directly);
          with `False` the images pass through unchanged and the labels are
          converted as above, not mixed.

    Raises:
        ValueError: called without labels, or on integer labels without `num_classes`;
            labels that are not numbers, a scalar, or not one per image; integer labels
            outside `[0, num_classes - 1]` (the message names the label; inside a
            `tf.data` pipeline the step fails with `tf.errors.InvalidArgumentError`
            carrying the same message); the layer created inside `Dataset.map`.

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import CutMix

        images = np.random.rand(8, 32, 32, 3).astype("float32")
        labels = np.eye(2, dtype="float32")[np.random.randint(0, 2, 8)]
        mixed = CutMix(seed=0)({"images": images, "labels": labels})
        mixed["labels"].shape  # (8, 2)
        ```
    """

    def __init__(self, alpha=1.0, num_classes=None, seed=None, **kwargs):
        super().__init__(alpha, num_classes=num_classes, seed=seed, **kwargs)

    def mix(self, b, images, labels, n):
        perm = self.partners(b, n)
        height, width = image_size(b, images)
        in_h, in_w = b.cast(height, "float32"), b.cast(width, "float32")
        lam = b.random.beta((n,), self.alpha, self.alpha, dtype="float32",
                            seed=self.seed_generator(b))
        centre = self.uniform(b, (n, 2))
        cut = b.numpy.sqrt(1.0 - lam)
        cy, cx = centre[:, 0] * in_h, centre[:, 1] * in_w
        y0 = b.numpy.clip(b.numpy.round(cy - cut * in_h / 2.0), 0.0, in_h)
        y1 = b.numpy.clip(b.numpy.round(cy + cut * in_h / 2.0), 0.0, in_h)
        x0 = b.numpy.clip(b.numpy.round(cx - cut * in_w / 2.0), 0.0, in_w)
        x1 = b.numpy.clip(b.numpy.round(cx + cut * in_w / 2.0), 0.0, in_w)
        mask = box_mask(b, y0, x0, y1 - y0, x1 - x0, height, width)
        images = images + mask * (b.numpy.take(images, perm, axis=0) - images)
        kept = 1.0 - (y1 - y0) * (x1 - x0) / (in_h * in_w)
        return images, self.mix_labels(b, labels, perm, kept)


registry.register("augmentation", "cutmix", CutMix)
