"""What every keras_blocks block shares: the input check and shape arithmetic."""

from __future__ import annotations

import keras

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

    def _float_inputs(self, inputs):
        """Integer (or bool) images cast to the compute dtype, as Keras' preprocessing
        layers do; float inputs pass as they are (Keras already casts them)."""
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "float" in dtype:
            return inputs
        return keras.ops.cast(inputs, self.compute_dtype)


def propagate_nan(inputs, outputs, layers):
    """`outputs`, set to NaN wherever a NaN of `inputs` reaches through `layers`.

    Keras' layers propagate NaN, and so do JAX and PyTorch, but TensorFlow swallows it
    in two places: its max pooling (on CPU, and on GPU unless `TF_ENABLE_MAXPOOL_NANPROP`
    is set) skips NaN, so an all-NaN image came out as -3.4e38; and in a graph
    (`model.fit`, `predict`, `tf.function`) its optimizer fuses convolution + bias +
    ReLU (+ residual add) into one kernel that turns NaN into 0. On TensorFlow, this
    follows the NaN pixels of `inputs` through the windows of the convolutions and
    poolings of `layers` (the path that made `outputs`, channels-last) on a one-channel
    mask, a few small poolings next to the convolutions, and puts the NaN back in every
    channel of the outputs they reach. In `layers`, `None` is skipped, a plain function
    is applied to the mask (explicit padding), and `"all"` (or a layer that changes the
    spatial size in another way) spreads a NaN over its whole sample, as a global
    pooling does. Finite outputs away from NaN are returned bit for bit as they were.
    """
    if keras.backend.backend() != "tensorflow":
        return outputs
    ops = keras.ops
    nan_pixels = ops.any(ops.isnan(inputs), axis=-1, keepdims=True)
    # Most batches hold no NaN: one reduction, and the outputs pass untouched.
    return ops.cond(
        ops.any(nan_pixels),
        lambda: _put_nan_back(ops.cast(nan_pixels, "float32"), outputs, layers),
        lambda: outputs,
    )


def _put_nan_back(mask, outputs, layers):
    ops = keras.ops
    for layer in layers:
        if layer is None:
            continue
        if callable(layer) and not isinstance(layer, keras.layers.Layer):
            mask = layer(mask)
            continue
        window = "all" if isinstance(layer, str) else _nan_window(layer)
        if window == "all":
            mask = ops.max(mask, axis=(1, 2), keepdims=True)  # the whole sample
            break
        if window is not None:
            mask = ops.max_pool(mask, *window)
    return ops.where(mask > 0, ops.full_like(outputs, float("nan")), outputs)


# Layers that keep the spatial layout: a NaN stays where it is (or, in normalizations
# over several pixels, spreads by itself, which needs no help).
_POINTWISE = (
    keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU,
    keras.layers.PReLU, keras.layers.Softmax, keras.layers.Identity, keras.layers.Dropout,
    keras.layers.BatchNormalization, keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
)


def _nan_window(layer):
    """`(size, strides, padding)` of a convolution or pooling window, `None` for a
    pointwise layer, `"all"` for any other."""
    if isinstance(layer, _POINTWISE):
        return None
    size = getattr(layer, "pool_size", None) or getattr(layer, "kernel_size", None)
    strides, padding = getattr(layer, "strides", None), getattr(layer, "padding", None)
    dilation = tuple(getattr(layer, "dilation_rate", (1, 1)) or (1, 1))
    if size is None or strides is None or padding not in ("same", "valid") or any(
        d != 1 for d in dilation
    ) or getattr(layer, "data_format", "channels_last") != "channels_last":
        return "all"
    return tuple(size), tuple(strides), padding


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
