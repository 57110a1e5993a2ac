"""FireBlock: SqueezeNet's squeeze-then-expand module (Iandola et al., 2016)."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.blocks._base import Block, propagate_nan


@keras.saving.register_keras_serializable(package="keras_blocks")
class FireBlock(Block):
    """A 1x1 "squeeze" convolution, then parallel 1x1 and 3x3 "expand" convolutions, concatenated.

    Each convolution is followed by the optional norm and the activation. The output has
    `expand_1x1 + expand_3x3` channels, the 1x1 branch first (the order of the published
    SqueezeNet weights) and the spatial size of the input.

    Args:
        squeeze: channels of the squeeze convolution (int >= 1).
        expand: channels of each expand branch: an int for both, or a pair
            `(expand_1x1, expand_3x3)`.
        activation: activation after every convolution (`"relu"` by default), a layer, a
            callable or `None`.
        norm: `None` (default, as in SqueezeNet; the convolutions then have a bias),
            `"batch"`, another registered norm name, or a layer.
        norm_momentum: momentum of batch normalization.
        norm_epsilon: epsilon of the normalization, `None` for the norm's default.
        kernel_initializer: initializer of every convolution kernel.
        bias_initializer: initializer of the convolution biases.
        kernel_regularizer: regularizer of every convolution kernel.
        bias_regularizer: regularizer of the convolution biases.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, channels last; integer images are cast
        to float.

    Output shape:
        `(batch, height, width, expand[0] + expand[1])`: the two expand branches,
        concatenated.

    Call arguments:
        - `inputs`: the feature map.
        - `training`: whether batch normalization (and dropout, stochastic depth)
          run in training mode; Keras sets it (`fit`: true, `predict`/`evaluate`:
          false).

    Example:
        ```python
        import numpy as np
        from keras_blocks import FireBlock

        fire = FireBlock(squeeze=16, expand=64)
        fire(np.zeros((2, 13, 13, 96), "float32")).shape  # (2, 13, 13, 128)
        ```
    """

    def __init__(
        self,
        squeeze,
        expand,
        activation="relu",
        norm=None,
        norm_momentum=0.99,
        norm_epsilon=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = "FireBlock"
        self.squeeze = check.positive_int(owner, "squeeze", squeeze)
        self.expand = check.int_tuple(owner, "expand", expand)
        self.activation = registry.resolve("activation", activation)
        self.norm = registry.resolve("norm", norm)
        self.norm_momentum = check.fraction(owner, "norm_momentum", norm_momentum)
        if norm_epsilon is not None:
            norm_epsilon = check.non_negative(owner, "norm_epsilon", norm_epsilon)
        self.norm_epsilon = norm_epsilon
        self._init_weight_arguments(
            kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )
        # Made in build (see keras_blocks._composed).
        self.convs, self.norms, self.activations = [], [], []
        self.concat = None

    def build(self, input_shape):
        self._check_image_shape(input_shape)
        bias = self.norm is None
        specs = (
            ("squeeze", self.squeeze, 1),
            ("expand_1x1", self.expand[0], 1),
            ("expand_3x3", self.expand[1], 3),
        )
        self.convs, self.norms, self.activations = [], [], []
        for name, filters, kernel in specs:
            self.convs.append(self.make_conv(filters, kernel, name=f"{name}_conv",
                                             use_bias=bias))
            self.norms.append(self.make_norm(filters, name=f"{name}_norm"))
            self.activations.append(self.make_act(self.activation, name=f"{name}_act"))
        self.concat = keras.layers.Concatenate(axis=-1, name="concat", dtype=self.dtype_policy)
        squeezed = (*tuple(input_shape)[:3], self.squeeze)
        for i, conv in enumerate(self.convs):
            shape = tuple(input_shape) if i == 0 else squeezed
            conv.build(shape)
            if self.norms[i] is not None:
                self.norms[i].build(conv.compute_output_shape(shape))
        self.built = True

    def _branch(self, i, x, training):
        x = self.convs[i](x)
        if self.norms[i] is not None:
            x = self.norms[i](x, training=training)
        return self.activations[i](x)

    def call(self, inputs, training=None):
        inputs = self._float_inputs(inputs)
        x = self._branch(0, inputs, training)
        outputs = self.concat([self._branch(1, x, training), self._branch(2, x, training)])
        return propagate_nan(inputs, outputs, (self.convs[0], self.convs[2]))

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:3], self.expand[0] + self.expand[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "squeeze": self.squeeze,
                "expand": self.expand,
                "activation": registry.serialize_spec(self.activation),
                "norm": registry.serialize_spec(self.norm),
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                **self._weight_config(),
            }
        )
        return config


registry.register("block", "fire", FireBlock)
