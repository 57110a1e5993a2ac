"""MobileNetV2 (Sandler et al., 2018) rebuilt from keras_blocks blocks."""

from __future__ import annotations

import numbers

import keras

from keras_blocks._warnings import warn_user
from keras_blocks.blocks._base import make_divisible
from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.inverted_residual import InvertedResidual
from keras_blocks.models import _checks, _pretrained

_OWNER = "mobilenet_v2_base"
# The URL keras.applications downloads its MobileNetV2 ImageNet weights from.
IMAGENET_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
_IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
_IMAGENET_ROWS = (96, 128, 160, 192, 224)

# (expansion, output filters, repeats, first stride): the paper's Table 2.
_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_BN = {"norm": "batch", "norm_momentum": 0.999, "norm_epsilon": 1e-3}


def _imagenet_file(alpha, input_shape):
    rows = input_shape[0]
    if alpha not in _IMAGENET_ALPHAS:
        raise ValueError(
            f"{_OWNER}: ImageNet weights exist only for alpha in {_IMAGENET_ALPHAS}; "
            f"got alpha={alpha!r}."
        )
    if rows != input_shape[1] or rows not in _IMAGENET_ROWS:
        warn_user(
            f"{_OWNER}: no ImageNet weights were trained at input_shape={input_shape}; "
            "loading the 224x224 ones, as keras.applications does."
        )
        rows = 224
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    return keras.utils.get_file(name, IMAGENET_BASE_URL + name, cache_subdir="models")


def mobilenet_v2_base(input_shape, weights=None, alpha=1.0, name="mobilenet_v2_base"):
    """MobileNetV2 without its classifier, built from `ConvBlock` and `InvertedResidual`.

    The stem is a `ConvBlock` (3x3/2 convolution, batch norm, ReLU6), then 17
    `InvertedResidual` blocks (`padding="mobilenet"`, so strided depthwise convolutions
    are padded exactly as `keras.applications` pads them), then a 1x1 `ConvBlock` to 1280
    channels. With the same weights its features equal those of
    `keras.applications.MobileNetV2(include_top=False)` (the tests check 1e-4).

    Inputs are expected as `keras.applications.mobilenet_v2.preprocess_input` leaves
    them: RGB pixels scaled from [0, 255] to [-1, 1]. The model does no preprocessing.

    The model's layers are named after the published ones: `Conv1` (stem),
    `expanded_conv`, `block_1` ... `block_16`, `Conv_1` (last 1x1 convolution).

    Args:
        input_shape: `(height, width, channels)`; height and width may be `None`.
        weights: `None` (random initialization), `"imagenet"` (downloads the file
            `keras.applications` uses, for the input size when it is one of 96, 128, 160,
            192, 224, else 224), or the path of a weights file in the `keras.applications`
            layer layout (Keras 3 `.weights.h5` or Keras 2 `.h5`), such as
            `mobilenet_v2_1.0_no_top.weights.h5`.
        alpha: width multiplier (number > 0): every block's channels are scaled by it and
            rounded to a multiple of 8, as in the paper.
        name: the model's name.

    Returns:
        A `keras.Model` mapping images to the last feature map,
        `(batch, ceil(height / 32), ceil(width / 32), 1280)` for `alpha <= 1`.

    Raises:
        FileNotFoundError: `weights` is a path that does not exist.
        ValueError: a bad `input_shape` or `alpha`; or a weights file that does not fit
            (the message names the file and the first mismatching layer with the expected
            and the file's shapes).

    Example:
        ```python
        import numpy as np
        from keras_blocks.models import mobilenet_v2_base

        base = mobilenet_v2_base((96, 96, 3), weights=None)
        base(np.zeros((1, 96, 96, 3), "float32")).shape  # (1, 3, 3, 1280)
        ```
    """
    shape = _checks.input_shape(_OWNER, input_shape)
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not alpha > 0:
        raise ValueError(f"{_OWNER}: `alpha` must be a number > 0; got {alpha!r}.")
    path, stored = _pretrained.open_weights(_OWNER, weights, lambda: _imagenet_file(alpha, shape))

    inputs = keras.Input(shape=shape, name="image")
    stem = ConvBlock(
        make_divisible(32 * alpha, 8), kernel_size=3, strides=2, activation="relu6",
        pool=None, use_bias=False, name="Conv1", **_BN,
    )
    x = stem(inputs)
    plan = [("Conv1", stem.convs[0]), ("bn_Conv1", stem.norms[0])]

    index = 0
    for expansion, filters, repeats, first_stride in _STAGES:
        for repeat in range(repeats):
            prefix = "expanded_conv" if index == 0 else f"block_{index}"
            block = InvertedResidual(
                make_divisible(int(filters * alpha), 8),
                expansion=expansion,
                strides=first_stride if repeat == 0 else 1,
                activation="relu6",
                padding="mobilenet",
                name=prefix,
                **_BN,
            )
            x = block(x)
            plan += _block_plan(prefix, block)
            index += 1

    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    top = ConvBlock(last, kernel_size=1, activation="relu6", pool=None, use_bias=False,
                    name="Conv_1", **_BN)
    outputs = top(x)
    plan += [("Conv_1", top.convs[0]), ("Conv_1_bn", top.norms[0])]
    model = keras.Model(inputs, outputs, name=name)
    if path is not None:
        _pretrained.load_weights_by_plan(_OWNER, path, plan, stored)
    return model


def _block_plan(prefix, block):
    plan = []
    if block.expand_conv is not None:
        plan += [(f"{prefix}_expand", block.expand_conv),
                 (f"{prefix}_expand_BN", block.expand_norm)]
    plan += [
        (f"{prefix}_depthwise", block.depthwise_conv),
        (f"{prefix}_depthwise_BN", block.depthwise_norm),
        (f"{prefix}_project", block.project_conv),
        (f"{prefix}_project_BN", block.project_norm),
    ]
    return plan
