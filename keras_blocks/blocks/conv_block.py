"""ConvBlock: the course's reusable block of convolutions, then pooling."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.blocks._base import (
    Block,
    build_chain,
    chain_output_shape,
    conv_output_length,
    propagate_nan,
)

_PADDINGS = ("same", "valid")
_POOL_AT = ("end", "first")


@keras.saving.register_keras_serializable(package="keras_blocks")
class ConvBlock(Block):
    """`repeats` x (convolution, optional normalization, activation), then pooling and dropout.

    This is the unit the course stacks into a custom convnet: a few convolutions that
    keep the spatial size, then a pooling layer that halves it. Only the first
    convolution uses `strides`; later ones keep the size.

    Args:
        filters: output channels of every convolution (int >= 1).
        kernel_size: int or `(height, width)`, default 3.
        repeats: how many convolution/norm/activation triples (int >= 1).
        strides: int or pair, applied by the first convolution only.
        padding: `"same"` (default) or `"valid"`.
        norm: `None` (default), `"batch"`, `"sync_batch"`, `"layer"`, `"group"`,
            `"instance"`, a Keras layer (cloned per repeat), or any name registered with
            [`keras_blocks.registry`][keras_blocks.registry].
        activation: a name (`"relu"`, `"relu6"`, `"swish"`, `"gelu"`, ...), a layer, a
            callable, or `None` for linear.
        pool: `"max"` (default), `"avg"`, `None`, or a pooling layer.
        pool_size: int or pair, the pooling window and stride (default 2).
        pool_padding: `"valid"` (default; odd sizes round down) or `"same"`.
        pool_at: where the pooling goes: `"end"` (default; after the last activation,
            as the course's blocks do) or `"first"` (right after the first convolution,
            before its normalization and activation, so every later normalization,
            activation and convolution runs at the pooled size: the order of fast
            CIFAR-10 recipes, about 4x less work outside the first convolution).
        dropout: dropout rate after pooling, in [0, 1).
        separable: use depthwise-separable convolutions (fewer weights).
        use_bias: convolution bias; default `None` means "only when `norm` is `None`"
            (a normalization layer brings its own shift).
        norm_momentum: momentum of batch normalization.
        norm_epsilon: epsilon of the normalization, `None` for the norm's default.
        kernel_initializer: initializer of every convolution kernel (for separable
            convolutions, of both the depthwise and pointwise kernels).
        bias_initializer: initializer of the convolution biases.
        kernel_regularizer: regularizer of every convolution kernel.
        bias_regularizer: regularizer of the convolution biases.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, channels last; integer images are cast
        to float.

    Output shape:
        `(batch, new_height, new_width, filters)`: the size shrinks by `strides`, by
        the kernel with `padding="valid"`, and by the pooling when `pool` is set
        (`compute_output_shape` gives it exactly).

    Call arguments:
        - `inputs`: the images or feature map.
        - `training`: whether batch normalization (and dropout, stochastic depth)
          run in training mode; Keras sets it (`fit`: true, `predict`/`evaluate`:
          false).

    Example:
        ```python
        import numpy as np
        from keras_blocks import ConvBlock

        block = ConvBlock(filters=8, repeats=2)
        block(np.zeros((2, 32, 32, 3), "float32")).shape  # (2, 16, 16, 8)
        ```
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        repeats=1,
        strides=1,
        padding="same",
        norm=None,
        activation="relu",
        pool="max",
        pool_size=2,
        pool_padding="valid",
        pool_at="end",
        dropout=0.0,
        separable=False,
        use_bias=None,
        norm_momentum=0.99,
        norm_epsilon=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = "ConvBlock"
        self.filters = check.positive_int(owner, "filters", filters)
        self.kernel_size = check.int_tuple(owner, "kernel_size", kernel_size)
        self.repeats = check.positive_int(owner, "repeats", repeats)
        self.strides = check.int_tuple(owner, "strides", strides)
        self.padding = check.one_of(owner, "padding", padding, _PADDINGS)
        self.norm = registry.resolve("norm", norm)
        self.activation = registry.resolve("activation", activation)
        self.pool = registry.resolve("pool", pool)
        self.pool_size = check.int_tuple(owner, "pool_size", pool_size)
        self.pool_padding = check.one_of(owner, "pool_padding", pool_padding, _PADDINGS)
        self.pool_at = check.one_of(owner, "pool_at", pool_at, _POOL_AT)
        self.dropout = check.fraction(owner, "dropout", dropout)
        if not isinstance(separable, bool):
            raise ValueError(f"ConvBlock: `separable` must be True or False; got {separable!r}.")
        if separable and self.strides[0] != self.strides[1]:
            raise ValueError(
                "ConvBlock: `separable=True` needs equal strides along height and width "
                f"(depthwise convolutions support no other); got strides={strides!r}."
            )
        self.separable = separable
        if use_bias is not None and not isinstance(use_bias, bool):
            raise ValueError(
                f"ConvBlock: `use_bias` must be None, True or False; got {use_bias!r}."
            )
        self.use_bias = use_bias
        self.norm_momentum = check.fraction(owner, "norm_momentum", norm_momentum)
        if norm_epsilon is not None:
            norm_epsilon = check.non_negative(owner, "norm_epsilon", norm_epsilon)
        self.norm_epsilon = norm_epsilon
        self._init_weight_arguments(
            kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )

        # Made in build (see keras_blocks._composed): convs, norms, activations, pool,
        # dropout.
        self.convs, self.norms, self.activations = [], [], []
        self.pool_layer = self.dropout_layer = None

    def _sequence(self):
        """Every sublayer in call order (`None` where a step is absent)."""
        layers = []
        for i, (conv, norm, act) in enumerate(
            zip(self.convs, self.norms, self.activations, strict=True)
        ):
            layers.append(conv)
            if i == 0 and self.pool_at == "first":
                layers.append(self.pool_layer)
            layers.extend((norm, act))
        if self.pool_at == "end":
            layers.append(self.pool_layer)
        layers.append(self.dropout_layer)
        return layers

    def build(self, input_shape):
        self._check_image_shape(input_shape)
        bias = (self.norm is None) if self.use_bias is None else self.use_bias
        self.convs, self.norms, self.activations = [], [], []
        for i in range(self.repeats):
            self.convs.append(self.make_conv(
                self.filters, self.kernel_size, name=f"conv{i}",
                strides=self.strides if i == 0 else 1, padding=self.padding, use_bias=bias,
                separable=self.separable,
            ))
            self.norms.append(self.make_norm(self.filters, name=f"norm{i}"))
            self.activations.append(self.make_act(self.activation, name=f"act{i}"))
        self.pool_layer = self.make_pool(
            self.pool, name="pool", pool_size=self.pool_size, padding=self.pool_padding
        )
        self.dropout_layer = self.make_dropout(self.dropout, name="dropout")
        build_chain(self._sequence(), input_shape, owner=self)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs = self._float_inputs(inputs)
        for layer in self._sequence():
            if layer is not None:
                # Keras hands `training` on only to layers whose call takes it.
                x = layer(x, training=training)
        return propagate_nan(inputs, x, self._sequence())

    def compute_output_shape(self, input_shape):
        if self.built:
            return chain_output_shape(self._sequence(), input_shape)
        # Before build: the same arithmetic, without making the sublayers.
        batch, height, width = input_shape[:3]
        for i in range(self.repeats):
            strides = self.strides if i == 0 else (1, 1)
            height = conv_output_length(height, self.kernel_size[0], strides[0], self.padding)
            width = conv_output_length(width, self.kernel_size[1], strides[1], self.padding)
            if i == 0 and self.pool_at == "first" and self.pool is not None:
                height, width = self._pooled(batch, height, width)
        if self.pool_at == "end" and self.pool is not None:
            height, width = self._pooled(batch, height, width)
        if any(d is not None and d < 1 for d in (height, width)):
            raise ValueError(
                f"ConvBlock: input shape {tuple(input_shape)} is too small for this block; "
                f"it would give {(batch, height, width, self.filters)}."
            )
        return (batch, height, width, self.filters)

    def _pooled(self, batch, height, width):
        if isinstance(self.pool, keras.layers.Layer):
            return tuple(self.pool.compute_output_shape((batch, height, width, self.filters)))[1:3]
        return tuple(
            conv_output_length(length, size, size, self.pool_padding)
            for length, size in zip((height, width), self.pool_size, strict=True)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "repeats": self.repeats,
                "strides": self.strides,
                "padding": self.padding,
                "norm": registry.serialize_spec(self.norm),
                "activation": registry.serialize_spec(self.activation),
                "pool": registry.serialize_spec(self.pool),
                "pool_size": self.pool_size,
                "pool_padding": self.pool_padding,
                "pool_at": self.pool_at,
                "dropout": self.dropout,
                "separable": self.separable,
                "use_bias": self.use_bias,
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                **self._weight_config(),
            }
        )
        return config


registry.register("block", "conv", ConvBlock)
