"""MobileNetV3-Small (Howard et al., 2019) rebuilt from InvertedResidual and ConvBlock."""

from __future__ import annotations

import keras

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.inverted_residual import InvertedResidual
from keras_blocks.models import _checks, _pretrained

_OWNER = "mobilenet_v3_small_base"
# The file keras.applications.MobileNetV3Small(include_top=False) downloads, and its hash.
IMAGENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
    "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
)
IMAGENET_HASH = "d3e8ec802a04aa4fc771ee12a9a9b836"

# (expanded channels, output filters, kernel, stride, squeeze-excite, activation): the
# paper's Table 2 (the expanded widths are multiples of 8, so `expansion = E / C`
# reproduces them exactly).
STAGES = (
    (16, 16, 3, 2, True, "relu"),
    (72, 24, 3, 2, False, "relu"),
    (88, 24, 3, 1, False, "relu"),
    (96, 40, 5, 2, True, "hard_swish"),
    (240, 40, 5, 1, True, "hard_swish"),
    (240, 40, 5, 1, True, "hard_swish"),
    (120, 48, 5, 1, True, "hard_swish"),
    (144, 48, 5, 1, True, "hard_swish"),
    (288, 96, 5, 2, True, "hard_swish"),
    (576, 96, 5, 1, True, "hard_swish"),
    (576, 96, 5, 1, True, "hard_swish"),
)
LAST_CHANNELS = 576
# stride -> the layer whose output is that stage's output (timm's `features_only`
# convention: the 576-channel 1x1 convolution is MobileNetV3's last stage).
FEATURES = {4: "expanded_conv", 8: "expanded_conv_2", 16: "expanded_conv_7", 32: "conv_1"}
# The model rescales raw [0, 255] pixels to [-1, 1] itself.
PREPROCESSING = "none"
_BN = {"norm": "batch", "norm_momentum": 0.999, "norm_epsilon": 1e-3}


def _imagenet_file():
    return keras.utils.get_file(
        IMAGENET_URL.rsplit("/", 1)[-1], IMAGENET_URL, cache_subdir="models",
        file_hash=IMAGENET_HASH,
    )


def mobilenet_v3_small_base(input_shape, weights=None, name="mobilenet_v3_small_base"):
    """MobileNetV3-Small without its classifier, built from `ConvBlock` and `InvertedResidual`.

    The model's own input scaling (`Rescaling(1 / 127.5, offset=-1)`, as
    `keras.applications` with `include_preprocessing=True`), a 3x3/2 stem `ConvBlock`
    (16 channels, batch norm, hard-swish), 11 `InvertedResidual` blocks (ReLU in the
    first three, hard-swish after; squeeze-excite with ReLU inside, the hard-sigmoid gate
    `relu6(x + 3) / 6` and `make_divisible(E / 4, 8)` squeezed channels of the expanded
    width `E`: `se_base="expanded", se_divisor=8`; `padding="mobilenet"`), and the 1x1
    `ConvBlock` to 576 channels with hard-swish that `keras.applications` keeps without
    its top. With the same weights its features equal those of
    `keras.applications.MobileNetV3Small(include_top=False)`.

    Inputs are raw RGB pixels in [0, 255]: the model scales them itself.

    The layers are named after the published ones: `conv` (stem), `expanded_conv`,
    `expanded_conv_1` ... `expanded_conv_10`, `conv_1` (last 1x1 convolution).

    Args:
        input_shape: `(height, width, channels)`; height and width may be `None`.
        weights: `None` (random initialization), `"imagenet"` (downloads the file
            `keras.applications` uses, trained at 224x224), or the path of a weights
            file in the `keras.applications` layer layout (Keras 3 `.weights.h5` or
            Keras 2 `.h5`).
        name: the model's name.

    Returns:
        A `keras.Model` mapping images to the last feature map,
        `(batch, ceil(height / 32), ceil(width / 32), 576)`.

    Raises:
        FileNotFoundError: `weights` is a path that does not exist.
        ValueError: a bad `input_shape`, or a weights file that does not fit (the
            message names the file and the first mismatching layer).

    Example:
        ```python
        import numpy as np
        from keras_blocks.models import mobilenet_v3_small_base

        base = mobilenet_v3_small_base((64, 64, 3), weights=None)
        base(np.zeros((1, 64, 64, 3), "float32")).shape  # (1, 2, 2, 576)
        ```
    """
    shape = _checks.input_shape(_OWNER, input_shape)
    path, stored = _pretrained.open_weights(_OWNER, weights, _imagenet_file)

    inputs = keras.Input(shape=shape, name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
    stem = ConvBlock(16, kernel_size=3, strides=2, activation="hard_swish", pool=None,
                     use_bias=False, name="conv", **_BN)
    x = stem(x)
    plan = [("conv", stem.convs[0]), ("conv_bn", stem.norms[0])]

    channels = 16
    for index, (expanded, filters, kernel, stride, se, activation) in enumerate(STAGES):
        prefix = "expanded_conv" if index == 0 else f"expanded_conv_{index}"
        block = InvertedResidual(
            filters, expansion=expanded / channels, kernel_size=kernel, strides=stride,
            se_ratio=0.25 if se else 0.0, se_base="expanded", se_divisor=8,
            activation=activation, se_activation="relu", se_gate="hard_sigmoid",
            padding="mobilenet", name=prefix, **_BN,
        )
        x = block(x)
        plan += _block_plan(prefix, block)
        channels = filters

    top = ConvBlock(LAST_CHANNELS, kernel_size=1, activation="hard_swish", pool=None,
                    use_bias=False, name="conv_1", **_BN)
    outputs = top(x)
    plan += [("conv_1", top.convs[0]), ("conv_1_bn", top.norms[0])]
    model = keras.Model(inputs, outputs, name=name)
    if path is not None:
        _pretrained.load_weights_by_plan(_OWNER, path, plan, stored)
    return model


def _block_plan(prefix, block):
    plan = []
    if block.expand_conv is not None:
        plan += [(f"{prefix}_expand", block.expand_conv),
                 (f"{prefix}_expand_bn", block.expand_norm)]
    plan += [(f"{prefix}_depthwise", block.depthwise_conv),
             (f"{prefix}_depthwise_bn", block.depthwise_norm)]
    if block.se is not None:
        plan += [(f"{prefix}_squeeze_excite_conv", block.se.reduce),
                 (f"{prefix}_squeeze_excite_conv_1", block.se.expand)]
    plan += [(f"{prefix}_project", block.project_conv),
             (f"{prefix}_project_bn", block.project_norm)]
    return plan
