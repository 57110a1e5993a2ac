"""What every keras_blocks block shares: weight-argument plumbing and shape checks."""

from __future__ import annotations

from typing import Any

import keras

from keras_blocks import _validation as check

_WEIGHT_ARGUMENTS = (
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
)


class Block(keras.layers.Layer):
    """Base class of the keras_blocks convolutional blocks (channels-last, rank 4).

    It keeps the initializer/regularizer pass-through in one place: subclasses call
    `self._init_weight_arguments(...)` in `__init__`, build their convolutions with
    `**self._weight_kwargs()` and add `self._weight_config()` to `get_config`.
    Sublayers are created with the block's dtype policy so mixed precision reaches them.
    """

    def _init_weight_arguments(
        self,
        kernel_initializer: Any = "he_normal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
    ) -> None:
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _weight_kwargs(self, *, depthwise: bool = False) -> dict:
        """Arguments for a Conv2D (or, with `depthwise`, a DepthwiseConv2D)."""
        if depthwise:
            return {
                "depthwise_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
                "depthwise_regularizer": self.kernel_regularizer,
                "bias_regularizer": self.bias_regularizer,
                "dtype": self.dtype_policy,
            }
        return {
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "kernel_regularizer": self.kernel_regularizer,
            "bias_regularizer": self.bias_regularizer,
            "dtype": self.dtype_policy,
        }

    def _weight_config(self) -> dict:
        return {
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
            if self.kernel_regularizer is not None
            else None,
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer)
            if self.bias_regularizer is not None
            else None,
        }

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
