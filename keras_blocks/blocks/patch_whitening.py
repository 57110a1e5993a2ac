"""PatchWhitening: a first layer whose filters whiten small image patches, fitted to data."""

from __future__ import annotations

import keras
import numpy as np

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.blocks._base import Block

_PADDINGS = ("valid", "same")


@keras.saving.register_keras_serializable(package="keras_blocks")
class PatchWhitening(Block):
    """A fixed convolution that whitens `patch_size` x `patch_size` patches of its input.

    Call [`adapt`][keras_blocks.PatchWhitening.adapt] with training images first: it
    measures the mean and covariance of every patch (`patch_size**2 * channels` values)
    and sets the filters to the covariance's eigenvectors scaled by
    `1 / sqrt(eigenvalue + epsilon)`, each once as is and once negated, so the output has
    `2 * patch_size**2 * channels` channels: on the adapted images each is zero-mean
    with unit variance, the first half uncorrelated with one another, and both signs of
    every direction survive a following ReLU. The weights are not trained; they are
    saved with the model.

    As the first layer of a small convnet trained from scratch this removes what the
    first convolutions otherwise spend epochs learning (pixel correlations, colour
    balance): fast CIFAR-10 training recipes (Page's "bag of tricks" ResNet-9, Jordan's
    airbench) start this way. Before `adapt`, the filters pass every patch value through
    as is and negated (no whitening), so a forgotten `adapt` still trains, only slower.

    Args:
        patch_size: side of the square patch, int >= 1 (default 2).
        epsilon: added to each eigenvalue before the inverse square root (>= 0); keeps
            the near-constant directions of the covariance from being blown up. In the
            units of the input squared: for images scaled to [0, 1], the default 5e-4
            is about (0.02)^2.
        padding: `"valid"` (default; the output is `patch_size - 1` smaller) or `"same"`.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Input shape:
        `(batch, height, width, channels)`, channels last; integer images are cast
        to float.

    Output shape:
        `(batch, height - patch_size + 1, width - patch_size + 1, 2 * patch_size**2 *
        channels)` with `padding="valid"`; the input's height and width with
        `padding="same"`.

    Call arguments:
        - `inputs`: the images (a fixed filter bank: no `training` argument).

    Example:
        ```python
        import numpy as np
        from keras_blocks import PatchWhitening

        images = np.random.rand(64, 32, 32, 3).astype("float32")
        whiten = PatchWhitening(patch_size=2)
        whiten.adapt(images)
        whiten(images).shape  # (64, 31, 31, 24)
        ```
    """

    def __init__(self, patch_size=2, epsilon=5e-4, padding="valid", **kwargs):
        super().__init__(**kwargs)
        owner = "PatchWhitening"
        self.patch_size = check.positive_int(owner, "patch_size", patch_size)
        self.epsilon = check.non_negative(owner, "epsilon", epsilon)
        self.padding = check.one_of(owner, "padding", padding, _PADDINGS)

    def _patch_length(self, channels):
        return self.patch_size * self.patch_size * channels

    def _check_size(self, input_shape):
        """Height and width (where known) hold at least one patch ("valid" padding)."""
        if self.padding != "valid":
            return
        small = [d for d in tuple(input_shape)[1:3] if d is not None and d < self.patch_size]
        if small:
            raise ValueError(
                f"PatchWhitening: input shape {tuple(input_shape)} is smaller than one "
                f"patch (patch_size={self.patch_size}, padding='valid'): height and width "
                f"must be >= {self.patch_size}. Use a smaller `patch_size`, larger images, "
                "or padding='same'."
            )

    def build(self, input_shape):
        channels = self._check_image_shape(input_shape)
        self._check_size(input_shape)
        length = self._patch_length(channels)
        identity = np.eye(length, dtype="float32")
        kernel = np.concatenate([identity, -identity], axis=1)
        shape = (self.patch_size, self.patch_size, channels, 2 * length)
        self.kernel = self.add_weight(
            name="kernel", shape=shape, trainable=False,
            initializer=keras.initializers.Constant(kernel.reshape(shape)),
        )
        self.bias = self.add_weight(
            name="bias", shape=(2 * length,), trainable=False, initializer="zeros"
        )
        self.built = True

    def adapt(self, data, steps=None):
        """Fits the filters to `data`: whitening patches of these images.

        Args:
            data: images the layer will see, as an array `(batch, height, width,
                channels)` (NumPy or a backend tensor), or an iterable of such batches
                or of `(images, labels)` tuples (a `tf.data.Dataset`, a generator).
                Give them in the scale the layer receives (after any rescaling before
                it).
            steps: read at most this many batches from an iterable (None: all).

        Returns:
            The layer (so `PatchWhitening().adapt(x)` chains).

        Raises:
            ValueError: no images, images that are not rank 4, a channel count that
                differs from the one the layer was built for, or images smaller than
                one patch; the message names what it got.
        """
        owner = "PatchWhitening.adapt"
        if steps is not None:
            steps = check.positive_int(owner, "steps", steps)
        count, total, outer, channels = 0, None, None, None
        for i, batch in enumerate(_batches(data)):
            if steps is not None and i >= steps:
                break
            patches = self._patches(batch, owner)
            if channels is None:
                channels = batch.shape[-1]
            elif batch.shape[-1] != channels:
                raise ValueError(
                    f"{owner}: every batch needs {channels} channels; got a batch of shape "
                    f"{batch.shape}."
                )
            total = patches.sum(0) if total is None else total + patches.sum(0)
            product = patches.T @ patches
            outer = product if outer is None else outer + product
            count += len(patches)
        if not count:
            raise ValueError(f"{owner}: `data` held no images; got {data!r}.")
        if not self.built:
            self.build((None, None, None, channels))
        elif self.kernel.shape[2] != channels:
            raise ValueError(
                f"{owner}: the layer was built for {self.kernel.shape[2]} channels; the "
                f"images have {channels}."
            )
        mean = total / count
        covariance = outer / count - np.outer(mean, mean)
        values, vectors = np.linalg.eigh(covariance)
        # Largest variance first, so channel k and k + length are one direction's two signs.
        order = np.argsort(values)[::-1]
        values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
        scaled = vectors / np.sqrt(values + self.epsilon)
        kernel = np.concatenate([scaled, -scaled], axis=1)
        bias = -(mean @ kernel)
        self.kernel.assign(kernel.reshape(self.kernel.shape).astype("float32"))
        self.bias.assign(bias.astype("float32"))
        return self

    def _patches(self, images, owner):
        """(count, patch_size**2 * channels) float64 patches, rows ordered as the kernel."""
        if images.ndim != 4:
            raise ValueError(
                f"{owner}: images must be rank 4 (batch, height, width, channels); got "
                f"shape {images.shape}."
            )
        p = self.patch_size
        if images.shape[1] < p or images.shape[2] < p:
            raise ValueError(
                f"{owner}: images of shape {images.shape} are smaller than one "
                f"{p}x{p} patch."
            )
        windows = np.lib.stride_tricks.sliding_window_view(images, (p, p), axis=(1, 2))
        # (batch, h, w, channels, p, p) -> (batch, h, w, p, p, channels): the kernel's order.
        windows = np.moveaxis(windows, 3, -1)
        return windows.reshape(-1, p * p * images.shape[-1]).astype("float64")

    def call(self, inputs):
        inputs = self._float_inputs(inputs)
        self._check_size(inputs.shape)
        kernel = keras.ops.cast(self.kernel, inputs.dtype)
        bias = keras.ops.cast(self.bias, inputs.dtype)
        return keras.ops.conv(inputs, kernel, strides=1, padding=self.padding) + bias

    def compute_output_shape(self, input_shape):
        self._check_size(input_shape)
        channels = input_shape[-1]
        length = None if channels is None else 2 * self._patch_length(channels)
        if self.padding == "same":
            return (*tuple(input_shape)[:-1], length)
        shrink = self.patch_size - 1
        height, width = input_shape[1], input_shape[2]
        return (
            input_shape[0],
            None if height is None else height - shrink,
            None if width is None else width - shrink,
            length,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"patch_size": self.patch_size, "epsilon": self.epsilon, "padding": self.padding}
        )
        return config


def _batches(data):
    """NumPy image batches from an array or an iterable of arrays / (images, labels)."""
    if hasattr(data, "shape") and len(getattr(data, "shape", ())) == 4:
        yield np.asarray(keras.ops.convert_to_numpy(data))
        return
    if hasattr(data, "shape"):
        raise ValueError(
            "PatchWhitening.adapt: images must be rank 4 (batch, height, width, "
            f"channels); got shape {tuple(data.shape)}."
        )
    try:
        iterator = iter(data)
    except TypeError:
        raise ValueError(
            "PatchWhitening.adapt: `data` must be an array of images or an iterable of "
            f"image batches; got {type(data).__name__}."
        ) from None
    for item in iterator:
        if isinstance(item, tuple | list):
            item = item[0]
        yield np.asarray(keras.ops.convert_to_numpy(item))


registry.register("block", "patch_whitening", PatchWhitening)
