"""RandAugment, vectorized: per-sample op choice without a per-image loop."""

from __future__ import annotations

import math

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks._warnings import warn_user
from keras_blocks.augment import affine
from keras_blocks.augment._base import (
    AugmentationLayer,
    batch_size,
    check_values,
    image_size,
)

# Colour ops first; the identity and the geometric ops (colour-wise identities) last, so
# that after sorting a batch by op they form one contiguous, untouched block.
COLOUR_OPS = ("auto_contrast", "equalize", "solarize", "color", "posterize", "contrast",
              "brightness", "sharpness")
GEOMETRIC_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
OPS = (*COLOUR_OPS, "identity", *GEOMETRIC_OPS)

MAX_ROTATION_DEGREES = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATION = 0.45
MAX_ENHANCE = 0.9


def _col(b, v):
    return b.numpy.reshape(v, (-1, 1, 1, 1))


def _gray(b, x):
    if x.shape[-1] == 3:  # a (N, 3) @ (3, 1) product: a third of the time of sum(x * w)
        weights = b.convert_to_tensor([[0.299], [0.587], [0.114]], "float32")
        gray = b.numpy.matmul(b.numpy.reshape(x, (-1, 3)), weights)
        return b.numpy.reshape(gray, (*b.shape(x)[:-1], 1))
    return b.numpy.mean(x, axis=-1, keepdims=True)


def _smooth(b, x):
    """PIL's SMOOTH filter (3x3, centre 5, others 1, / 13), edges mirrored."""
    p = b.numpy.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric")
    rows = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    box = rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]
    return (box + 4.0 * x) / 13.0


def _equalize(b, x):
    """Per image and channel histogram equalization (PIL's ImageOps.equalize)."""
    n = b.shape(x)[0]
    channels = x.shape[-1]
    bins = 256 * channels
    # One index per pixel into the flat (n * channels * 256) histogram, built with one
    # (n, 1, 1, channels) offset added in float32 (exact up to 2**24 / bins images):
    # the same index counts the histogram and reads the lookup table.
    offsets = b.numpy.reshape(
        b.cast(b.numpy.arange(n * channels, dtype="int32") * 256, "float32"),
        (n, 1, 1, channels))
    ids = b.numpy.reshape(
        b.cast(b.numpy.clip(b.numpy.floor(x), 0.0, 255.0) + offsets, "int32"), (-1,))
    if b.name == "jax":  # jnp.bincount has a data-dependent shape: not jittable
        hist = b.core.scatter(b.numpy.reshape(ids, (-1, 1)),
                              b.numpy.ones_like(ids, "float32"), (n * bins,))
    else:
        hist = b.cast(b.numpy.bincount(ids, minlength=n * bins), "float32")
    hist = b.numpy.reshape(hist, (n, channels, 256))
    total = b.numpy.sum(hist, axis=-1, keepdims=True)
    # The highest value present: the last non-empty bin (255 for an empty image, whose
    # table is the identity anyway).
    top = 255 - b.numpy.argmax(b.numpy.flip(hist > 0, axis=-1), axis=-1)
    last = b.numpy.take_along_axis(hist, b.numpy.expand_dims(b.cast(top, "int32"), -1),
                                   axis=-1)
    step = b.numpy.floor((total - last) / 255.0)
    cumulative = b.numpy.cumsum(hist, axis=-1) - hist
    lut = b.numpy.floor((cumulative + b.numpy.floor(step / 2.0)) / b.numpy.maximum(step, 1.0))
    lut = b.numpy.where(step > 0, b.numpy.minimum(lut, 255.0),
                        b.cast(b.numpy.arange(256), "float32"))
    out = b.numpy.take(b.numpy.reshape(lut, (-1,)), ids, axis=0)
    return b.numpy.reshape(out, b.shape(x))


def apply_colour_op(b, name, x, magnitude, sign):
    """One colour op on a batch `x` in [0, 255], with per-sample (B,) parameters."""
    enhance = _col(b, 1.0 + sign * MAX_ENHANCE * magnitude)
    if name == "auto_contrast":
        low = b.numpy.min(x, axis=(1, 2), keepdims=True, initial=255.0)  # initial: may be empty
        high = b.numpy.max(x, axis=(1, 2), keepdims=True, initial=0.0)
        scale = b.numpy.where(high > low, 255.0 / b.numpy.maximum(high - low, 1e-3), 1.0)
        offset = b.numpy.where(high > low, low, 0.0)
        return (x - offset) * scale
    if name == "equalize":
        return _equalize(b, x)
    if name == "solarize":
        threshold = _col(b, 256.0 * (1.0 - magnitude))
        # x + [x >= t] * (255 - 2x): a select (`where`) on full images costs twice as much.
        return x + b.cast(x >= threshold, "float32") * (255.0 - 2.0 * x)
    if name == "posterize":
        step = _col(b, b.numpy.power(2.0, b.numpy.round(4.0 * magnitude)))
        return b.numpy.floor(x / step) * step
    if name == "brightness":
        degenerate = 0.0
    elif name == "contrast":
        degenerate = b.numpy.mean(_gray(b, x), axis=(1, 2, 3), keepdims=True)
    elif name == "color":
        degenerate = _gray(b, x)
    elif name == "sharpness":
        degenerate = _smooth(b, x)
    else:
        raise ValueError(f"unknown colour op {name!r}")
    # degenerate + (x - degenerate) * enhance, with one full-size pass fewer.
    return b.numpy.clip(x * enhance + degenerate * (1.0 - enhance), 0.0, 255.0)


def geometric_matrices(b, op, magnitude, sign, ops, height, width):
    """(B, 3, 3): the geometric op each sample drew (identity for colour ops)."""
    in_h, in_w = b.cast(height, "float32"), b.cast(width, "float32")
    signed = sign * magnitude

    def picked(name):
        if name not in ops:
            return b.numpy.zeros_like(magnitude)
        return b.cast(op == ops.index(name), "float32") * signed

    angle = picked("rotate") * (MAX_ROTATION_DEGREES * math.pi / 180.0)
    m = affine.rotation(b, angle, height, width)
    m = b.numpy.matmul(m, affine.shear(b, picked("shear_x") * MAX_SHEAR,
                                       picked("shear_y") * MAX_SHEAR, height, width))
    return b.numpy.matmul(m, affine.translation(b, picked("translate_x") * MAX_TRANSLATION * in_w,
                                                picked("translate_y") * MAX_TRANSLATION * in_h))


@keras.saving.register_keras_serializable(package="keras_blocks")
class RandAugment(AugmentationLayer):
    """RandAugment (Cubuk et al., 2020): `num_ops` random ops per image, vectorized.

    Each image draws its own `num_ops` ops from: auto_contrast, equalize, solarize,
    color, posterize, contrast, brightness, sharpness, identity and (with `geometric`)
    rotate, shear_x, shear_y, translate_x, translate_y; and its own magnitude in
    `factor` (a fraction of each op's maximum: 30 degrees, shear 0.3, translation 0.45
    of the size, enhance factor 1 +- 0.9, solarize threshold, posterize to 4 bits), with
    a random sign for the signed ops.

    Speed: nothing runs per image. The geometric ops of all rounds compose into one
    matrix per image and ONE resampling after the colour ops (a reordering that only
    matters through the border fill); the colour ops run batched. On TensorFlow (the
    `tf.data` case) each round sorts the batch by op and runs every op only on its
    slice; on JAX and PyTorch, whose compiled graphs need static shapes, every colour op
    runs on the whole batch and each image keeps its own op's result (same values,
    more work). With `per_batch=True` a switch runs only the batch's op in each
    round, on every backend.

    JAX: `equalize` counts its histogram with a scatter of static size there (JAX cannot
    compile `bincount`'s data-dependent length), so the layer also trains inside a model
    compiled with `jit_compile=True`.

    Compared with `keras.layers.RandAugment`: the same arguments `value_range`,
    `num_ops`, `factor`, `interpolation` and `seed`, in the same order and with the same
    defaults, and the same meaning of `factor` (a float `f` draws magnitudes from
    `[0, f]`, a pair from `[low, high]`). Ours adds `geometric`, `fill_mode` and
    `fill_value` and `per_batch` (after `seed`), and takes channels-last images only (no
    `data_format`). Keras (3.15) picks one list of `num_ops` ops per batch, with
    per-image parameters drawn by its sub-layers, but computes every one of its 11 ops
    on the whole batch in every round and keeps the picked one; ours draws the ops per
    image by default, and with `per_batch=True` draws them per batch as Keras does but
    runs only the picked ops. The op list (with identity) and each op's maximum are the
    ones above, not Keras'.

    Args:
        value_range: `(low, high)` of the pixel values, `(0, 255)` (default) or `(0, 1)`.
            In training the input pixels are checked against it (a `ValueError`, or
            `tf.errors.InvalidArgumentError` inside `tf.data`, names the range seen;
            skipped under `jax.jit`) and the outputs are clipped to it.
        num_ops: ops per image (int >= 1), default 2.
        factor: the magnitude, a fraction of each op's maximum: a float `f` (magnitudes
            drawn from `[0, f]`) or a `(low, high)` pair within [0, 1]; `(f, f)` for the
            paper's fixed magnitude. Default 0.5.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        seed: int or `None`.
        geometric: include the geometric ops (default `True`).
        fill_mode: `"reflect"` (default), `"constant"`, `"nearest"` or `"wrap"`.
        fill_value: value of `fill_mode="constant"` (in `value_range` units).
        per_batch: draw the `num_ops` ops once per batch instead of per image
            (default `False`): every image of a batch gets the same ops (each with its
            own magnitude and sign), and only those ops run, on the whole batch
            (faster: one colour op per round, and no resampling when no geometric op
            was drawn). keras-aug's RandAugment draws its ops this way; per-image ops
            augment more diversely.
        magnitude: the former name of `factor`; still accepted, with a
            `DeprecationWarning`.
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
        ValueError: an argument outside what is allowed (the message names it); a
            number as the first argument, which is `value_range` (as in Keras).

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import RandAugment

        images = np.random.randint(0, 256, (8, 32, 32, 3), dtype="uint8")
        RandAugment(num_ops=2, factor=0.5, seed=0)(images).shape  # (8, 32, 32, 3)
        ```
    """

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5,
                 interpolation="bilinear", seed=None, geometric=True, fill_mode="reflect",
                 fill_value=0.0, per_batch=False, magnitude=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = "RandAugment"
        if check._is_number(value_range):
            raise ValueError(
                f"{owner}: the first argument is `value_range` (as in "
                f"keras.layers.RandAugment); got the number {value_range!r}. Pass the "
                "others by name: RandAugment(num_ops=2, factor=0.5)."
            )
        self.num_ops = check.positive_int(owner, "num_ops", num_ops)
        factor_name = "factor"
        if magnitude is not None:
            warn_user(f"{owner}: `magnitude` is now called `factor` (as in "
                      "keras.layers.RandAugment); pass factor=... instead.",
                      DeprecationWarning)
            factor, factor_name = magnitude, "magnitude"
        self.factor = check.factor_pair(owner, factor_name, factor, min_value=0.0,
                                        max_value=1.0, symmetric=False)
        self.value_range = check.value_range(owner, "value_range", value_range)
        if not isinstance(geometric, bool):
            raise ValueError(f"{owner}: `geometric` must be True or False; got {geometric!r}.")
        self.geometric = geometric
        if not isinstance(per_batch, bool):
            raise ValueError(f"{owner}: `per_batch` must be True or False; got {per_batch!r}.")
        self.per_batch = per_batch
        self.interpolation = check.one_of(owner, "interpolation", interpolation,
                                          affine.INTERPOLATIONS)
        self.fill_mode = check.one_of(owner, "fill_mode", fill_mode, affine.FILL_MODES)
        self.fill_value = check.finite_number(owner, "fill_value", fill_value)
        self.ops = OPS if geometric else (*COLOUR_OPS, "identity")
        #: Force the whole-batch (masked) path on TensorFlow too (tests compare both).
        self.partition = True
        self.supports_jit = affine.XLA_WARP

    def augment(self, b, images, labels, training):
        if not training:
            return images, labels
        low, high = self.value_range
        n = batch_size(b, images)
        height, width = image_size(b, images)
        draws = self.uniform(b, (self.num_ops, 3, n))
        k = len(self.ops)
        ops = b.cast(b.numpy.minimum(b.numpy.floor(draws[:, 0] * k), k - 1.0), "int32")
        if self.per_batch:  # the first image's draw is the batch's: (num_ops, 1)
            ops = ops[:, :1]
        mag_lo, mag_hi = self.factor
        magnitudes = mag_lo + (mag_hi - mag_lo) * draws[:, 1]
        signs = b.numpy.where(draws[:, 2] < 0.5, -1.0, 1.0)

        if str(images.dtype).endswith("uint8") and low <= 0.0 and high >= 255.0:
            x = b.cast(images, "float32")  # uint8 pixels always lie in the range
        else:
            x = self._check_range(b, b.cast(images, "float32"))
        if (low, high) != (0.0, 255.0):
            x = (x - low) * (255.0 / (high - low))
        sorted_path = self.partition and b.name == "tensorflow" and not self.per_batch
        position = None
        if self.per_batch:
            x = self._colour_per_batch(b, x, ops, magnitudes, signs)
        elif sorted_path:
            x, position = self._colour_sorted(b, x, ops, magnitudes, signs)
        else:
            x = self._colour_masked(b, x, ops, magnitudes, signs)
        if (low, high) != (0.0, 255.0):
            x = x * ((high - low) / 255.0) + low
        if self.geometric:
            matrices = affine.compose(b, [
                geometric_matrices(b, ops[r], magnitudes[r], signs[r], self.ops, height, width)
                for r in range(self.num_ops)
            ])
            warp = {"interpolation": self.interpolation, "fill_mode": self.fill_mode,
                    "fill_value": self.fill_value}
            first = len(self.ops) - len(GEOMETRIC_OPS)
            if self.per_batch:  # one op list per batch: warp all images, or none
                x = b.core.cond(b.numpy.any(ops >= first),
                                lambda: affine.warp(b, x, matrices, **warp), lambda: x)
            elif sorted_path and not affine.compiled_warp(b, x, **warp):
                # Only the images that drew a geometric op are resampled (about 60% with
                # two ops): put them first (straight from the colour rounds' order, one
                # gather), warp that slice, put everything back (one more gather). (The
                # XLA-compiled resampling warps the whole batch instead: an identity
                # matrix copies an image exactly, and a slice of a new size each batch
                # would compile anew.)
                moved = b.cast(b.numpy.any(ops >= first, axis=0), "int32")
                order = b.numpy.argsort(1 - moved)
                count = b.numpy.sum(moved)
                x = b.numpy.take(x, b.numpy.take(position, order), axis=0)
                warped = affine.warp(b, x[:count], b.numpy.take(matrices, order, axis=0)[:count],
                                     **warp)
                x = b.numpy.concatenate([warped, x[count:]], axis=0)
                x = b.numpy.take(x, b.numpy.argsort(order), axis=0)
            else:
                if sorted_path:
                    x = b.numpy.take(x, position, axis=0)
                x = affine.warp(b, x, matrices, **warp)
        elif sorted_path:
            x = b.numpy.take(x, position, axis=0)
        return b.numpy.clip(x, low, high), labels

    def _check_range(self, b, x):
        """`x`, once its pixels are known to lie in `value_range` (up to 0.1% of it).

        Two reductions per batch, cheap next to the ops. 0-255 pixels given to a layer
        told (0, 1) would otherwise come out in [-253, 243]; the reverse (pixels in
        [0, 1] told (0, 255)) passes the check and comes out dark: it cannot be told
        from a dark image.
        """
        low, high = self.value_range
        slack = 1e-3 * (high - low)
        seen_low = b.numpy.min(x, initial=high)
        seen_high = b.numpy.max(x, initial=low)
        ok = b.numpy.logical_and(seen_low >= low - slack, seen_high <= high + slack)
        allowed = f"value_range=({low:g}, {high:g})"

        def explain(seen_low, seen_high):
            if math.isnan(seen_low) or math.isnan(seen_high):
                return f"RandAugment: the images hold NaN pixels; {allowed}."
            hint = " (0-255 pixels: pass value_range=(0, 255))" if seen_high > 1.5 and (
                high <= 1.0) else ""
            return (f"RandAugment: pixel values span [{seen_low:g}, {seen_high:g}], outside "
                    f"{allowed}{hint}. Pass the range the images are in, or rescale them.")

        return check_values(
            b, x, ok, f"RandAugment: pixel values lie outside {allowed} (min, max):",
            data=(seen_low, seen_high), explain=explain,
        )

    def _colour_masked(self, b, x, ops, magnitudes, signs):
        for r in range(self.num_ops):
            out = x
            for index, name in enumerate(COLOUR_OPS):
                chosen = _col(b, ops[r] == index)
                out = b.numpy.where(chosen, apply_colour_op(b, name, x, magnitudes[r],
                                                            signs[r]), out)
            x = out
        return x

    def _colour_sorted(self, b, x, ops, magnitudes, signs):
        """TensorFlow only (dynamic shapes): sort by op, run each op on its slice.

        Returns the colour-augmented batch in the last round's sorted order and
        `position` (original image `j` sits at `position[j]`); the caller puts the batch
        back in order together with the geometric step's own reordering (one gather).
        """
        position = None  # position[j]: where original image j sits in `x` (sorted order)
        k = len(COLOUR_OPS)
        for r in range(self.num_ops):
            order = b.numpy.argsort(ops[r])
            x = b.numpy.take(x, order if position is None else
                             b.numpy.take(position, order), axis=0)
            op, magnitude, sign = (b.numpy.take(v[r], order) for v in (ops, magnitudes, signs))
            counts = b.numpy.bincount(op, minlength=len(self.ops))
            ends = b.numpy.cumsum(counts)
            pieces = []
            for index, name in enumerate(COLOUR_OPS):
                start, end = ends[index] - counts[index], ends[index]
                pieces.append(apply_colour_op(b, name, x[start:end], magnitude[start:end],
                                              sign[start:end]))
            pieces.append(x[ends[k - 1]:])  # identity and geometric ops: unchanged
            x = b.numpy.concatenate(pieces, axis=0)
            position = b.numpy.argsort(order)
        return x, position

    def _colour_per_batch(self, b, x, ops, magnitudes, signs):
        """One op per round for the whole batch: only that op runs (a switch)."""
        def branch(name):
            return lambda x, magnitude, sign: apply_colour_op(b, name, x, magnitude, sign)

        branches = [branch(name) for name in COLOUR_OPS]
        branches.append(lambda x, magnitude, sign: x)  # identity and geometric ops
        for r in range(self.num_ops):
            index = b.numpy.minimum(ops[r, 0], len(COLOUR_OPS))
            x = b.core.switch(index, branches, x, magnitudes[r], signs[r])
        return x

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_ops": self.num_ops, "factor": list(self.factor),
            "value_range": list(self.value_range), "geometric": self.geometric,
            "interpolation": self.interpolation, "fill_mode": self.fill_mode,
            "fill_value": self.fill_value, "per_batch": self.per_batch,
        })
        return config


registry.register("augmentation", "rand_augment", RandAugment)
