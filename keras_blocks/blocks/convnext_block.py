"""ConvNeXtBlock: depthwise 7x7, norm, inverted-bottleneck MLP, layer scale, residual."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.blocks._base import Block, build_chain
from keras_blocks.blocks.stochastic_depth import StochasticDepth


@keras.saving.register_keras_serializable(package="keras_blocks")
class ConvNeXtBlock(Block):
    """The ConvNeXt block (Liu et al., 2022): `x + drop_path(gamma * mlp(norm(dwconv(x))))`.

    A depthwise `kernel_size` convolution mixes space; a layer norm; a pointwise MLP
    (expand to `filters * expansion`, activation, project back to `filters`) mixes
    channels; a learnable per-channel scale `gamma` (the "layer scale", started at
    `layer_scale_init` so that a deep stack starts near the identity) and stochastic
    depth then weight the branch before the residual addition.

    The block never changes the shape: the residual addition needs the input and the
    output to have the same channels. ConvNeXt changes resolution and width in separate
    downsampling layers between stages (a norm and a strided 2x2 convolution); put one
    before the block rather than asking the block to project. A `filters` that differs
    from the input's channel count raises a `ValueError` at build time.

    Args:
        filters: the channel count, which must equal the input's; `None` (default) takes
            it from the input.
        kernel_size: int or pair, the depthwise convolution's window (default 7).
        expansion: width of the MLP's hidden layer per channel (int >= 1, default 4).
        layer_scale_init: initial value of the per-channel scale `gamma` (a number > 0),
            or `None` / `0` for no layer scale.
        drop_path: stochastic-depth rate on the branch, in [0, 1)
            (see [`StochasticDepth`][keras_blocks.StochasticDepth]).
        norm: `"layer"` (default), another registered norm name, a layer (cloned), or
            `None`.
        activation: the MLP's activation: `"gelu"` (default), another name, a layer or a
            callable.
        norm_epsilon: epsilon of the normalization, `None` for the norm's default
            (1e-6 for `"layer"`).
        seed: seed of the drop-path generator (`None`: random).
        kernel_initializer: initializer of the depthwise and pointwise kernels.
        bias_initializer: initializer of the biases.
        kernel_regularizer: regularizer of the depthwise and pointwise kernels.
        bias_regularizer: regularizer of the biases.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, channels last; integer images are cast
        to float.

    Output shape:
        The input's shape (a residual block).

    Call arguments:
        - `inputs`: the feature map.
        - `training`: whether batch normalization (and dropout, stochastic depth)
          run in training mode; Keras sets it (`fit`: true, `predict`/`evaluate`:
          false).

    Raises:
        ValueError: at construction for a bad argument; at build for an input that is
            not rank 4 or whose channels differ from `filters`.

    Example:
        ```python
        import numpy as np
        from keras_blocks import ConvNeXtBlock

        block = ConvNeXtBlock(drop_path=0.1)
        block(np.zeros((2, 14, 14, 32), "float32")).shape  # (2, 14, 14, 32)
        ```
    """

    def __init__(
        self,
        filters=None,
        kernel_size=7,
        expansion=4,
        layer_scale_init=1e-6,
        drop_path=0.0,
        norm="layer",
        activation="gelu",
        norm_epsilon=None,
        seed=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = "ConvNeXtBlock"
        if filters is not None:
            filters = check.positive_int(owner, "filters", filters)
        self.filters = filters
        self.kernel_size = check.int_tuple(owner, "kernel_size", kernel_size)
        self.expansion = check.positive_int(owner, "expansion", expansion)
        if layer_scale_init is not None and not (
            check._is_number(layer_scale_init) and layer_scale_init >= 0
        ):
            raise ValueError(
                f"{owner}: `layer_scale_init` must be None or a number >= 0 (0 or None: no "
                f"layer scale); got {layer_scale_init!r}."
            )
        self.layer_scale_init = None if layer_scale_init is None else float(layer_scale_init)
        self.drop_path = check.fraction(owner, "drop_path", drop_path)
        self.norm = registry.resolve("norm", norm)
        self.activation = registry.resolve("activation", activation)
        if norm_epsilon is not None:
            norm_epsilon = check.non_negative(owner, "norm_epsilon", norm_epsilon)
        self.norm_epsilon = norm_epsilon
        if seed is not None:
            seed = check.positive_int(owner, "seed", seed, minimum=0)
        self.seed = seed
        self._init_weight_arguments(
            kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )

        # Made in build (see keras_blocks._composed); the norm's groups and the MLP's
        # widths depend on the input channels.
        self.depthwise = self.norm_layer = self.expand = self.mlp_activation = None
        self.project = self.gamma = self.drop_path_layer = None

    def build(self, input_shape):
        channels = self._check_image_shape(input_shape)
        if self.filters is not None and self.filters != channels:
            raise ValueError(
                f"ConvNeXtBlock: `filters={self.filters}` must equal the input's channel count "
                f"(the residual addition keeps the shape); expected input shape "
                f"(batch, height, width, {self.filters}), got {tuple(input_shape)}. Change "
                "the width with a downsampling layer before the block, or pass filters=None."
            )
        self.depthwise = self.make_depthwise(self.kernel_size, name="depthwise")
        self.norm_layer = self.make_norm(channels, name="norm", momentum=None)
        self.expand = self.make_dense(channels * self.expansion, name="expand")
        self.mlp_activation = self.make_act(self.activation, name="act")
        self.project = self.make_dense(channels, name="project")
        self.drop_path_layer = (
            StochasticDepth(self.drop_path, seed=self.seed, name="drop_path",
                            dtype=self.dtype_policy, trainable=self.trainable)
            if self.drop_path > 0
            else None
        )
        build_chain(
            [self.depthwise, self.norm_layer, self.expand, self.mlp_activation, self.project],
            input_shape,
            owner=self,
        )
        if self.layer_scale_init:
            self.gamma = self.add_weight(
                shape=(channels,),
                initializer=keras.initializers.Constant(self.layer_scale_init),
                name="layer_scale",
                trainable=True,
            )
        if self.drop_path_layer is not None:
            self.drop_path_layer.build(tuple(input_shape))
        self.built = True

    def call(self, inputs, training=None):
        inputs = self._float_inputs(inputs)
        x = self.depthwise(inputs)
        if self.norm_layer is not None:
            x = self.norm_layer(x, training=training)
        x = self.expand(x)
        x = self.mlp_activation(x)
        x = self.project(x)
        if self.gamma is not None:
            x = x * keras.ops.cast(self.gamma, x.dtype)
        if self.drop_path_layer is not None:
            x = self.drop_path_layer(x, training=training)
        return inputs + x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "expansion": self.expansion,
                "layer_scale_init": self.layer_scale_init,
                "drop_path": self.drop_path,
                "norm": registry.serialize_spec(self.norm),
                "activation": registry.serialize_spec(self.activation),
                "norm_epsilon": self.norm_epsilon,
                "seed": self.seed,
                **self._weight_config(),
            }
        )
        return config


registry.register("block", "convnext", ConvNeXtBlock)
