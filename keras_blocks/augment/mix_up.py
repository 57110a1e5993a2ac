"""MixUp: blend pairs of images and their labels."""

from __future__ import annotations

import keras

from keras_blocks import registry
from keras_blocks.augment._mixing import MixingLayer


@keras.saving.register_keras_serializable(package="keras_blocks")
class MixUp(MixingLayer):
    """Blends each image with a random partner of the batch, labels alike.

    Image `i` becomes `lam_i * x_i + (1 - lam_i) * x_perm[i]`, `lam_i ~ Beta(alpha,
    alpha)` per sample (Zhang et al., 2018), and its label the same mixture. Call it on
    `(images, labels)` or `{"images": ..., "labels": ...}`: typically in a `tf.data`
    pipeline, `dataset.map(lambda x, y: mix_up((x, y)))`. Labels may be float binary
    targets `(B,)`/`(B, 1)`, float one-hot rows `(B, K)`, or integer class ids with
    `num_classes` (one-hot encoded first; `num_classes=1` means binary 0/1 ints). The
    output labels are float32, one-hot for integer ids also at inference.

    Compared with `keras.layers.MixUp`: the same `alpha` (default 0.2) and `seed`, and
    the same per-sample `Beta(alpha, alpha)` weights; `num_classes` is ours (Keras mixes
    the labels as given, so integer ids must be one-hot encoded first); images are
    channels-last only (no `data_format`).

    Args:
        alpha: Beta distribution parameter (> 0), default 0.2.
        num_classes: classes of integer labels (see above); `None` for float labels.
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
        from keras_blocks.augment import MixUp

        images = np.random.rand(8, 32, 32, 3).astype("float32")
        labels = np.random.randint(0, 10, (8,))
        mixed_images, mixed_labels = MixUp(num_classes=10, seed=0)((images, labels))
        mixed_labels.shape  # (8, 10)
        ```
    """

    def __init__(self, alpha=0.2, num_classes=None, seed=None, **kwargs):
        super().__init__(alpha, num_classes=num_classes, seed=seed, **kwargs)

    def mix(self, b, images, labels, n):
        perm = self.partners(b, n)
        weight = b.random.beta((n,), self.alpha, self.alpha, dtype="float32",
                               seed=self.seed_generator(b))
        w = b.numpy.reshape(weight, (-1, 1, 1, 1))
        images = images * w + b.numpy.take(images, perm, axis=0) * (1.0 - w)
        return images, self.mix_labels(b, labels, perm, weight)


registry.register("augmentation", "mixup", MixUp)
