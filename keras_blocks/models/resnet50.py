"""ResNet50 v1 (He et al., 2015) rebuilt from ConvBlock and ResidualBlock."""

from __future__ import annotations

import keras

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.residual_block import ResidualBlock
from keras_blocks.models import _checks, _pretrained

_OWNER = "resnet50_base"
# The file keras.applications.ResNet50(include_top=False) downloads, and its hash.
IMAGENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
    "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
IMAGENET_HASH = "4d473c1dd8becc155b73f8504c6f6626"
# (filters, blocks) of the four stages conv2 ... conv5; every stage but conv2 halves the
# size in its first block.
STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))
_EPSILON = 1.001e-5  # keras.applications' batch-norm epsilon for ResNets


def _imagenet_file():
    return keras.utils.get_file(
        IMAGENET_URL.rsplit("/", 1)[-1], IMAGENET_URL, cache_subdir="models",
        file_hash=IMAGENET_HASH,
    )


# Set by the builder for every block: the architecture itself.
_RESERVED = ("filters", "variant", "strides", "name")


def resnet50_base(input_shape, weights=None, name="resnet50_base", block_options=None,
                  strict=True):
    """ResNet50 (v1) without its classifier, built from `ConvBlock` and `ResidualBlock`.

    The stem is a `ConvBlock` (7x7/2 convolution with bias, batch norm, ReLU; padded by
    3 pixels first) and a 3x3/2 max pooling (padded by 1 pixel first), as
    `keras.applications` pads them. Then four stages of 3, 4, 6 and 3 bottleneck
    `ResidualBlock`s (`filters` 64, 128, 256, 512; 256 ... 2048 channels out) with
    `stride_on="first"` (the original v1: the first 1x1 convolution strides), convolution
    biases and batch-norm epsilon 1.001e-5; the first block of each stage has a
    projection shortcut. With the same weights its features equal those of
    `keras.applications.ResNet50(include_top=False)`.

    Inputs are expected as `keras.applications.resnet50.preprocess_input` leaves them
    ("caffe": BGR, ImageNet mean subtracted); the model does no preprocessing
    (`pretrained_base("kb_resnet50")` puts it inside).

    The blocks are named after the published layers: `conv1` (stem), `pool1`,
    `conv2_block1` ... `conv5_block3`; block `convN_blockM` loads the published
    `convN_blockM_{0,1,2,3}_{conv,bn}` layers (0: the shortcut's projection).

    Args:
        input_shape: `(height, width, channels)`; height and width may be `None`
            (at least 32 when known).
        weights: `None` (random initialization), `"imagenet"` (downloads the file
            `keras.applications` uses), or the path of a weights file in the
            `keras.applications` layer layout (Keras 3 `.weights.h5` or Keras 2 `.h5`).
        name: the model's name.
        block_options: extra [`ResidualBlock`][keras_blocks.ResidualBlock] arguments
            for all 16 blocks (a swapped block), for example `{"se_ratio": 1 / 16}`
            (SE-ResNet50) or `{"drop_path": 0.1}`; they override the v1 settings
            (`stride_on`, `use_bias`, `norm`, `norm_epsilon`), not `filters`,
            `variant`, `strides` or `name`.
        strict: with a weights file, `True` (default) requires every weighted layer to
            load from it; `False` loads the layers whose shapes still fit, keeps the
            others (new or reshaped by `block_options`) as initialized and warns which.

    Returns:
        A `keras.Model` mapping images to the last feature map,
        `(batch, ceil(height / 32), ceil(width / 32), 2048)`. With a weights file,
        `model.weights_report` is the
        [`LoadReport`][keras_blocks.models.pretrained.LoadReport]: which layers loaded
        and which kept their initial values.

    Raises:
        FileNotFoundError: `weights` is a path that does not exist.
        ValueError: a bad `input_shape` or `block_options`, or (with `strict`) a
            weights file that does not fit (the message names the file and the first
            mismatching layer with the expected and the file's shapes).

    Example:
        ```python
        import numpy as np
        from keras_blocks.models import resnet50_base

        base = resnet50_base((64, 64, 3), weights=None)
        base(np.zeros((1, 64, 64, 3), "float32")).shape  # (1, 2, 2, 2048)
        ```
    """
    shape = _checks.input_shape(_OWNER, input_shape, min_size=32,
                                why="the network downsamples 32x")
    options = _block_options(block_options)
    if not isinstance(strict, bool):
        raise ValueError(f"{_OWNER}: `strict` must be True or False; got {strict!r}.")
    path, stored = _pretrained.open_weights(_OWNER, weights, _imagenet_file)

    inputs = keras.Input(shape=shape, name="image")
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    stem = ConvBlock(64, kernel_size=7, strides=2, padding="valid", norm="batch",
                     norm_epsilon=_EPSILON, activation="relu", pool=None, use_bias=True,
                     name="conv1")
    x = stem(x)
    # After a ReLU, zero padding is as good as -inf padding for the max.
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    plan = [("conv1_conv", stem.convs[0]), ("conv1_bn", stem.norms[0])]
    for stage, (filters, blocks) in enumerate(STAGES, start=2):
        for index in range(1, blocks + 1):
            prefix = f"conv{stage}_block{index}"
            block = ResidualBlock(
                filters, variant="bottleneck", strides=2 if index == 1 and stage > 2 else 1,
                name=prefix, **options,
            )
            x = block(x)
            plan += block_plan(prefix, block)
    model = keras.Model(inputs, x, name=name)
    if path is not None:
        model.weights_report = _pretrained.load_weights_by_plan(
            _OWNER, path, plan, stored, strict=strict, model=model)
    return model


def _block_options(block_options):
    options = {"stride_on": "first", "use_bias": True, "norm": "batch",
               "norm_epsilon": _EPSILON}
    if block_options is None:
        return options
    if not isinstance(block_options, dict) or not all(isinstance(k, str)
                                                      for k in block_options):
        raise ValueError(
            f"{_OWNER}: `block_options` must be None or a dict of ResidualBlock "
            f"arguments; got {block_options!r}."
        )
    reserved = sorted(set(block_options) & set(_RESERVED))
    if reserved:
        raise ValueError(
            f"{_OWNER}: `block_options` may not set {reserved} (the architecture sets "
            f"{', '.join(_RESERVED)}); got {block_options!r}."
        )
    return {**options, **block_options}


def block_plan(prefix, block):
    """`(published layer name, our layer)` pairs of one bottleneck block."""
    plan = []
    if block.projection is not None:
        plan += [(f"{prefix}_0_conv", block.projection),
                 (f"{prefix}_0_bn", block.projection_norm)]
    for i, (conv, norm) in enumerate(zip(block.convs, block.norms, strict=True), start=1):
        plan += [(f"{prefix}_{i}_conv", conv), (f"{prefix}_{i}_bn", norm)]
    return plan
