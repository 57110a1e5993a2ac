"""InvertedResidual: the MobileNetV2 / EfficientNet MBConv block, and its fused variant."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.blocks._base import (
    Block,
    conv_output_length,
    make_divisible,
    propagate_nan,
)
from keras_blocks.blocks.squeeze_excite import SqueezeExcite
from keras_blocks.blocks.stochastic_depth import StochasticDepth

_PADDINGS = ("same", "mobilenet")
_SE_BASES = ("input", "expanded")


def mobilenet_padding(length, kernel_size, stride):
    """`(before, after)` zero padding of one spatial axis, as `keras.applications` pads.

    For a strided axis it is `imagenet_utils.correct_pad`: `(k // 2 - adjust, k // 2)`
    with `adjust = 1 - length % 2`, and `adjust = 1` when the length is unknown. For a
    unit-stride axis it is the usual "same" padding.
    """
    if stride == 1:
        return (kernel_size - 1) // 2, kernel_size // 2
    adjust = 1 if length is None else 1 - length % 2
    return max(0, kernel_size // 2 - adjust), kernel_size // 2


@keras.saving.register_keras_serializable(package="keras_blocks")
class InvertedResidual(Block):
    """MBConv: expand with a 1x1 convolution, filter depthwise, squeeze-excite, project linearly.

    The block of MobileNetV2 and EfficientNet (and, with `fused=True`, the FusedMBConv of
    EfficientNetV2). With `C` input channels and `E = round(C * expansion)`:

    - `fused=False`: 1x1 conv to `E` + norm + activation (skipped when `expansion == 1`),
      depthwise kxk conv with `strides` + norm + activation, optional squeeze-excite,
      1x1 conv to `filters` + norm (no activation: the "linear bottleneck").
    - `fused=True`: a full kxk conv with `strides` to `E` + norm + activation replaces the
      expansion and depthwise convolutions, then optional squeeze-excite and the linear
      1x1 projection. With `expansion == 1` the kxk conv goes straight to `filters`,
      followed by norm and activation, and there is no projection (as in EfficientNetV2).

    The input is added back when `residual` is true, `strides` is 1 and `C == filters`;
    `drop_path` then drops the branch per sample in training (stochastic depth). Blocks
    without a residual connection have no branch to drop, so they ignore `drop_path`, as
    EfficientNet and timm do (a network builder can pass one schedule to every block).

    Args:
        filters: output channels (int >= 1).
        expansion: expansion ratio (number > 0; 1 skips the expansion convolution).
        kernel_size: int or pair, the depthwise (or fused) kernel, default 3.
        strides: int or pair, the stride of the depthwise (or fused) convolution. Depthwise
            convolutions need equal strides on both axes.
        se_ratio: squeeze-excite width as a fraction of the block's *input* channels,
            `max(1, int(C * se_ratio))` (the EfficientNet rule), in [0, 1]; 0 disables it.
            `se_base` and `se_divisor` change which count it is a fraction of and how
            it is rounded.
        se_base: the channel count `se_ratio` is a fraction of: `"input"` (default, `C`,
            as EfficientNet) or `"expanded"` (`E`, the tensor the squeeze-excite sees, as
            MobileNetV3).
        se_divisor: rounding of the squeezed width: 1 (default) truncates,
            `max(1, int(base * se_ratio))`; an int > 1 rounds to a multiple of it,
            `make_divisible(base * se_ratio, se_divisor)` (MobileNetV3 uses
            `se_base="expanded", se_divisor=8`).
        activation: activation after the expansion and depthwise convolutions (`"relu6"`
            for MobileNetV2, `"swish"` for EfficientNet), a layer, a callable or `None`.
        se_activation: activation inside the squeeze-excite; `None` (default) uses
            `activation`, as EfficientNet does.
        se_gate: gate of the squeeze-excite (`"sigmoid"`, or `"hard_sigmoid"` for
            MobileNetV3).
        norm: `"batch"` (default), another registered norm name, a layer, or `None` (the
            convolutions then get a bias).
        fused: FusedMBConv instead of MBConv.
        residual: add the input back when the shapes allow (default `True`).
        drop_path: stochastic-depth rate of the residual branch, in [0, 1).
        padding: `"same"` (default; TensorFlow "same", as EfficientNetV2 and timm's TF
            ports use), or `"mobilenet"`: explicit zero padding before a strided kxk
            convolution, exactly as `keras.applications` MobileNetV2 and EfficientNet do
            (`imagenet_utils.correct_pad`). The two agree for odd kernels whenever the
            spatial size is known; with an unknown (`None`) size, `"mobilenet"` pads like
            an even size, as `keras.applications` does. The padding is fixed when the
            block is built.
        norm_momentum: momentum of batch normalization (0.999 in MobileNetV2, 0.99 in
            EfficientNet, 0.9 in EfficientNetV2).
        norm_epsilon: epsilon of the normalization (default 1e-3, as those networks use).
        kernel_initializer: initializer of every convolution kernel.
        bias_initializer: initializer of the biases (squeeze-excite, or convolutions when
            `norm` is `None`).
        kernel_regularizer: regularizer of every convolution kernel.
        bias_regularizer: regularizer of the biases.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, channels last; integer images are cast
        to float.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), filters)`.

    Call arguments:
        - `inputs`: the feature map.
        - `training`: whether batch normalization (and dropout, stochastic depth)
          run in training mode; Keras sets it (`fit`: true, `predict`/`evaluate`:
          false).

    Example:
        ```python
        import numpy as np
        from keras_blocks import InvertedResidual

        block = InvertedResidual(24, expansion=6, strides=2, se_ratio=0.25,
                                 activation="swish")
        block(np.zeros((2, 15, 15, 16), "float32")).shape  # (2, 8, 8, 24)
        ```
    """

    def __init__(
        self,
        filters,
        expansion=6,
        kernel_size=3,
        strides=1,
        se_ratio=0.0,
        se_base="input",
        se_divisor=1,
        activation="relu6",
        se_activation=None,
        se_gate="sigmoid",
        norm="batch",
        fused=False,
        residual=True,
        drop_path=0.0,
        padding="same",
        norm_momentum=0.99,
        norm_epsilon=1e-3,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = "InvertedResidual"
        self.filters = check.positive_int(owner, "filters", filters)
        if not check._is_number(expansion) or not expansion > 0:
            raise ValueError(
                f"{owner}: `expansion` must be a number > 0; got {expansion!r}"
                f"{check._not_finite(expansion)}."
            )
        self.expansion = expansion
        self.kernel_size = check.int_tuple(owner, "kernel_size", kernel_size)
        self.strides = check.int_tuple(owner, "strides", strides)
        for flag_name, flag in (("fused", fused), ("residual", residual)):
            if not isinstance(flag, bool):
                raise ValueError(f"{owner}: `{flag_name}` must be True or False; got {flag!r}.")
        self.fused = fused
        self.residual = residual
        if not fused and self.strides[0] != self.strides[1]:
            raise ValueError(
                f"{owner}: a depthwise convolution needs equal strides along height and "
                f"width; got strides={strides!r} (use fused=True for unequal strides)."
            )
        self.se_ratio = check.fraction(owner, "se_ratio", se_ratio, include_high=True)
        self.se_base = check.one_of(owner, "se_base", se_base, _SE_BASES)
        self.se_divisor = check.positive_int(owner, "se_divisor", se_divisor)
        self.activation = registry.resolve("activation", activation)
        self.se_activation = registry.resolve("activation", se_activation, "se_activation")
        self.se_gate = registry.resolve("activation", se_gate, "se_gate")
        self.norm = registry.resolve("norm", norm)
        self.drop_path = check.fraction(owner, "drop_path", drop_path)
        self.padding = check.one_of(owner, "padding", padding, _PADDINGS)
        self.norm_momentum = check.fraction(owner, "norm_momentum", norm_momentum)
        self.norm_epsilon = check.non_negative(owner, "norm_epsilon", norm_epsilon)
        self._init_weight_arguments(
            kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )
        # Created in build: their widths depend on the input channels.
        self.expand_conv = self.expand_norm = self.expand_act = None
        self.depthwise_conv = self.depthwise_norm = self.depthwise_act = None
        self.se = None
        self.project_conv = self.project_norm = self.project_act = None
        self.drop_path_layer = None
        self.use_residual = None
        self._pads = None

    # ---------------------------------------------------------------------------------
    # Shapes

    def expanded_channels(self, channels: int) -> int:
        """The width `E` of the expanded tensor for `channels` input channels."""
        return max(1, round(channels * self.expansion))

    def squeezed_channels(self, channels: int) -> int:
        """The squeeze-excite width for `channels` input channels (0: no squeeze-excite)."""
        if self.se_ratio == 0:
            return 0
        base = channels if self.se_base == "input" else self._se_input_channels(channels)
        if self.se_divisor == 1:
            return max(1, int(base * self.se_ratio))
        return make_divisible(base * self.se_ratio, self.se_divisor)

    def _se_input_channels(self, channels):
        """Channels of the tensor the squeeze-excite sees."""
        if self.fused and not self._has_expand():
            return channels
        return self.expanded_channels(channels)

    def _has_expand(self):
        return self.expansion != 1

    def _spatial_padding(self, input_shape):
        """Per-axis `(before, after)` zero padding for "mobilenet" strided convs, else None."""
        if self.padding != "mobilenet" or self.strides == (1, 1):
            return None
        return tuple(
            mobilenet_padding(input_shape[axis + 1], self.kernel_size[axis], self.strides[axis])
            for axis in range(2)
        )

    def _spatial_output(self, input_shape, pads):
        out = []
        for axis in range(2):
            length = input_shape[axis + 1]
            if pads is None:
                out.append(conv_output_length(length, self.kernel_size[axis],
                                              self.strides[axis], "same"))
            else:
                padded = None if length is None else length + sum(pads[axis])
                out.append(conv_output_length(padded, self.kernel_size[axis],
                                              self.strides[axis], "valid"))
        return tuple(out)

    def compute_output_shape(self, input_shape):
        pads = self._pads if self.built else self._spatial_padding(input_shape)
        height, width = self._spatial_output(input_shape, pads)
        return (input_shape[0], height, width, self.filters)

    # ---------------------------------------------------------------------------------
    # Construction

    def build(self, input_shape):
        channels = self._check_image_shape(input_shape)
        self._pads = self._spatial_padding(input_shape)
        height, width = self._spatial_output(input_shape, self._pads)
        if (height is not None and height < 1) or (width is not None and width < 1):
            raise ValueError(
                f"InvertedResidual: input shape {tuple(input_shape)} is too small for "
                f"kernel_size={self.kernel_size}, strides={self.strides}."
            )
        bias = self.norm is None
        expanded = self.expanded_channels(channels)
        conv_padding = "same" if self._pads is None else "valid"
        batch = input_shape[0]
        in_shape = tuple(input_shape)
        out_shape = (batch, height, width)

        if self.fused:
            fused_filters = expanded if self._has_expand() else self.filters
            self.expand_conv = self.make_conv(
                fused_filters, self.kernel_size, name="fused_conv", strides=self.strides,
                padding=conv_padding, use_bias=bias,
            )
            self.expand_norm = self.make_norm(fused_filters, name="fused_norm")
            self.expand_act = self.make_act(self.activation, name="fused_act")
            padded = self._padded_shape(in_shape)
            self.expand_conv.build(padded)
            self._build_norm(self.expand_norm, (*out_shape, fused_filters))
            se_shape = (*out_shape, fused_filters) if self._has_expand() else in_shape
        else:
            if self._has_expand():
                self.expand_conv = self.make_conv(expanded, 1, name="expand_conv",
                                                  use_bias=bias)
                self.expand_norm = self.make_norm(expanded, name="expand_norm")
                self.expand_act = self.make_act(self.activation, name="expand_act")
                self.expand_conv.build(in_shape)
                self._build_norm(self.expand_norm, (*in_shape[:3], expanded))
            self.depthwise_conv = self.make_depthwise(
                self.kernel_size, name="depthwise_conv", strides=self.strides,
                padding=conv_padding, use_bias=bias,
            )
            self.depthwise_norm = self.make_norm(expanded, name="depthwise_norm")
            self.depthwise_act = self.make_act(self.activation, name="depthwise_act")
            self.depthwise_conv.build(self._padded_shape((*in_shape[:3], expanded)))
            self._build_norm(self.depthwise_norm, (*out_shape, expanded))
            se_shape = (*out_shape, expanded)

        if self.se_ratio > 0:
            self.se = SqueezeExcite(
                squeeze_channels=self.squeezed_channels(channels),
                activation=self.activation if self.se_activation is None else self.se_activation,
                gate=self.se_gate,
                name="se",
                dtype=self.dtype_policy,
                trainable=self.trainable,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                kernel_regularizer=self.kernel_regularizer,
                bias_regularizer=self.bias_regularizer,
            )
            self.se.build(se_shape)

        if self.fused and not self._has_expand():
            # EfficientNetV2's FusedMBConv with expansion 1: the kxk conv is the whole
            # block (SE, if any, sees the input); it keeps its activation.
            self.project_conv, self.project_norm, self.project_act = (
                self.expand_conv, self.expand_norm, self.expand_act
            )
            self.expand_conv = self.expand_norm = self.expand_act = None
        else:
            self.project_conv = self.make_conv(self.filters, 1, name="project_conv",
                                               use_bias=bias)
            self.project_norm = self.make_norm(self.filters, name="project_norm")
            self.project_conv.build(se_shape)
            self._build_norm(self.project_norm, (*out_shape, self.filters))

        self.use_residual = bool(
            self.residual and self.strides == (1, 1) and channels == self.filters
        )
        if self.use_residual and self.drop_path > 0:
            self.drop_path_layer = StochasticDepth(
                self.drop_path, name="drop_path", dtype=self.dtype_policy,
                trainable=self.trainable,
            )
            self.drop_path_layer.build((*out_shape, self.filters))
        self.built = True

    def _padded_shape(self, shape):
        if self._pads is None:
            return shape
        dims = [
            None if shape[axis + 1] is None else shape[axis + 1] + sum(self._pads[axis])
            for axis in range(2)
        ]
        return (shape[0], *dims, shape[3])

    @staticmethod
    def _build_norm(norm, shape):
        if norm is not None and not norm.built:
            norm.build(shape)

    # ---------------------------------------------------------------------------------
    # Forward

    def _pad(self, x):
        if self._pads is None:
            return x
        return keras.ops.pad(x, ((0, 0), self._pads[0], self._pads[1], (0, 0)))

    @staticmethod
    def _apply(x, conv, norm, act, training):
        x = conv(x)
        if norm is not None:
            x = norm(x, training=training)
        if act is not None:
            x = act(x)
        return x

    def call(self, inputs, training=None):
        inputs = self._float_inputs(inputs)
        x = inputs
        if self.fused:
            if self.expand_conv is not None:
                x = self._apply(self._pad(x), self.expand_conv, self.expand_norm,
                                self.expand_act, training)
            if self.se is not None:
                x = self.se(x)
            if self.project_act is not None:
                x = self._pad(x)  # the kxk conv is the projection (expansion 1)
        else:
            if self.expand_conv is not None:
                x = self._apply(x, self.expand_conv, self.expand_norm, self.expand_act,
                                training)
            x = self._apply(self._pad(x), self.depthwise_conv, self.depthwise_norm,
                            self.depthwise_act, training)
            if self.se is not None:
                x = self.se(x)
        x = self._apply(x, self.project_conv, self.project_norm, self.project_act, training)
        if self.use_residual:
            if self.drop_path_layer is not None:
                x = self.drop_path_layer(x, training=training)
            x = inputs + x
        return propagate_nan(inputs, x, self._nan_path())

    def _nan_path(self):
        """The windows a NaN goes through, for `propagate_nan`."""
        pad = self._pad if self._pads is not None else None
        se = "all" if self.se is not None else None
        if self.fused:
            return (pad, self.expand_conv, se, self.project_conv)
        return (self.expand_conv, pad, self.depthwise_conv, se, self.project_conv)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "expansion": self.expansion,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "se_ratio": self.se_ratio,
                "se_base": self.se_base,
                "se_divisor": self.se_divisor,
                "activation": registry.serialize_spec(self.activation),
                "se_activation": registry.serialize_spec(self.se_activation),
                "se_gate": registry.serialize_spec(self.se_gate),
                "norm": registry.serialize_spec(self.norm),
                "fused": self.fused,
                "residual": self.residual,
                "drop_path": self.drop_path,
                "padding": self.padding,
                "norm_momentum": self.norm_momentum,
                "norm_epsilon": self.norm_epsilon,
                **self._weight_config(),
            }
        )
        return config


def _fused_mbconv(filters, **kwargs):
    """Factory for the "fused_mbconv" registry name: `InvertedResidual(fused=True)`."""
    kwargs.setdefault("fused", True)
    return InvertedResidual(filters, **kwargs)


registry.register("block", "inverted_residual", InvertedResidual)
registry.register("block", "mbconv", InvertedResidual)
registry.register("block", "fused_mbconv", _fused_mbconv)
