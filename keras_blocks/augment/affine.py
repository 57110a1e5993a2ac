"""The fused geometry: per-sample 3x3 matrices and one resampling pass.

Every affine layer (flip, rotation, translation, width stretch, zoom, shear,
resized crop) describes its random transform of sample `i` as a 3x3 matrix `M_i` that
maps a pixel of the OUTPUT image to the point of the INPUT image it is read from, in
pixel coordinates `(x, y, 1)` with `x` the column and `y` the row (pixel centres at
integers). That is the convention of `keras.ops.image.affine_transform`.

Applying layer 1 and then layer 2 reads output pixel `p` from `M_1 @ M_2 @ p` of the
original image, so a chain of geometric layers is ONE matrix per sample,
`M = M_1 @ M_2 @ ... @ M_k`, and ONE interpolation instead of k: faster, and sharper
(bilinear interpolation blurs a little each time).

Functions here take `b`, the backend ops (`keras.ops`' backend functions, see
`keras_blocks.augment.AugmentationLayer`).
"""

from __future__ import annotations

import math

import keras

from keras_blocks import _validation as check
from keras_blocks.augment._base import AugmentationLayer, batch_size, image_size

INTERPOLATIONS = ("bilinear", "nearest")
# On TensorFlow, batches with a static image size are resampled by `_tf_xla` (its
# own XLA-compiled function); any other goes through TensorFlow's resampling op
# (ImageProjectiveTransformV3), which has no XLA kernel: so layers that warp tell Keras
# they do not compile, and `jit_compile=True` falls back to a plain graph on TensorFlow
# (with Keras' warning). JAX and PyTorch resample with ordinary ops and compile.
XLA_WARP = keras.backend.backend() != "tensorflow"
FILL_MODES = ("reflect", "constant", "nearest", "wrap")


def _f(b, value):
    return b.cast(value, "float32")


def from_rows(b, a0, a1, a2, b0, b1, b2):
    """(B, 3, 3) affine matrices from six (B,) rows entries."""
    zeros = b.numpy.zeros_like(a0)
    ones = b.numpy.ones_like(a0)
    rows = b.numpy.stack([a0, a1, a2, b0, b1, b2, zeros, zeros, ones], axis=-1)
    return b.numpy.reshape(rows, (-1, 3, 3))


def identity(b, n):
    """(n, 3, 3) identity matrices."""
    one = b.numpy.ones((n,), "float32")
    zero = b.numpy.zeros((n,), "float32")
    return from_rows(b, one, zero, zero, zero, one, zero)


def flip(b, flip_x, flip_y, height, width):
    """Mirror columns where `flip_x` (0/1 per sample) and rows where `flip_y`."""
    flip_x, flip_y = _f(b, flip_x), _f(b, flip_y)
    zero = b.numpy.zeros_like(flip_x)
    return from_rows(
        b, 1.0 - 2.0 * flip_x, zero, flip_x * (_f(b, width) - 1.0),
        zero, 1.0 - 2.0 * flip_y, flip_y * (_f(b, height) - 1.0),
    )


def rotation(b, angles, height, width):
    """Rotate by `angles` (radians; positive = counter-clockwise on screen) about the
    image centre."""
    cx, cy = (_f(b, width) - 1.0) / 2.0, (_f(b, height) - 1.0) / 2.0
    c, s = b.numpy.cos(angles), b.numpy.sin(angles)
    return from_rows(b, c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy)


def translation(b, dx, dy):
    """Shift the content right by `dx` and down by `dy` pixels."""
    one = b.numpy.ones_like(dx)
    zero = b.numpy.zeros_like(dx)
    return from_rows(b, one, zero, -dx, zero, one, -dy)


def scaling(b, read_x, read_y, height, width):
    """Read the input at `read` times the distance from the centre: `read > 1` zooms
    out (more content), `read < 1` zooms in / stretches."""
    cx, cy = (_f(b, width) - 1.0) / 2.0, (_f(b, height) - 1.0) / 2.0
    zero = b.numpy.zeros_like(read_x)
    return from_rows(b, read_x, zero, cx * (1.0 - read_x), zero, read_y, cy * (1.0 - read_y))


def shear(b, shear_x, shear_y, height, width):
    """Shear about the centre: column `x` reads `x + shear_x * (y - cy)` (and rows
    likewise with `shear_y`)."""
    cx, cy = (_f(b, width) - 1.0) / 2.0, (_f(b, height) - 1.0) / 2.0
    one = b.numpy.ones_like(shear_x)
    return from_rows(b, one, shear_x, -shear_x * cy, shear_y, one, -shear_y * cx)


def crop(b, x0, y0, crop_w, crop_h, out_height, out_width):
    """Read the box (`x0`, `y0`, `crop_w`, `crop_h`) (in input pixels, box edges, not
    centres) into an `out_height` x `out_width` output (half-pixel centres, as resizing)."""
    sx = crop_w / _f(b, out_width)
    sy = crop_h / _f(b, out_height)
    zero = b.numpy.zeros_like(sx)
    return from_rows(b, sx, zero, x0 + 0.5 * sx - 0.5, zero, sy, y0 + 0.5 * sy - 0.5)


def compose(b, matrices):
    """`M_1 @ M_2 @ ... @ M_k`: the matrix of applying layer 1, then 2, ..., then k."""
    result = None
    for m in matrices:
        if m is None:
            continue
        result = m if result is None else b.numpy.matmul(result, m)
    return result


def apply_to_points(b, matrices, points):
    """Maps (B, N, 2) points `(x, y)` through (B, 3, 3) matrices."""
    ones = b.numpy.ones_like(points[..., :1])
    homogeneous = b.numpy.concatenate([points, ones], axis=-1)
    mapped = b.numpy.matmul(homogeneous, b.numpy.transpose(matrices, (0, 2, 1)))
    return mapped[..., :2] / mapped[..., 2:3]


def to_transform(b, matrices):
    """(B, 8) `affine_transform` parameters from (B, 3, 3) matrices."""
    flat = b.numpy.reshape(matrices, (-1, 9))
    return flat[:, :8] / flat[:, 8:9]


def warp(b, images, matrices, *, output_size=None, interpolation="bilinear",
         fill_mode="reflect", fill_value=0.0):
    """Resamples a (B, H, W, C) batch once through per-sample `matrices`.

    Args:
        b: backend ops.
        images: the batch, resampled in float32 (whatever its dtype).
        matrices: (B, 3, 3), output pixel -> input point.
        output_size: `(height, width)` of the result, default the input's. A smaller
            size warps at the input size and keeps the top-left corner; a larger one
            first resizes the input to cover it (one extra interpolation).
        interpolation: `"bilinear"` or `"nearest"`.
        fill_mode: how points outside the input are read: `"reflect"`, `"constant"`,
            `"nearest"`, `"wrap"`.
        fill_value: the value used by `fill_mode="constant"`.

    Returns:
        The resampled batch, float32.
    """
    images = b.cast(images, "float32")
    height, width = image_size(b, images)
    if output_size is not None and tuple(output_size) != (height, width):
        out_h, out_w = output_size
        if not (isinstance(height, int) and isinstance(width, int)):
            raise ValueError(
                "Changing the image size needs a statically known input height and width; "
                f"got shape {tuple(images.shape)}."
            )
        canvas_h, canvas_w = max(height, out_h), max(width, out_w)
        if (canvas_h, canvas_w) != (height, width):
            images = b.image.resize(b.cast(images, "float32"), (canvas_h, canvas_w),
                                    interpolation="bilinear", antialias=False)
            n = batch_size(b, images)
            ones = b.numpy.ones((n,), "float32")
            sx, sy = canvas_w / width, canvas_h / height
            to_canvas = from_rows(b, sx * ones, 0.0 * ones, (0.5 * sx - 0.5) * ones,
                                  0.0 * ones, sy * ones, (0.5 * sy - 0.5) * ones)
            matrices = b.numpy.matmul(to_canvas, matrices)
        out = _affine_transform(b, images, to_transform(b, matrices), interpolation,
                                fill_mode, fill_value, output_size=(out_h, out_w))
        return out[:, :out_h, :out_w, :]
    return _affine_transform(b, images, to_transform(b, matrices), interpolation,
                             fill_mode, fill_value)


def compiled_warp(b, images, *, interpolation="bilinear", fill_mode="reflect", **_):
    """Whether `warp` resamples this batch with the XLA-compiled function (TensorFlow,
    a static image size): one program per batch shape, so callers should not warp
    slices whose size changes from batch to batch."""
    if b.name != "tensorflow":
        return False
    from keras_blocks.augment import _tf_xla

    return _tf_xla.supports(images, interpolation, fill_mode)


def _affine_transform(b, images, transforms, interpolation, fill_mode, fill_value,
                      output_size=None):
    """`keras.ops.image.affine_transform`, or on TensorFlow (batches of a static image
    size) the same resampling compiled with XLA (`_tf_xla`: 3-4x faster on the
    CPU, values equal to the op's up to float rounding)."""
    if compiled_warp(b, images, interpolation=interpolation, fill_mode=fill_mode):
        from keras_blocks.augment import _tf_xla

        return _tf_xla.resample(
            images, transforms, output_size=output_size, interpolation=interpolation,
            fill_mode=fill_mode, fill_value=fill_value)
    return b.image.affine_transform(
        images, transforms, interpolation=interpolation, fill_mode=fill_mode,
        fill_value=fill_value, data_format="channels_last")


class AffineLayer(AugmentationLayer):
    """Base class of the layers whose random transform is one affine matrix per image.

    An affine layer says WHERE each output pixel is read from: `sample_matrices`
    returns one 3x3 matrix per image (see the module docstring). It says nothing about
    HOW points between pixels are read; that is the business of its subclass
    [`GeometricLayer`][keras_blocks.GeometricLayer], which resamples with an
    `interpolation` and a fill. A direct subclass (such as
    [`RandomFlip`][keras_blocks.RandomFlip]) moves whole pixels only: it takes no
    interpolation or fill arguments, applies itself exactly on its own (`augment`), and
    in a [`Pipeline`][keras_blocks.Pipeline] its matrices join the resampling of the
    neighbouring geometric layers, whatever their interpolation.

    Subclasses implement `sample_matrices` and `augment`.

    Args:
        seed: int or `None`.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import AffineLayer, RandomFlip

        flip = RandomFlip("horizontal", seed=0)
        isinstance(flip, AffineLayer)  # True
        flip.sample_matrices(flip.backend, 2, 8, 8, training=True).shape  # (2, 3, 3)
        ```
    """

    @property
    def fuse_key(self):
        """The resampling settings this layer needs (`None`: exact at any): layers of
        a Pipeline whose keys agree, apart from `None`, share one resampling."""
        return None

    def sample_matrices(self, b, n, height, width, training):
        """(n, 3, 3) matrices for a batch of `n` images of `height` x `width`, or
        `None` for the identity."""
        raise NotImplementedError


class GeometricLayer(AffineLayer):
    """Base class of the resampling geometric layers: an affine matrix per image, read
    with interpolation and a fill for the points outside the image.

    A geometric layer alone resamples once; consecutive geometric layers inside a
    [`Pipeline`][keras_blocks.Pipeline] with the same `interpolation`,
    `fill_mode` and `fill_value` share one resampling of the composed matrices.

    Args:
        interpolation: `"bilinear"` (default) or `"nearest"`.
        fill_mode: `"reflect"` (default), `"constant"`, `"nearest"` or `"wrap"`: how
            pixels that come from outside the image are filled.
        fill_value: the value of `fill_mode="constant"`, in the images' units.
        seed: int or `None`.
        **kwargs: standard layer arguments.

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import RandomRotation

        layer = RandomRotation(0.1, seed=1)  # a GeometricLayer
        layer(np.zeros((2, 16, 16, 3), "float32")).shape  # (2, 16, 16, 3)
        ```
    """

    def __init__(self, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = type(self).__name__
        self.interpolation = check.one_of(owner, "interpolation", interpolation,
                                          INTERPOLATIONS)
        self.fill_mode = check.one_of(owner, "fill_mode", fill_mode, FILL_MODES)
        if not isinstance(fill_value, int | float) or isinstance(fill_value, bool) or not (
            math.isfinite(fill_value)
        ):
            raise ValueError(f"{owner}: `fill_value` must be a finite number; got "
                             f"{fill_value!r}.")
        self.fill_value = float(fill_value)
        self.supports_jit = XLA_WARP

    @property
    def fuse_key(self):
        """Layers with equal keys can share one resampling."""
        return (self.interpolation, self.fill_mode, self.fill_value)

    def augment(self, b, images, labels, training):
        height, width = image_size(b, images)
        matrices = self.sample_matrices(b, batch_size(b, images), height, width, training)
        out_size = self.output_image_size(height, width)
        if matrices is None and out_size == (height, width):
            return images, labels
        if matrices is None:
            matrices = identity(b, batch_size(b, images))
        images = warp(b, images, matrices, output_size=out_size, **self._warp_kwargs())
        return images, labels

    def _warp_kwargs(self):
        return {"interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value}

    def get_config(self):
        config = super().get_config()
        config.update({"interpolation": self.interpolation, "fill_mode": self.fill_mode,
                       "fill_value": self.fill_value})
        return config
