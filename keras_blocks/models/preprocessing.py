"""ImagePreprocessing: keras.applications' `preprocess_input` as a serializable layer."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check

MODES = ("tf", "torch", "caffe", "none")

# The constants of keras.applications.imagenet_utils.preprocess_input.
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="keras_blocks")
class ImagePreprocessing(keras.layers.Layer):
    """Maps raw RGB pixels in [0, 255] to what a pretrained network expects.

    Putting the preprocessing inside the model (instead of in the input pipeline) means
    a saved classifier takes raw pixels, so nobody can forget it or apply the wrong one.
    The modes are those of `keras.applications.imagenet_utils.preprocess_input`
    (channels-last):

    - `"tf"`: scale to [-1, 1] (`x / 127.5 - 1`): MobileNet, MobileNetV2, Xception,
      Inception.
    - `"torch"`: scale to [0, 1], then subtract the ImageNet mean and divide by its
      standard deviation per channel: DenseNet.
    - `"caffe"`: RGB to BGR, then subtract the ImageNet mean (BGR order), no scaling:
      VGG16, VGG19, ResNet50, SqueezeNet.
    - `"none"`: identity (EfficientNet and ConvNeXt include their own rescaling).

    The arithmetic runs in float32 and the result is cast to the layer's compute dtype.

    Args:
        mode: `"tf"`, `"torch"`, `"caffe"` or `"none"`.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Input shape:
        `(batch, height, width, 3)` (or one image), raw pixels in [0, 255], any real
        dtype.

    Output shape:
        The input's shape, in the layer's compute dtype, scaled as `mode` says.

    Call arguments:
        - `inputs`: the images (no `training` argument: the same at every call).

    Example:
        ```python
        import numpy as np
        from keras_blocks import ImagePreprocessing

        layer = ImagePreprocessing("tf")
        layer(np.full((1, 2, 2, 3), 255.0, "float32"))  # all ones
        ```
    """

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        self.mode = check.one_of("ImagePreprocessing", "mode", mode, MODES)

    def build(self, input_shape):
        if self.mode in ("torch", "caffe"):
            check.shape_rank(
                "ImagePreprocessing", input_shape, (3, 4), "(batch, height, width, 3) images"
            )
            if input_shape[-1] != 3:
                raise ValueError(
                    f"ImagePreprocessing: mode={self.mode!r} needs 3 channels (RGB) on the "
                    f"last axis; got shape {tuple(input_shape)}."
                )
        self.built = True

    def call(self, inputs):
        if self.mode == "none":
            return keras.ops.cast(inputs, self.compute_dtype)
        x = keras.ops.cast(inputs, "float32")
        if self.mode == "tf":
            x = x / 127.5 - 1.0
        elif self.mode == "torch":
            mean = keras.ops.convert_to_tensor(_TORCH_MEAN, "float32")
            std = keras.ops.convert_to_tensor(_TORCH_STD, "float32")
            x = (x / 255.0 - mean) / std
        else:
            mean = keras.ops.convert_to_tensor(_CAFFE_MEAN_BGR, "float32")
            x = keras.ops.flip(x, axis=-1) - mean
        return keras.ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config
