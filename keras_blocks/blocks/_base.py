"""What every keras_blocks block shares: the input check and shape arithmetic."""

from __future__ import annotations

from keras_blocks import _validation as check
from keras_blocks._composed import ComposedLayer


class Block(ComposedLayer):
    """Base class of the keras_blocks convolutional blocks (channels-last, rank 4).

    Sublayers are made in `build` with the `make_*` methods of
    `keras_blocks._composed.ComposedLayer` (each with its own initializers, the block's
    dtype policy and `trainable` flag); this class adds the input-shape check.
    """

    def _check_image_shape(self, input_shape) -> int:
        """Rank-4 channels-last input with a known channel count; returns the channels."""
        check.shape_rank(
            type(self).__name__, input_shape, (4,), "(batch, height, width, channels)"
        )
        return check.known_channels(type(self).__name__, input_shape)


def build_chain(layers, input_shape, owner=None):
    """Builds `layers` one after the other; returns the final output shape.

    With `owner` (the block), an input too small for the chain raises a `ValueError`
    that names the block and the input shape instead of a sublayer's internals.
    """
    shape = tuple(input_shape)
    for layer in layers:
        if layer is None:
            continue
        if owner is not None:
            _check_fits(owner, layer, shape, input_shape)
        if not layer.built:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def _check_fits(owner, layer, shape, input_shape):
    try:
        out = tuple(layer.compute_output_shape(shape))
    except ValueError as error:
        out, cause = None, error
    else:
        cause = None
        if len(out) == 4 and all(d is None or d >= 1 for d in out[1:3]):
            return
    raise ValueError(
        f"{type(owner).__name__}: input shape {tuple(input_shape)} is too small for this "
        f"block; its sublayer {layer.name!r} would get {shape}"
        + (f" and give {out}." if out else f" ({cause}).")
    )


def chain_output_shape(layers, input_shape):
    """The output shape of `layers` applied in order, without building anything."""
    shape = tuple(input_shape)
    for layer in layers:
        if layer is not None:
            shape = tuple(layer.compute_output_shape(shape))
    return shape


def conv_output_length(length, kernel_size, stride, padding, dilation=1):
    """Spatial output length of a convolution or pooling window (`None` stays `None`)."""
    if length is None:
        return None
    if padding == "same":
        return (length + stride - 1) // stride
    effective = (kernel_size - 1) * dilation + 1
    return (length - effective) // stride + 1


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """`value` rounded to the nearest multiple of `divisor`, never more than 10% below it.

    The rounding rule of MobileNet and EfficientNet channel counts (used by
    `SqueezeExcite` and the MobileNet builders).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)
