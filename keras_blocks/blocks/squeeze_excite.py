"""SqueezeExcite: channel attention from globally pooled features (Hu et al., 2018)."""

from __future__ import annotations

import numbers

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.blocks._base import Block, make_divisible, propagate_nan


@keras.saving.register_keras_serializable(package="keras_blocks")
class SqueezeExcite(Block):
    """Squeeze-and-excitation: rescales each channel by a gate computed from the whole image.

    Global average pooling ("squeeze"), a 1x1 convolution down to `squeeze_channels`, an
    activation, a 1x1 convolution back to the input channels, a gate (sigmoid), and a
    channel-wise multiplication with the input ("excite"). Both 1x1 convolutions have a
    bias, as in SENet, MobileNetV3 and EfficientNet, so their weights load directly from
    those networks' `se_reduce` / `se_expand` layers.

    The squeezed width is `squeeze_channels` when given, else computed from the input
    channels `C`: `max(1, int(C * ratio))` with `divisor=1` (the EfficientNet/SENet rule)
    or `make_divisible(C * ratio, divisor)` with `divisor > 1` (the MobileNetV3 rule).
    EfficientNet computes its width from the *block's* input channels rather than from the
    expanded tensor the SE sees; [`InvertedResidual`][keras_blocks.InvertedResidual] does
    that by passing `squeeze_channels`.

    Args:
        ratio: squeezed width as a fraction of the input channels, in (0, 1]; default
            `None` means 0.25 unless `squeeze_channels` is given (giving both is an error).
        squeeze_channels: explicit squeezed width (int >= 1), or `None`.
        activation: activation after the reduce convolution (`"relu"` by default; `"swish"`
            for EfficientNet), a layer or a callable.
        gate: gating activation (`"sigmoid"` by default; `"hard_sigmoid"` for MobileNetV3),
            a layer or a callable.
        divisor: round the squeezed width computed from `ratio` to a multiple of this
            (int >= 1; 1 means plain truncation).
        kernel_initializer: initializer of both 1x1 kernels.
        bias_initializer: initializer of both biases.
        kernel_regularizer: regularizer of both kernels.
        bias_regularizer: regularizer of both biases.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, channels last; integer images are cast
        to float.

    Output shape:
        The input's shape: each channel rescaled by its gate.

    Call arguments:
        - `inputs`: the feature map.
        - `training`: accepted for a uniform interface; the block computes the same
          in training and inference.

    Example:
        ```python
        import numpy as np
        from keras_blocks import SqueezeExcite

        se = SqueezeExcite(ratio=0.25)
        se(np.ones((2, 8, 8, 16), "float32")).shape  # (2, 8, 8, 16), 4 squeezed channels
        ```
    """

    def __init__(
        self,
        ratio=None,
        squeeze_channels=None,
        activation="relu",
        gate="sigmoid",
        divisor=1,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = "SqueezeExcite"
        if ratio is not None and squeeze_channels is not None:
            raise ValueError(
                f"{owner}: give `ratio` or `squeeze_channels`, not both; got ratio={ratio!r} "
                f"and squeeze_channels={squeeze_channels!r}."
            )
        if ratio is not None:
            valid = isinstance(ratio, numbers.Real) and not isinstance(ratio, bool)
            if not valid or not 0 < ratio <= 1:
                raise ValueError(
                    f"{owner}: `ratio` must be a number in (0, 1]; got {ratio!r}."
                )
            ratio = float(ratio)
        if squeeze_channels is not None:
            squeeze_channels = check.positive_int(owner, "squeeze_channels", squeeze_channels)
        self.ratio = ratio
        self.squeeze_channels = squeeze_channels
        self.activation = registry.resolve("activation", activation)
        self.gate = registry.resolve("activation", gate, "gate")
        self.divisor = check.positive_int(owner, "divisor", divisor)
        self._init_weight_arguments(
            kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )
        # Made in build (see keras_blocks._composed): the widths depend on the input.
        self.reduce = self.activation_layer = self.expand = self.gate_layer = None

    def reduced_channels(self, channels: int) -> int:
        """The squeezed width for an input with `channels` channels."""
        if self.squeeze_channels is not None:
            return self.squeeze_channels
        ratio = 0.25 if self.ratio is None else self.ratio
        if self.divisor == 1:
            return max(1, int(channels * ratio))
        return make_divisible(channels * ratio, self.divisor)

    def build(self, input_shape):
        channels = self._check_image_shape(input_shape)
        self.reduce = self.make_conv(self.reduced_channels(channels), 1, name="reduce")
        self.activation_layer = self.make_act(self.activation, name="act")
        self.expand = self.make_conv(channels, 1, name="expand")
        self.gate_layer = self.make_act(self.gate, name="gate")
        pooled = (input_shape[0], 1, 1, channels)
        self.reduce.build(pooled)
        reduced = self.reduce.compute_output_shape(pooled)
        self.activation_layer.build(reduced)
        self.expand.build(reduced)
        self.gate_layer.build(pooled)
        self.built = True

    def call(self, inputs, training=None):
        inputs = self._float_inputs(inputs)
        scale = keras.ops.mean(inputs, axis=(1, 2), keepdims=True)
        scale = self.activation_layer(self.reduce(scale))
        scale = self.gate_layer(self.expand(scale))
        # The mean spreads a NaN over its whole sample (TensorFlow's fused 1x1
        # convolution + ReLU would drop it).
        return propagate_nan(inputs, inputs * scale, ("all",))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "squeeze_channels": self.squeeze_channels,
                "activation": registry.serialize_spec(self.activation),
                "gate": registry.serialize_spec(self.gate),
                "divisor": self.divisor,
                **self._weight_config(),
            }
        )
        return config


registry.register("block", "squeeze_excite", SqueezeExcite)
