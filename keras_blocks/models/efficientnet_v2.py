"""EfficientNetV2-B0 (Tan & Le, 2021) rebuilt from InvertedResidual and ConvBlock."""

from __future__ import annotations

import keras

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.inverted_residual import InvertedResidual
from keras_blocks.models import _checks, _pretrained
from keras_blocks.models.efficientnet import block_plan

_OWNER = "efficientnet_v2_b0_base"
# The file keras.applications.EfficientNetV2B0(include_top=False) downloads, and its hash.
IMAGENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
    "efficientnetv2-b0_notop.h5"
)
IMAGENET_HASH = "893217f2bb855e2983157299931e43ff"
# The ImageNet statistics keras.applications normalizes the B variants' inputs with.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

# (fused, kernel, repeats, output filters, expansion, first stride, se_ratio): the
# published B0 configuration.
STAGES = (
    (True, 3, 1, 16, 1, 1, 0.0),
    (True, 3, 2, 32, 4, 2, 0.0),
    (True, 3, 2, 48, 4, 2, 0.0),
    (False, 3, 3, 96, 4, 2, 0.25),
    (False, 3, 5, 112, 6, 1, 0.25),
    (False, 3, 8, 192, 6, 2, 0.25),
)
DROP_CONNECT_RATE = 0.2
# stride -> the layer whose output is that stage's output (the last block of each stage).
FEATURES = {4: "block2b", 8: "block3b", 16: "block5e", 32: "block6h"}
# The model rescales and normalizes raw [0, 255] pixels itself.
PREPROCESSING = "none"
_BN = {"norm": "batch", "norm_momentum": 0.9, "norm_epsilon": 1e-3}


def _imagenet_file():
    return keras.utils.get_file(
        IMAGENET_URL.rsplit("/", 1)[-1], IMAGENET_URL, cache_subdir="models",
        file_hash=IMAGENET_HASH,
    )


def efficientnet_v2_b0_base(input_shape, weights=None, name="efficientnet_v2_b0_base"):
    """EfficientNetV2-B0 without its classifier, built from `ConvBlock` and `InvertedResidual`.

    The model's own input scaling (`Rescaling(1 / 255)`, then normalization with the
    ImageNet mean and standard deviation, as `keras.applications` with
    `include_preprocessing=True`), a 3x3/2 stem `ConvBlock` (batch norm, swish), three
    stages of FusedMBConv (`InvertedResidual(fused=True)`, no squeeze-excite) and three
    of MBConv (`InvertedResidual` with a squeeze-excite of a quarter of each block's
    input channels), all with "same" padding, swish and drop-connect rates rising
    linearly from 0 to 0.2 (stochastic depth, the identity at inference), and a 1x1
    `ConvBlock` to 1280 channels. With the same weights its features equal those of
    `keras.applications.EfficientNetV2B0(include_top=False)`.

    Inputs are raw RGB pixels in [0, 255]: the model normalizes them itself.

    The blocks are named after the published ones: `block1a`, `block2a`, `block2b`, ...
    `block6h`; the stem is `stem`, the last 1x1 convolution `top`.

    Args:
        input_shape: `(height, width, 3)`; height and width may be `None`.
        weights: `None` (random initialization), `"imagenet"` (downloads the file
            `keras.applications` uses), or the path of a weights file in the
            `keras.applications` layer layout (Keras 3 `.weights.h5` or Keras 2 `.h5`).
        name: the model's name.

    Returns:
        A `keras.Model` mapping images to the last feature map,
        `(batch, ceil(height / 32), ceil(width / 32), 1280)`.

    Raises:
        FileNotFoundError: `weights` is a path that does not exist.
        ValueError: a bad `input_shape` (3 channels: the normalization is RGB), or a
            weights file that does not fit (the message names the file and the first
            mismatching layer).

    Example:
        ```python
        import numpy as np
        from keras_blocks.models import efficientnet_v2_b0_base

        base = efficientnet_v2_b0_base((64, 64, 3), weights=None)
        base(np.zeros((1, 64, 64, 3), "float32")).shape  # (1, 2, 2, 1280)
        ```
    """
    shape = _checks.input_shape(_OWNER, input_shape, channels=3)
    path, stored = _pretrained.open_weights(_OWNER, weights, _imagenet_file)

    inputs = keras.Input(shape=shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescaling")(inputs)
    x = keras.layers.Normalization(axis=-1, mean=list(_MEAN),
                                   variance=[std**2 for std in _STD], name="normalization")(x)
    stem = ConvBlock(32, kernel_size=3, strides=2, activation="swish", pool=None,
                     use_bias=False, name="stem", **_BN)
    x = stem(x)
    plan = [("stem_conv", stem.convs[0]), ("stem_bn", stem.norms[0])]

    total = sum(stage[2] for stage in STAGES)
    index = 0
    for stage, (fused, kernel, repeats, filters, expansion, first_stride, se_ratio) in \
            enumerate(STAGES):
        for repeat in range(repeats):
            prefix = f"block{stage + 1}{chr(ord('a') + repeat)}"
            block = InvertedResidual(
                filters, expansion=expansion, kernel_size=kernel,
                strides=first_stride if repeat == 0 else 1, se_ratio=se_ratio,
                activation="swish", fused=fused,
                drop_path=DROP_CONNECT_RATE * index / total, name=prefix, **_BN,
            )
            x = block(x)
            plan += block_plan(prefix, block, depthwise="dwconv2")
            index += 1

    top = ConvBlock(1280, kernel_size=1, activation="swish", pool=None, use_bias=False,
                    name="top", **_BN)
    outputs = top(x)
    plan += [("top_conv", top.convs[0]), ("top_bn", top.norms[0])]
    model = keras.Model(inputs, outputs, name=name)
    if path is not None:
        _pretrained.load_weights_by_plan(_OWNER, path, plan, stored)
    return model
