"""EfficientNet-B0 (Tan & Le, 2019) rebuilt from InvertedResidual and ConvBlock."""

from __future__ import annotations

import math

import keras

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.inverted_residual import InvertedResidual, mobilenet_padding
from keras_blocks.models import _checks, _pretrained

_OWNER = "efficientnet_b0_base"
# The file keras.applications.EfficientNetB0(include_top=False) downloads, and its hash.
IMAGENET_URL = "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"
IMAGENET_HASH = "50bc09e76180e00e4465e1a485ddc09d"
# keras.applications rescales by 1 / sqrt(std) after its normalization layer when it
# loads the ImageNet weights (the file's variances are the ImageNet stds).
_IMAGENET_STD = (0.229, 0.224, 0.225)

# (kernel, repeats, output filters, expansion, first stride): the paper's Table 1; every
# block has a squeeze-excite of a quarter of its input channels.
STAGES = (
    (3, 1, 16, 1, 1),
    (3, 2, 24, 6, 2),
    (5, 2, 40, 6, 2),
    (3, 3, 80, 6, 2),
    (5, 3, 112, 6, 1),
    (5, 4, 192, 6, 2),
    (3, 1, 320, 6, 1),
)
DROP_CONNECT_RATE = 0.2
# stride -> the layer whose output is that stage's output (the last block of each stage).
FEATURES = {4: "block2b", 8: "block3b", 16: "block5c", 32: "block7a"}
# The model rescales and normalizes raw [0, 255] pixels itself.
PREPROCESSING = "none"


def _imagenet_file():
    return keras.utils.get_file(
        IMAGENET_URL.rsplit("/", 1)[-1], IMAGENET_URL, cache_subdir="models",
        file_hash=IMAGENET_HASH,
    )


def block_plan(prefix, block, depthwise="dwconv"):
    """`(name in a keras.applications file, our layer)` pairs of one `InvertedResidual`.

    The EfficientNet (V1 and V2) names: `{prefix}_expand_conv`, `_expand_bn`, the
    depthwise `_{depthwise}` and its `_bn`, `_se_reduce`, `_se_expand`, `_project_conv`,
    `_project_bn`.
    """
    plan = []
    if block.expand_conv is not None:
        plan += [(f"{prefix}_expand_conv", block.expand_conv),
                 (f"{prefix}_expand_bn", block.expand_norm)]
    if block.depthwise_conv is not None:
        plan += [(f"{prefix}_{depthwise}", block.depthwise_conv),
                 (f"{prefix}_bn", block.depthwise_norm)]
    if block.se is not None:
        plan += [(f"{prefix}_se_reduce", block.se.reduce),
                 (f"{prefix}_se_expand", block.se.expand)]
    plan += [(f"{prefix}_project_conv", block.project_conv),
             (f"{prefix}_project_bn", block.project_norm)]
    return plan


def efficientnet_b0_base(input_shape, weights=None, name="efficientnet_b0_base"):
    """EfficientNet-B0 without its classifier, built from `ConvBlock` and `InvertedResidual`.

    The model's own input scaling (`Rescaling(1 / 255)` and a per-channel
    `Normalization`, whose mean and variance are weights of the file), a 3x3/2 stem
    `ConvBlock` (batch norm, swish) after the zero padding `keras.applications` uses,
    16 `InvertedResidual` blocks (swish, squeeze-excite of a quarter of each block's
    input channels, `padding="mobilenet"`, drop-connect rates rising linearly from 0 to
    0.2 as published: stochastic depth on the residual branches, the identity at
    inference), and a 1x1 `ConvBlock` to 1280 channels. With the same weights its
    features equal those of `keras.applications.EfficientNetB0(include_top=False)`.

    Inputs are raw RGB pixels in [0, 255]: the model normalizes them itself, as
    `keras.applications` does. With `weights="imagenet"` it also divides by the square
    root of the ImageNet standard deviations after the normalization, exactly as
    `keras.applications` does for those weights.

    The blocks are named after the published ones: `block1a`, `block2a`, `block2b`, ...
    `block7a`; the stem is `stem`, the last 1x1 convolution `top`.

    Args:
        input_shape: `(height, width, channels)`; height and width may be `None`.
        weights: `None` (random initialization), `"imagenet"` (downloads the file
            `keras.applications` uses), or the path of a weights file in the
            `keras.applications` layer layout (Keras 3 `.weights.h5` or Keras 2 `.h5`).
        name: the model's name.

    Returns:
        A `keras.Model` mapping images to the last feature map,
        `(batch, ceil(height / 32), ceil(width / 32), 1280)`.

    Raises:
        FileNotFoundError: `weights` is a path that does not exist.
        ValueError: a bad `input_shape`, or a weights file that does not fit (the
            message names the file and the first mismatching layer).

    Example:
        ```python
        import numpy as np
        from keras_blocks.models import efficientnet_b0_base

        base = efficientnet_b0_base((64, 64, 3), weights=None)
        base(np.zeros((1, 64, 64, 3), "float32")).shape  # (1, 2, 2, 1280)
        ```
    """
    shape = _checks.input_shape(_OWNER, input_shape)
    path, stored = _pretrained.open_weights(_OWNER, weights, _imagenet_file)

    inputs = keras.Input(shape=shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescaling")(inputs)
    normalization = keras.layers.Normalization(axis=-1, name="normalization")
    x = normalization(x)
    if isinstance(weights, str) and weights == "imagenet":
        x = keras.layers.Rescaling([1.0 / math.sqrt(std) for std in _IMAGENET_STD],
                                   name="imagenet_std_rescaling")(x)
    pads = tuple(mobilenet_padding(length, 3, 2) for length in shape[:2])
    x = keras.layers.ZeroPadding2D(pads, name="stem_pad")(x)
    stem = ConvBlock(32, kernel_size=3, strides=2, padding="valid", norm="batch",
                     norm_momentum=0.99, norm_epsilon=1e-3, activation="swish", pool=None,
                     use_bias=False, name="stem")
    x = stem(x)
    plan = [("stem_conv", stem.convs[0]), ("stem_bn", stem.norms[0])]

    total = sum(repeats for _, repeats, *_ in STAGES)
    index = 0
    for stage, (kernel, repeats, filters, expansion, first_stride) in enumerate(STAGES):
        for repeat in range(repeats):
            prefix = f"block{stage + 1}{chr(ord('a') + repeat)}"
            block = InvertedResidual(
                filters, expansion=expansion, kernel_size=kernel,
                strides=first_stride if repeat == 0 else 1, se_ratio=0.25,
                activation="swish", padding="mobilenet",
                drop_path=DROP_CONNECT_RATE * index / total,
                norm_momentum=0.99, norm_epsilon=1e-3, name=prefix,
            )
            x = block(x)
            plan += block_plan(prefix, block)
            index += 1

    top = ConvBlock(1280, kernel_size=1, norm="batch", norm_momentum=0.99, norm_epsilon=1e-3,
                    activation="swish", pool=None, use_bias=False, name="top")
    outputs = top(x)
    plan += [("top_conv", top.convs[0]), ("top_bn", top.norms[0])]
    model = keras.Model(inputs, outputs, name=name)
    if path is not None:
        # keras.applications leaves its normalization layer unnamed: its name in a file
        # is whatever Keras numbered it ("normalization", "normalization_2"...).
        unnamed = [key for key in stored if key.startswith("normalization")]
        plan.insert(0, (unnamed[0] if len(unnamed) == 1 else "normalization", normalization))
        _pretrained.load_weights_by_plan(_OWNER, path, plan, stored)
        # Normalization computes its mean and variance tensors from its weights when it
        # is built or loaded by Keras; weights assigned directly need this call.
        normalization.finalize_state()
    return model
