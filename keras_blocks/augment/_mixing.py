"""Label handling shared by MixUp and CutMix."""

from __future__ import annotations

import keras
import numpy as np

from keras_blocks import _validation as check
from keras_blocks.augment._base import (
    AugmentationLayer,
    batch_size,
    check_values,
    split_inputs,
)


def _is_integer(dtype) -> bool:
    return "int" in keras.backend.standardize_dtype(dtype)


def _dtype_name(x) -> str:
    """The dtype of an array, tensor or list as a name ("int64", "string", ...)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "USO":
        return "string" if dtype.kind in "US" else "object"
    try:
        return keras.backend.standardize_dtype(dtype)
    except (ValueError, TypeError, AttributeError):
        return str(dtype)


def _static_shape(x):
    shape = getattr(x, "shape", None)
    return tuple(np.shape(x)) if shape is None else tuple(shape)


class MixingLayer(AugmentationLayer):
    """Base of MixUp and CutMix: pairs each sample with a random partner of the batch
    and mixes their labels in the same proportion as their pixels."""

    needs_labels = True

    def __init__(self, alpha, num_classes=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = type(self).__name__
        if not check._is_number(alpha) or alpha <= 0:
            raise ValueError(f"{owner}: `alpha` must be a number > 0; got {alpha!r}"
                             f"{check._not_finite(alpha)}.")
        self.alpha = float(alpha)
        if num_classes is not None:
            num_classes = check.positive_int(owner, "num_classes", num_classes)
        self.num_classes = num_classes

    def __call__(self, inputs, *args, **kwargs):
        # Before Keras converts the inputs: string labels fail that conversion on JAX.
        images, labels, _ = split_inputs(type(self).__name__, inputs)
        if labels is not None and len(_static_shape(images)) != 3:  # 3: refused in call
            self.check_labels(_static_shape(images), labels)
        return super().__call__(inputs, *args, **kwargs)

    def check_labels(self, images_shape, labels):
        """Raises `ValueError` for labels of the wrong dtype, rank or (static) batch size."""
        owner = type(self).__name__
        dtype = _dtype_name(labels)
        if not any(kind in dtype for kind in ("int", "float", "bool")):
            raise ValueError(
                f"{owner}: `labels` must be numbers: integer class ids (with "
                "`num_classes`) or float targets (binary or one-hot); got dtype "
                f"{dtype}. Map class names to ids first (for example with "
                "keras.layers.StringLookup)."
            )
        shape = _static_shape(labels)
        expected = "(batch,), (batch, 1) or (batch, num_classes)"
        if not shape:
            raise ValueError(
                f"{owner}: `labels` must hold one label per image, shape {expected}; got "
                "a scalar (shape ())."
            )
        images_batch = images_shape[0] if len(images_shape) == 4 else None
        if None not in (images_batch, shape[0]) and images_batch != shape[0]:
            needed = expected.replace("batch", str(images_batch))
            raise ValueError(
                f"{owner}: `labels` must have one row per image: `images` has a batch of "
                f"{images_batch}, so `labels` needs shape {needed}; got shape {shape}."
            )

    def prepare_labels(self, b, labels, images=None):
        """Float labels ready to mix: integer class ids become one-hot rows."""
        owner = type(self).__name__
        shape = tuple(labels.shape)
        if images is not None:
            self.check_labels(tuple(images.shape), labels)
            if shape[0] is None or images.shape[0] is None:  # only known when run
                n_labels, n_images = b.shape(labels)[0], b.shape(images)[0]
                labels = check_values(
                    b, labels, b.numpy.equal(n_labels, n_images),
                    f"{owner}: `labels` must have one row per image; the batch sizes of "
                    "`labels` and `images` differ:", data=(n_labels, n_images),
                )
        if _is_integer(labels.dtype):
            if self.num_classes is None:
                raise ValueError(
                    f"{owner}: integer labels (dtype {labels.dtype}) need `num_classes`: "
                    "the number of classes to one-hot encode them, or num_classes=1 for "
                    "binary 0/1 labels. Float labels (binary or one-hot) mix as they are."
                )
            labels = self._check_class_ids(b, labels)
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

    def _check_class_ids(self, b, labels):
        """Integer labels must be ids in [0, num_classes) ({0, 1} for num_classes=1):
        one-hot encoding would turn any other id into an all-zero row."""
        owner = type(self).__name__
        top = max(self.num_classes, 2) - 1
        allowed = f"[0, {top}] (num_classes={self.num_classes})"
        ok = b.numpy.logical_and(b.numpy.all(labels >= 0), b.numpy.all(labels <= top))

        def explain(values):
            bad = np.unique(values[(values < 0) | (values > top)])
            listed = ", ".join(str(v) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
            return (f"{owner}: label {bad[0]} is outside {allowed}: integer labels must be "
                    f"class ids from 0 to {top} (out-of-range labels: {listed}).")

        return check_values(
            b, labels, ok, f"{owner}: integer labels must be class ids in {allowed}; got "
            "labels outside that range:", data=(labels,), explain=explain,
        )

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
        labels = self.prepare_labels(b, labels, images)
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
