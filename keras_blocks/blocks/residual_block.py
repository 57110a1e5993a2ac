"""ResidualBlock: the ResNet basic and bottleneck blocks (v1.5 or v1 stride placement)."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.blocks._base import Block, build_chain, conv_output_length, propagate_nan
from keras_blocks.blocks.squeeze_excite import SqueezeExcite
from keras_blocks.blocks.stochastic_depth import StochasticDepth

_VARIANTS = ("basic", "bottleneck")
_DEFAULT_EXPANSION = {"basic": 1, "bottleneck": 4}
_STRIDE_ON = ("spatial", "first")


@keras.saving.register_keras_serializable(package="keras_blocks")
class ResidualBlock(Block):
    """A ResNet block: `activation(branch(x) + shortcut(x))`.

    `variant="basic"` (ResNet-18/34): two `kernel_size` convolutions with `filters`
    channels. `variant="bottleneck"` (ResNet-50 and deeper): a 1x1 convolution down to
    `filters`, a `kernel_size` convolution, and a 1x1 convolution up to
    `filters * expansion`. Each convolution is followed by `norm`; the activation follows
    every norm except the last, and is applied again after the addition. By default the
    stride sits in the first `kernel_size` convolution (ResNet v1.5: the 3x3 of a
    bottleneck); `stride_on="first"` puts it in the branch's first convolution (the
    original ResNet v1 of `keras.applications.ResNet50`: the first 1x1 of a bottleneck).

    With `se_ratio > 0`, a [`SqueezeExcite`][keras_blocks.SqueezeExcite] gate rescales the
    branch's channels after its last norm, before the addition (SE-ResNet, Hu et al.,
    2018).

    The shortcut is the identity when the block keeps the shape, and a projection
    (1x1 convolution with the block's stride, then `norm`) when the stride or the channel
    count changes. It is decided at build time from the input shape; `use_projection=True`
    forces one.

    Args:
        filters: channels of the branch's convolutions (int >= 1). The block outputs
            `filters * expansion` channels.
        variant: `"basic"` (default) or `"bottleneck"`.
        strides: int or pair; the block's downsampling (1 keeps the size).
        kernel_size: int or pair, the spatial convolutions' window (default 3).
        expansion: output channels per `filters`. `None` (default) means 1 for `"basic"`
            and 4 for `"bottleneck"`. A basic block only allows 1.
        norm: `"batch"` (default), `"sync_batch"`, `"layer"`, `"group"`, `"instance"`, a
            layer (cloned per use), a registered name, or `None`.
        activation: a name (`"relu"`, `"swish"`, ...), a layer, a callable or `None`.
        drop_path: stochastic-depth rate on the branch, in [0, 1)
            (see [`StochasticDepth`][keras_blocks.StochasticDepth]).
        zero_init_residual: initialize the scale (gamma) of the branch's last norm to zero,
            so that every block starts as the identity (Goyal et al., 2017). Needs a norm
            with a `gamma_initializer`.
        use_projection: `None` (default: project only when the shape changes) or `True`
            (always project).
        use_bias: convolution bias; `None` (default) means "only when `norm` is `None`".
        norm_momentum: momentum of batch normalization.
        norm_epsilon: epsilon of the normalization, `None` for the norm's default.
        seed: seed of the drop-path generator (`None`: random).
        kernel_initializer: initializer of every convolution kernel.
        bias_initializer: initializer of the convolution biases.
        kernel_regularizer: regularizer of every convolution kernel.
        bias_regularizer: regularizer of the convolution biases.
        stride_on: which branch convolution strides: `"spatial"` (default; the first
            `kernel_size` convolution, ResNet v1.5) or `"first"` (the branch's first
            convolution, ResNet v1; the same as `"spatial"` for a basic block).
        se_ratio: squeeze-excite width as a fraction of the block's output channels,
            `max(1, int(C * se_ratio))`, in [0, 1]; 0 (default) means no squeeze-excite
            (SENet uses 1/16).
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, channels last; integer images are cast
        to float.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), channels_out)`, with
        `channels_out = filters * expansion` (the bottleneck's expansion; `filters`
        for the basic variant).

    Call arguments:
        - `inputs`: the feature map.
        - `training`: whether batch normalization (and dropout, stochastic depth)
          run in training mode; Keras sets it (`fit`: true, `predict`/`evaluate`:
          false).

    Raises:
        ValueError: at construction for a bad argument; at build for an input that is
            not rank 4 or has no known channel count.

    Example:
        ```python
        import numpy as np
        from keras_blocks import ResidualBlock

        block = ResidualBlock(16, variant="bottleneck", strides=2)
        block(np.zeros((2, 32, 32, 3), "float32")).shape  # (2, 16, 16, 64)
        block.projection is not None  # True: the shape changed
        ```
    """

    def __init__(
        self,
        filters,
        variant="basic",
        strides=1,
        kernel_size=3,
        expansion=None,
        norm="batch",
        activation="relu",
        drop_path=0.0,
        zero_init_residual=False,
        use_projection=None,
        use_bias=None,
        norm_momentum=0.99,
        norm_epsilon=None,
        seed=None,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        stride_on="spatial",
        se_ratio=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = "ResidualBlock"
        self.filters = check.positive_int(owner, "filters", filters)
        self.variant = check.one_of(owner, "variant", variant, _VARIANTS)
        self.strides = check.int_tuple(owner, "strides", strides)
        self.kernel_size = check.int_tuple(owner, "kernel_size", kernel_size)
        if expansion is not None:
            expansion = check.positive_int(owner, "expansion", expansion)
            if variant == "basic" and expansion != 1:
                raise ValueError(
                    f"{owner}: `expansion` must be None or 1 for variant='basic' (a basic "
                    f"block outputs `filters` channels); got {expansion!r}. Use "
                    "variant='bottleneck' to expand."
                )
        self.expansion = expansion
        self.stride_on = check.one_of(owner, "stride_on", stride_on, _STRIDE_ON)
        self.se_ratio = check.fraction(owner, "se_ratio", se_ratio, include_high=True)
        self.norm = registry.resolve("norm", norm)
        self.activation = registry.resolve("activation", activation)
        self.drop_path = check.fraction(owner, "drop_path", drop_path)
        if not isinstance(zero_init_residual, bool):
            raise ValueError(
                f"{owner}: `zero_init_residual` must be True or False; got {zero_init_residual!r}."
            )
        if zero_init_residual and self.norm is None:
            raise ValueError(
                f"{owner}: `zero_init_residual=True` zeroes the last norm's scale, so it needs "
                "a `norm`; got norm=None."
            )
        self.zero_init_residual = zero_init_residual
        if use_projection not in (None, True):
            raise ValueError(
                f"{owner}: `use_projection` must be None (project when the shape changes) or "
                f"True (always); got {use_projection!r}."
            )
        self.use_projection = use_projection
        if use_bias is not None and not isinstance(use_bias, bool):
            raise ValueError(f"{owner}: `use_bias` must be None, True or False; got {use_bias!r}.")
        self.use_bias = use_bias
        self.norm_momentum = check.fraction(owner, "norm_momentum", norm_momentum)
        if norm_epsilon is not None:
            norm_epsilon = check.non_negative(owner, "norm_epsilon", norm_epsilon)
        self.norm_epsilon = norm_epsilon
        if seed is not None:
            seed = check.positive_int(owner, "seed", seed, minimum=0)
        self.seed = seed
        self._init_weight_arguments(
            kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )

        self.output_channels = self.filters * (
            expansion if expansion is not None else _DEFAULT_EXPANSION[self.variant]
        )
        if zero_init_residual and isinstance(self.norm, keras.layers.Layer) and not hasattr(
            self.norm, "gamma_initializer"
        ):
            raise ValueError(
                f"{owner}: `zero_init_residual=True` needs a norm with a `gamma_initializer` "
                f"(batch, layer, group...); got norm={self.norm!r}."
            )
        # Made in build (see keras_blocks._composed).
        self.convs, self.norms, self.activations = [], [], []
        self.drop_path_layer = self.add_layer = self.output_activation = None
        self.projection = self.projection_norm = self.se = None

    def _plan(self):
        """`(channels, kernel, strides)` of each branch convolution."""
        if self.variant == "basic":
            return [
                (self.filters, self.kernel_size, self.strides),
                (self.output_channels, self.kernel_size, (1, 1)),
            ]
        first = self.stride_on == "first"
        return [
            (self.filters, (1, 1), self.strides if first else (1, 1)),
            (self.filters, self.kernel_size, (1, 1) if first else self.strides),
            (self.output_channels, (1, 1), (1, 1)),
        ]

    def _branch(self):
        layers = []
        for conv, norm, act in zip(self.convs, self.norms, self.activations, strict=True):
            layers.extend((conv, norm, act))
        return layers

    def needs_projection(self, input_shape) -> bool:
        """Whether an input of `input_shape` gets a projection shortcut (else identity)."""
        return bool(
            self.use_projection
            or self.strides != (1, 1)
            or input_shape[-1] != self.output_channels
        )

    def build(self, input_shape):
        self._check_image_shape(input_shape)
        bias = (self.norm is None) if self.use_bias is None else self.use_bias
        plan = self._plan()
        self.convs, self.norms, self.activations = [], [], []
        for i, (channels, kernel, stride) in enumerate(plan):
            last = i == len(plan) - 1
            self.convs.append(self.make_conv(channels, kernel, name=f"conv{i}", strides=stride,
                                             use_bias=bias))
            self.norms.append(self.make_norm(channels, name=f"norm{i}",
                                             zero_scale=last and self.zero_init_residual))
            self.activations.append(None if last else self.make_act(self.activation,
                                                                    name=f"act{i}"))
        self.drop_path_layer = (
            StochasticDepth(self.drop_path, seed=self.seed, name="drop_path",
                            dtype=self.dtype_policy)
            if self.drop_path > 0
            else None
        )
        self.add_layer = keras.layers.Add(name="add", dtype=self.dtype_policy)
        self.output_activation = self.make_act(self.activation, name="act_out")
        branch_shape = build_chain(self._branch(), input_shape, owner=self)
        if self.se_ratio > 0:
            self.se = SqueezeExcite(
                squeeze_channels=max(1, int(self.output_channels * self.se_ratio)),
                activation=self.activation,
                name="se",
                dtype=self.dtype_policy,
                trainable=self.trainable,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                kernel_regularizer=self.kernel_regularizer,
                bias_regularizer=self.bias_regularizer,
            )
            self.se.build(branch_shape)
        if self.needs_projection(input_shape):
            self.projection = self.make_conv(self.output_channels, (1, 1), name="projection",
                                             strides=self.strides, use_bias=bias)
            self.projection_norm = self.make_norm(self.output_channels, name="projection_norm")
            build_chain([self.projection, self.projection_norm], input_shape)
        if self.drop_path_layer is not None:
            self.drop_path_layer.build(branch_shape)
        self.add_layer.build([branch_shape, branch_shape])
        self.output_activation.build(branch_shape)
        self.built = True

    def call(self, inputs, training=None):
        inputs = self._float_inputs(inputs)
        x = inputs
        for conv, norm, act in zip(self.convs, self.norms, self.activations, strict=True):
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            if act is not None:
                x = act(x)
        if self.se is not None:
            x = self.se(x)
        if self.drop_path_layer is not None:
            x = self.drop_path_layer(x, training=training)
        shortcut = inputs
        if self.projection is not None:
            shortcut = self.projection(inputs)
            if self.projection_norm is not None:
                shortcut = self.projection_norm(shortcut, training=training)
        outputs = self.output_activation(self.add_layer([x, shortcut]))
        # The squeeze-excite's global pooling spreads a NaN over its whole sample.
        return propagate_nan(inputs, outputs, self.convs if self.se is None else
                             [*self.convs, "all"])

    def compute_output_shape(self, input_shape):
        height = conv_output_length(input_shape[1], self.kernel_size[0], self.strides[0], "same")
        width = conv_output_length(input_shape[2], self.kernel_size[1], self.strides[1], "same")
        return (input_shape[0], height, width, self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "variant": self.variant,
                "strides": self.strides,
                "kernel_size": self.kernel_size,
                "expansion": self.expansion,
                "stride_on": self.stride_on,
                "se_ratio": self.se_ratio,
                "norm": registry.serialize_spec(self.norm),
                "activation": registry.serialize_spec(self.activation),
                "drop_path": self.drop_path,
                "zero_init_residual": self.zero_init_residual,
                "use_projection": self.use_projection,
                "use_bias": self.use_bias,
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                "seed": self.seed,
                **self._weight_config(),
            }
        )
        return config


registry.register("block", "residual", ResidualBlock)
