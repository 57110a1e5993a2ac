"""SqueezeNet v1.1 (Iandola et al., 2016) rebuilt from keras_blocks blocks."""

from __future__ import annotations

import keras

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.fire_block import FireBlock
from keras_blocks.models import _checks, _pretrained

_OWNER = "squeezenet_base"
# Where rcmalli/keras-squeezenet (MIT) publishes the converted Caffe weights without top.
IMAGENET_URL = (
    "https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
    "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
)

# (fire id, squeeze, expand, max pooling after it): SqueezeNet v1.1.
_FIRES = (
    (2, 16, 64, False),
    (3, 16, 64, True),
    (4, 32, 128, False),
    (5, 32, 128, True),
    (6, 48, 192, False),
    (7, 48, 192, False),
    (8, 64, 256, False),
    (9, 64, 256, False),
)


def squeezenet_base(input_shape, weights=None, name="squeezenet_base"):
    """SqueezeNet v1.1 without its classifier, built from a `ConvBlock` and eight `FireBlock`s.

    conv1 (64 filters, 3x3, stride 2, valid) + ReLU, max pooling 3/2, fire2-3 (squeeze 16,
    expand 64 + 64), max pooling, fire4-5 (32, 128), max pooling, fire6-7 (48, 192),
    fire8-9 (64, 256): 512 output channels. Pooling is "valid", so a side of `n` pixels
    ends as `floor` of four successive halvings (32 -> 1, 96 -> 5, 227 -> 13); sides
    below 31 are too small.

    Inputs are expected caffe-style, as
    `keras.applications.imagenet_utils.preprocess_input(x, mode="caffe")` leaves them:
    BGR channel order, ImageNet mean subtracted, no scaling. The model does no
    preprocessing.

    The model's layers are named after the published ones: `conv1`, `pool1`, `fire2` ...
    `fire9`, `pool3`, `pool5`.

    Args:
        input_shape: `(height, width, channels)`; height and width may be `None`.
        weights: `None` (random initialization), `"imagenet"` (downloads the
            rcmalli/keras-squeezenet no-top file), or the path of a weights file with the
            published layer names (`conv1`, `fire2/squeeze1x1`, `fire2/expand1x1`,
            `fire2/expand3x3`, ...), such as `squeezenet_v1.1_no_top.h5`.
        name: the model's name.

    Returns:
        A `keras.Model` mapping images to the `fire9` feature map (512 channels).

    Raises:
        FileNotFoundError: `weights` is a path that does not exist.
        ValueError: a bad or too small `input_shape`, or a weights file that does not fit
            (the message names the file and the first mismatching layer with the expected
            and the file's shapes).

    Example:
        ```python
        import numpy as np
        from keras_blocks.models import squeezenet_base

        base = squeezenet_base((96, 96, 3), weights=None)
        base(np.zeros((1, 96, 96, 3), "float32")).shape  # (1, 5, 5, 512)
        ```
    """
    shape = _checks.input_shape(_OWNER, input_shape)
    for side in shape[:2]:
        if side is not None and side < 31:
            raise ValueError(
                f"{_OWNER}: `input_shape` {input_shape!r} is too small: SqueezeNet's "
                "convolution and three 3x3/2 poolings need at least 31 pixels per side."
            )
    path, stored = _pretrained.open_weights(
        _OWNER,
        weights,
        lambda: keras.utils.get_file(
            "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
            IMAGENET_URL,
            cache_subdir="models",
        ),
    )

    inputs = keras.Input(shape=shape, name="image")
    stem = ConvBlock(64, kernel_size=3, strides=2, padding="valid", activation="relu",
                     pool=None, name="conv1")
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(stem(inputs))
    plan = [("conv1", stem.convs[0])]
    for fire_id, squeeze, expand, pool_after in _FIRES:
        fire = FireBlock(squeeze, expand, activation="relu", name=f"fire{fire_id}")
        x = fire(x)
        plan += [
            (f"fire{fire_id}/squeeze1x1", fire.convs[0]),
            (f"fire{fire_id}/expand1x1", fire.convs[1]),
            (f"fire{fire_id}/expand3x3", fire.convs[2]),
        ]
        if pool_after:
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{fire_id}")(x)
    model = keras.Model(inputs, x, name=name)
    if path is not None:
        _pretrained.load_weights_by_plan(_OWNER, path, plan, stored)
    return model
