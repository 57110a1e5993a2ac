"""ConvNeXt-Tiny (Liu et al., 2022) rebuilt from ConvNeXtBlock and ConvBlock."""

from __future__ import annotations

import keras

from keras_blocks import registry
from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.convnext_block import ConvNeXtBlock
from keras_blocks.models import _checks, _pretrained

_OWNER = "convnext_tiny_base"
# The file keras.applications.ConvNeXtTiny(include_top=False) downloads, and its hash.
IMAGENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
    "convnext_tiny_notop.h5"
)
IMAGENET_HASH = "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"
DEPTHS = (3, 3, 9, 3)
WIDTHS = (96, 192, 384, 768)
_EPSILON = 1e-6
_PREFIX = "convnext_tiny"


def _imagenet_file():
    return keras.utils.get_file(
        IMAGENET_URL.rsplit("/", 1)[-1], IMAGENET_URL, cache_subdir="models",
        file_hash=IMAGENET_HASH,
    )


def convnext_tiny_base(input_shape, weights=None, name="convnext_tiny_base"):
    """ConvNeXt-Tiny without its classifier, built from `ConvBlock` and `ConvNeXtBlock`.

    A patchify stem (`ConvBlock`: 4x4 convolution with stride 4, then layer norm), four
    stages of 3, 3, 9 and 3 `ConvNeXtBlock`s (widths 96, 192, 384, 768, layer scale
    1e-6), a layer norm and a 2x2 strided `ConvBlock` between stages, and the final layer
    norm `keras.applications` applies without a top. With the same weights its features
    equal those of `keras.applications.ConvNeXtTiny(include_top=False)`.

    Inputs are expected normalized with the ImageNet mean and standard deviation
    ("torch": `(pixels / 255 - mean) / std`); the model does no preprocessing
    (`pretrained_base("kb_convnext_tiny")` puts it inside, where `keras.applications`
    has its own normalization layer).

    Args:
        input_shape: `(height, width, channels)`; height and width may be `None`
            (at least 32 when known).
        weights: `None` (random initialization), `"imagenet"` (downloads the file
            `keras.applications` uses), or the path of a weights file in the
            `keras.applications` layer layout (Keras 3 `.weights.h5` or Keras 2 `.h5`).
        name: the model's name.

    Returns:
        A `keras.Model` mapping images to the last feature map,
        `(batch, height // 32, width // 32, 768)`.

    Raises:
        FileNotFoundError: `weights` is a path that does not exist.
        ValueError: a bad `input_shape`, or a weights file that does not fit (the
            message names the file and the first mismatching layer).

    Example:
        ```python
        import numpy as np
        from keras_blocks.models import convnext_tiny_base

        base = convnext_tiny_base((64, 64, 3), weights=None)
        base(np.zeros((1, 64, 64, 3), "float32")).shape  # (1, 2, 2, 768)
        ```
    """
    shape = _checks.input_shape(_OWNER, input_shape, min_size=32,
                                why="the network downsamples 32x")
    path = _pretrained.resolve_weights(_OWNER, weights, _imagenet_file)
    stored = None if path is None else _split_nested(_pretrained.read_h5_weights(path, _OWNER))

    inputs = keras.Input(shape=shape, name="image")
    stem = ConvBlock(WIDTHS[0], kernel_size=4, strides=4, padding="valid", norm="layer",
                     norm_epsilon=_EPSILON, activation=None, pool=None, use_bias=True,
                     name="stem")
    x = stem(inputs)
    plan = [(f"{_PREFIX}_stem_conv", stem.convs[0]),
            (f"{_PREFIX}_stem_layernorm", stem.norms[0])]
    for stage, (depth, width) in enumerate(zip(DEPTHS, WIDTHS, strict=True)):
        if stage > 0:
            norm = registry.get_norm("layer", epsilon=_EPSILON,
                                     name=f"downsampling_norm_{stage - 1}")
            down = ConvBlock(width, kernel_size=2, strides=2, padding="valid", activation=None,
                             pool=None, use_bias=True, name=f"downsampling_{stage - 1}")
            x = down(norm(x))
            plan += [(f"{_PREFIX}_downsampling_layernorm_{stage - 1}", norm),
                     (f"{_PREFIX}_downsampling_conv_{stage - 1}", down.convs[0])]
        for index in range(depth):
            block = ConvNeXtBlock(kernel_size=7, expansion=4, layer_scale_init=1e-6,
                                  norm="layer", norm_epsilon=_EPSILON,
                                  name=f"stage_{stage}_block_{index}")
            x = block(x)
            prefix = f"{_PREFIX}_stage_{stage}_block_{index}"
            plan += [(f"{prefix}_depthwise_conv", block.depthwise),
                     (f"{prefix}_layernorm", block.norm_layer),
                     (f"{prefix}_pointwise_conv_1", block.expand),
                     (f"{prefix}_pointwise_conv_2", block.project),
                     (f"{prefix}_layer_scale", [block.gamma])]
    head_norm = registry.get_norm("layer", epsilon=_EPSILON, name="head_norm")
    outputs = head_norm(x)
    model = keras.Model(inputs, outputs, name=name)
    if path is not None:
        # keras.applications leaves the final layer norm unnamed: its name in a file is
        # whatever Keras numbered it ("layer_normalization", "layer_normalization_3"...).
        unnamed = [key for key in stored if key.startswith("layer_normalization")]
        if len(unnamed) == 1:
            plan.append((unnamed[0], head_norm))
        else:
            plan.append(("layer_normalization", head_norm))  # reports what is missing
        _pretrained.load_weights_by_plan(_OWNER, path, plan, stored)
    return model


def _split_nested(stored):
    """Keras 2 `.h5` files keep the stem and the downsampling layers as one nested
    layer each (`convnext_tiny_stem`: conv kernel, bias, norm scale, shift;
    `convnext_tiny_downsampling_block_N`: norm scale, shift, conv kernel, bias); Keras 3
    files name the inner layers. Splits the former into the latter's names."""
    stored = dict(stored)
    stem = stored.pop(f"{_PREFIX}_stem", None)
    if stem is not None and len(stem) == 4:
        stored[f"{_PREFIX}_stem_conv"], stored[f"{_PREFIX}_stem_layernorm"] = stem[:2], stem[2:]
    for index in range(len(DEPTHS) - 1):
        block = stored.pop(f"{_PREFIX}_downsampling_block_{index}", None)
        if block is not None and len(block) == 4:
            stored[f"{_PREFIX}_downsampling_layernorm_{index}"] = block[:2]
            stored[f"{_PREFIX}_downsampling_conv_{index}"] = block[2:]
    # keras.applications writes the 7x7 depthwise filter as a grouped convolution
    # (kernel (7, 7, 1, C), groups=C); DepthwiseConv2D holds the same numbers as
    # (7, 7, C, 1).
    for key, arrays in stored.items():
        if key.endswith("_depthwise_conv") and arrays and arrays[0].ndim == 4 \
                and arrays[0].shape[2] == 1:
            stored[key] = [arrays[0].transpose(0, 1, 3, 2), *arrays[1:]]
    return stored
