"""Label handling shared by MixUp and CutMix."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks.augment._base import AugmentationLayer, batch_size


def _is_integer(dtype) -> bool:
    return "int" in keras.backend.standardize_dtype(dtype)


class MixingLayer(AugmentationLayer):
    """Base of MixUp and CutMix: pairs each sample with a random partner of the batch
    and mixes their labels in the same proportion as their pixels."""

    needs_labels = True

    def __init__(self, alpha, num_classes=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = type(self).__name__
        if not isinstance(alpha, int | float) or isinstance(alpha, bool) or alpha <= 0:
            raise ValueError(f"{owner}: `alpha` must be a number > 0; got {alpha!r}.")
        self.alpha = float(alpha)
        if num_classes is not None:
            num_classes = check.positive_int(owner, "num_classes", num_classes)
        self.num_classes = num_classes

    def prepare_labels(self, b, labels):
        """Float labels ready to mix: integer class ids become one-hot rows."""
        owner = type(self).__name__
        shape = tuple(labels.shape)
        if _is_integer(labels.dtype):
            if self.num_classes is None:
                raise ValueError(
                    f"{owner}: integer labels (dtype {labels.dtype}) need `num_classes`: "
                    "the number of classes to one-hot encode them, or num_classes=1 for "
                    "binary 0/1 labels. Float labels (binary or one-hot) mix as they are."
                )
            if self.num_classes == 1:
                return b.cast(labels, "float32")
            if len(shape) == 2 and shape[-1] == 1:
                labels = b.numpy.squeeze(labels, -1)
            elif len(shape) != 1:
                raise ValueError(f"{owner}: integer labels must have shape (batch,) or "
                                 f"(batch, 1); got {shape}.")
            return b.nn.one_hot(b.cast(labels, "int32"), self.num_classes, dtype="float32")
        if self.num_classes is not None and self.num_classes > 1 and (
            len(shape) < 2 or shape[-1] != self.num_classes
        ):
            raise ValueError(f"{owner}: float labels must be one-hot rows of length "
                             f"num_classes={self.num_classes}; got shape {shape}.")
        return b.cast(labels, "float32")

    def output_label_spec(self, labels_spec):
        shape = tuple(labels_spec.shape)
        if _is_integer(labels_spec.dtype) and self.num_classes not in (None, 1):
            shape = (shape[0], self.num_classes)
        return keras.KerasTensor(shape, dtype="float32")

    def partners(self, b, n):
        """A random permutation of the batch: sample i mixes with sample perm[i]."""
        return b.numpy.argsort(self.uniform(b, (n,)))

    def mix_labels(self, b, labels, perm, weight):
        weight = b.numpy.reshape(weight, (-1,) + (1,) * (len(labels.shape) - 1))
        return labels * weight + b.numpy.take(labels, perm, axis=0) * (1.0 - weight)

    def augment(self, b, images, labels, training):
        labels = self.prepare_labels(b, labels)
        if not training:
            return images, labels
        images = b.cast(images, "float32")
        return self.mix(b, images, labels, batch_size(b, images))

    def mix(self, b, images, labels, n):
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "num_classes": self.num_classes})
        return config
