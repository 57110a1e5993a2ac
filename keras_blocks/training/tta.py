"""Test-time augmentation: average a model's outputs over flipped and shifted views."""

from __future__ import annotations

import keras
import numpy as np

from keras_blocks import _validation as check

_OWNER = "predict_tta"


def tta_views(images, *, flip=True, shift=0):
    """The views `predict_tta` averages over, as a list of NumPy arrays.

    The images themselves; with `flip`, their mirror images (left-right); with
    `shift=s > 0`, each of those moved by `s` pixels down-right and by `s` pixels
    up-left (the edge reflected into the gap, as `numpy.pad(mode="reflect")` does).

    Args:
        images: a `(batch, height, width, channels)` array.
        flip: include the left-right mirror images.
        shift: pixels to shift by (an integer >= 0, smaller than height and width).

    Returns:
        A list of arrays of `images`' shape: 1, 2, 3 or 6 views.

    Example:
        ```python
        import numpy as np
        from keras_blocks.training.tta import tta_views

        views = tta_views(np.zeros((2, 8, 8, 3)), flip=True, shift=1)
        len(views)  # 6: (original, flipped) x (unshifted, down-right, up-left)
        ```
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"{_OWNER}: `images` must be a batch of images (batch, height, width, "
            f"channels); got an array of shape {images.shape}."
        )
    if not isinstance(flip, bool):
        raise ValueError(f"{_OWNER}: `flip` must be True or False; got {flip!r}.")
    shift = check.positive_int(_OWNER, "shift", shift, minimum=0)
    if shift and shift >= min(images.shape[1:3]):
        raise ValueError(
            f"{_OWNER}: `shift` must be smaller than the images' height and width "
            f"{images.shape[1:3]}; got {shift}."
        )
    bases = [images, images[:, :, ::-1]] if flip else [images]
    views = list(bases)
    if shift:
        pad = ((0, 0), (shift, shift), (shift, shift), (0, 0))
        height, width = images.shape[1:3]
        for base in bases:
            padded = np.pad(base, pad, mode="reflect")
            views.append(padded[:, :height, :width])  # content moves down-right
            views.append(padded[:, 2 * shift:, 2 * shift:])  # content moves up-left
    return views


def predict_tta(model, images, *, flip=True, shift=0, batch_size=256):
    """`model.predict` averaged over flipped (and shifted) copies of the images.

    Averaging a classifier's outputs over a few label-preserving views of each image
    (its mirror image; small shifts) usually adds a few tenths of a point of accuracy
    for the price of 2 to 6 predictions. The outputs are averaged as the model gives
    them (probabilities for a sigmoid or softmax head, logits for a logits head).

    Args:
        model: a Keras model taking `(batch, height, width, channels)` images.
        images: a NumPy array (or anything `numpy.asarray` takes) of images, in the
            dtype and scale the model takes (for example raw uint8 pixels).
        flip: average in the left-right mirror images (not for images whose meaning
            changes under mirroring, such as text).
        shift: also average in views shifted by this many pixels (0: none; 1 or 2 for
            small images); see [`tta_views`][keras_blocks.tta_views].
        batch_size: `model.predict`'s batch size.

    Returns:
        A NumPy array: the mean of the model's outputs over the views.

    Raises:
        ValueError: `images` is not a 4-D batch, or a bad `flip` / `shift` /
            `batch_size`.

    Example:
        ```python
        import keras
        import numpy as np
        from keras_blocks import predict_tta

        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(1, activation="sigmoid")])
        images = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype("float32")
        predict_tta(model, images, flip=True, shift=1).shape  # (4, 1)
        ```
    """
    batch_size = check.positive_int(_OWNER, "batch_size", batch_size)
    views = tta_views(images, flip=flip, shift=shift)
    total = None
    for view in views:
        output = np.asarray(keras.ops.convert_to_numpy(
            model.predict(view, batch_size=batch_size, verbose=0)), "float64")
        total = output if total is None else total + output
    return (total / len(views)).astype("float32")
