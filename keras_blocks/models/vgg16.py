"""VGG16 (Simonyan and Zisserman, 2014), the course's pretrained base, rebuilt from ConvBlocks."""

from __future__ import annotations

import keras

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.models import _checks, _pretrained

_OWNER = "vgg16_base"
# The file keras.applications.VGG16(include_top=False) downloads, and its hash.
IMAGENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
IMAGENET_HASH = "6d6bbae143d832006294945121d1f1fc"

# (filters, convolutions) of the five blocks; each ends with 2x2 max pooling.
STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def _imagenet_file():
    return keras.utils.get_file(
        IMAGENET_URL.rsplit("/", 1)[-1], IMAGENET_URL, cache_subdir="models",
        file_hash=IMAGENET_HASH,
    )


def vgg16_base(input_shape, weights=None, name="vgg16_base"):
    """VGG16 without its classifier: five `ConvBlock`s (3x3 convolutions with biases and
    ReLU, `repeats` 2, 2, 3, 3, 3, then 2x2 max pooling).

    With the same weights its features equal those of
    `keras.applications.VGG16(include_top=False)`. The blocks are named `block1` ...
    `block5`; their convolutions load from the published `blockN_convM` layers.

    Inputs are expected as `keras.applications.vgg16.preprocess_input` leaves them
    ("caffe": BGR, ImageNet mean subtracted); the model does no preprocessing
    (`pretrained_base("kb_vgg16")` puts it inside).

    Args:
        input_shape: `(height, width, channels)`; height and width may be `None`
            (at least 32 when known: five poolings halve them).
        weights: `None` (random initialization), `"imagenet"` (downloads the file
            `keras.applications` uses), or the path of a weights file in the
            `keras.applications` layer layout (Keras 3 `.weights.h5` or Keras 2 `.h5`).
        name: the model's name.

    Returns:
        A `keras.Model` mapping images to the last feature map,
        `(batch, height // 32, width // 32, 512)`.

    Raises:
        FileNotFoundError: `weights` is a path that does not exist.
        ValueError: a bad `input_shape`, or a weights file that does not fit (the
            message names the file and the first mismatching layer with the expected and
            the file's shapes).

    Example:
        ```python
        import numpy as np
        from keras_blocks.models import vgg16_base

        base = vgg16_base((64, 64, 3), weights=None)
        base(np.zeros((1, 64, 64, 3), "float32")).shape  # (1, 2, 2, 512)
        ```
    """
    shape = _checks.input_shape(_OWNER, input_shape, min_size=32, why="five 2x2 poolings")
    path, stored = _pretrained.open_weights(_OWNER, weights, _imagenet_file)

    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    plan = []
    for index, (filters, repeats) in enumerate(STAGES, start=1):
        block = ConvBlock(filters, kernel_size=3, repeats=repeats, activation="relu",
                          pool="max", use_bias=True, name=f"block{index}")
        x = block(x)
        plan += [(f"block{index}_conv{i + 1}", conv) for i, conv in enumerate(block.convs)]
    model = keras.Model(inputs, x, name=name)
    if path is not None:
        _pretrained.load_weights_by_plan(_OWNER, path, plan, stored)
    return model
