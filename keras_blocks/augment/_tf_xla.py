"""Augmentation kernels for TensorFlow, compiled with XLA: resampling and contrast.

On TensorFlow, a chain of small ops (TensorFlow's kernels, one pass over the batch
each) costs several times what the same arithmetic costs as one XLA-compiled loop.
The layers call these where the backend is TensorFlow (in `tf.data` too) and the
image size is static; elsewhere they use Keras ops.

Resampling: TensorFlow's own resampling op (`ImageProjectiveTransformV3`, behind
`keras.ops.image.affine_transform`) computes every output value on its own: the
transform, the fill-mode mapping and the interpolation weights are redone for each
channel, in one generic loop. Here the same computation is whole-tensor operations,
compiled into one loop over the output: a 64x128x128x3 batch took 6.3-7.4 ms against
the op's 25 ms on the 2-core CPU (docs/performance.md). It follows the op's rules: the
point read for output pixel `(x, y)` is `((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)`
with `k = c0 x + c1 y + 1` (`k = 0` gives `fill_value`), mapped inside the image by
`fill_mode`, then read with bilinear weights or rounded half away from zero
(`"nearest"`); a neighbour outside the image reads `fill_value`. Values equal the op's
up to float rounding (tests/test_augment_xla.py).
"""

from __future__ import annotations

import tensorflow as tf

FILL_MODES = ("reflect", "wrap", "nearest", "constant")
INTERPOLATIONS = ("bilinear", "nearest")


def _trunc_div(a, b):
    # `static_cast<DenseIndex>(a / b)` for a >= 0: the whole part.
    return tf.floor(a / b)


def _map_coordinate(coord, size, fill_mode: str):
    """The op's `MapCoordinate`: a point outside `[0, size - 1]` mapped inside it
    (`size`: a float32 scalar tensor)."""
    if fill_mode == "constant":
        return coord
    last = tf.maximum(size - 1.0, 0.0)
    if fill_mode == "nearest":
        return tf.clip_by_value(coord, 0.0, last)
    if fill_mode == "reflect":
        # The op's piecewise folding is this one: the point modulo two sizes, the second
        # size mirrored (a point in [-1, 0) maps to [-1, 0) again, then to 0).
        twice = 2.0 * size
        folded = coord - twice * tf.floor(coord / twice)
        mapped = tf.where(folded >= size, twice - folded - 1.0, folded)
        mapped = tf.where(size <= 1.0, tf.zeros_like(coord), mapped)
        return tf.clip_by_value(mapped, 0.0, last)
    # "wrap", as the op has it (it divides by size - 1, not size).
    span = size - 1.0
    low = coord + size * (_trunc_div(-coord, span) + 1.0)
    high = coord - size * _trunc_div(coord, span)
    mapped = tf.where(coord < 0.0, low, tf.where(coord > size - 1.0, high, coord))
    mapped = tf.where(size <= 1.0, tf.zeros_like(coord), mapped)  # a 1-pixel side
    return tf.clip_by_value(mapped, 0.0, last)


def _resample(images, transforms, fill_value, output_size, interpolation, fill_mode):
    # Sizes are read at run time: one traced graph serves every shape (XLA still
    # compiles one program per shape it meets).
    shape = tf.shape(images)
    height, width, channels = shape[1], shape[2], shape[3]
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    out_h, out_w = output_size
    ys = tf.range(out_h, dtype=tf.float32)[:, None]
    xs = tf.range(out_w, dtype=tf.float32)[None, :]
    t = [transforms[:, i, None, None] for i in range(8)]
    projection = t[6] * xs + t[7] * ys + 1.0
    defined = projection != 0.0  # k = 0: the op gives the fill value
    safe = tf.where(defined, projection, 1.0)
    x = _map_coordinate(tf.where(defined, (t[0] * xs + t[1] * ys + t[2]) / safe, 0.0), w,
                        fill_mode)
    y = _map_coordinate(tf.where(defined, (t[3] * xs + t[4] * ys + t[5]) / safe, 0.0), h,
                        fill_mode)
    # Each image's pixels as rows, gathered per image with int32 indices.
    pixels = tf.reshape(images, tf.stack([shape[0], -1, channels]))

    def read(yi, xi, weight):
        """`(weight of pixel (yi, xi), the pixels)` at whole-number float coordinates.

        Everything that decides between a pixel and the fill value is a per-pixel
        weight (the fill value takes what the pixels do not), not a per-channel select:
        XLA then fuses the whole output into one loop. Mapped coordinates lie in
        `[0, size - 1]`, where a neighbour outside the image has weight 0, so only
        `"constant"` (unmapped) checks bounds; reads are clipped into the image.
        """
        keep = defined
        if fill_mode == "constant":
            keep = keep & (yi >= 0.0) & (yi < h) & (xi >= 0.0) & (xi < w)
        row = tf.cast(tf.clip_by_value(yi, 0.0, h - 1.0), tf.int32)
        col = tf.cast(tf.clip_by_value(xi, 0.0, w - 1.0), tf.int32)
        values = tf.gather(pixels, row * width + col, batch_dims=1)
        return weight * tf.cast(keep, tf.float32), values

    if interpolation == "nearest":
        # std::round: halves away from zero.
        terms = [read(tf.sign(y) * tf.floor(tf.abs(y) + 0.5),
                      tf.sign(x) * tf.floor(tf.abs(x) + 0.5), 1.0)]
    else:
        y0, x0 = tf.floor(y), tf.floor(x)
        y1, x1 = y0 + 1.0, x0 + 1.0
        # The op: ((x1 - x) f00 + (x - x0) f01) (y1 - y) + (...) (y - y0), as weights.
        terms = [read(y0, x0, (y1 - y) * (x1 - x)), read(y0, x1, (y1 - y) * (x - x0)),
                 read(y1, x0, (y - y0) * (x1 - x)), read(y1, x1, (y - y0) * (x - x0))]
    out = 0.0
    kept = 0.0
    for weight, values in terms:
        out += weight[..., None] * values
        kept += weight
    out += (1.0 - kept)[..., None] * fill_value
    return tf.ensure_shape(out, [images.shape[0], out_h, out_w, images.shape[3]])


_compiled = tf.function(_resample, jit_compile=True, reduce_retracing=True)


def _contrast(images, contrast, low, high):
    mean = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
    return tf.clip_by_value(images * contrast + mean * (1.0 - contrast), low, high)


_compiled_contrast = tf.function(_contrast, jit_compile=True, reduce_retracing=True)


def contrast(images, contrast, low, high):
    """Each image's pixels moved towards (factor < 1) or away from its per-channel mean:
    `clip(x * c + mean * (1 - c), low, high)`, `contrast` of shape (B, 1, 1, 1)
    (2x faster than the same Keras ops on a 64x128x128x3 batch)."""
    return _compiled_contrast(images, tf.cast(contrast, tf.float32),
                              tf.constant(low, tf.float32), tf.constant(high, tf.float32))


def static_batch(images) -> bool:
    """Whether these kernels take `images`: a float32 4-D batch whose height, width and
    channels are known when traced (XLA compiles one program per shape)."""
    shape = images.shape
    return (
        images.dtype == tf.float32
        and shape.rank == 4
        and None not in (shape[1], shape[2], shape[3])
    )


def supports(images, interpolation: str, fill_mode: str) -> bool:
    """Whether `resample` takes this batch: `static_batch`, and an interpolation and
    fill mode of the op's."""
    return static_batch(images) and interpolation in INTERPOLATIONS and fill_mode in FILL_MODES


def resample(images, transforms, *, output_size=None, interpolation="bilinear",
             fill_mode="reflect", fill_value=0.0):
    """`images` (B, H, W, C) float32 through `transforms` (B, 8), as the op does."""
    if output_size is None:
        output_size = (images.shape[1], images.shape[2])
    return _compiled(
        images,
        tf.cast(transforms, tf.float32),
        tf.constant(fill_value, tf.float32),
        (int(output_size[0]), int(output_size[1])),
        interpolation,
        fill_mode,
    )
