"""KerasCVLayer: a keras-cv augmentation layer as a step of a keras_blocks Pipeline.

keras-cv is frozen upstream, so it is an optional extra (`pip install
"keras_blocks[cv]"`) and this is the ONLY module that imports it, lazily: keras_blocks
imports and works without keras-cv installed.
"""

from __future__ import annotations

import importlib
import json

import keras

from keras_blocks import registry
from keras_blocks.augment._base import AugmentationLayer

# keras-cv layers that read and rewrite labels (dict format {"images", "labels"}).
_LABEL_MIXERS = ("MixUp", "CutMix", "FourierMix", "Mosaic")


def import_keras_cv():
    """`keras_cv`, or an ImportError saying how to install it."""
    try:
        return importlib.import_module("keras_cv")
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "KerasCVLayer needs keras-cv: pip install 'keras_blocks[cv]' (or keras-cv)."
        ) from error


@keras.saving.register_keras_serializable(package="keras_blocks")
class KerasCVLayer(AugmentationLayer):
    """Wraps a `keras_cv.layers` augmentation layer for a keras_blocks pipeline.

    The wrapper speaks the keras_blocks conventions around the keras-cv layer: inputs
    may be images, `(images, labels)` or `{"images", "labels"}`; images reach keras-cv
    as float32 (its MixUp and CutMix fail on float64, NumPy's default) and labels as
    float32; label-mixing layers (MixUp, CutMix, FourierMix, Mosaic) get keras-cv's
    dict format; at inference (`training=False`) the wrapper is the identity.

    keras-cv layers compute with TensorFlow: use them with the TensorFlow backend or in
    a `tf.data` pipeline. On JAX, a model holding one cannot be compiled (`jax.jit`
    cannot trace TensorFlow ops; Keras compiles training by default there); in a PyTorch
    model it runs, eagerly, through TensorFlow.

    Args:
        layer: a keras-cv layer, or the name of a `keras_cv.layers` class
            (`"RandomSharpness"`, `"MixUp"`, ...).
        arguments: keyword arguments for the class when `layer` is a name.
        seed: unused by the wrapper (keras-cv layers take their own `seed`); kept for
            the common layer signature.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Input shape:
        A batch `(batch, height, width, channels)` or one image `(height, width,
        channels)`, channels last, of any real dtype (`uint8` pixels are fine).

    Output shape:
        What the wrapped keras-cv layer gives (most keep the input's shape), in the
        layer's compute dtype.

    Call arguments:
        - `inputs`: the images; or `(images, labels)`, or a dict with `"images"` and
          `"labels"`; the output has the same structure.
        - `training`: augment when true (the default when the layer is called
          directly); with `False` the inputs pass through unchanged.

    Raises:
        ImportError: keras-cv is not installed.
        ValueError: unknown class name, or a label-mixing layer called without labels.

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import KerasCVLayer, Pipeline, RandomFlip

        augment = Pipeline([
            RandomFlip("horizontal"),
            KerasCVLayer("RandomSharpness", {"factor": 0.5, "value_range": (0, 255)}),
            KerasCVLayer("MixUp"),
        ])
        images = np.random.rand(8, 32, 32, 3) * 255
        labels = np.eye(2)[np.random.randint(0, 2, 8)]
        images, labels = augment((images, labels))
        ```
    """

    def __init__(self, layer, arguments=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        keras_cv = import_keras_cv()
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if isinstance(layer, str):
            cls = getattr(keras_cv.layers, layer, None)
            if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
                raise ValueError(
                    f"KerasCVLayer: `layer`={layer!r} is not a keras_cv.layers class."
                )
            layer = cls(**(arguments or {}))
        elif arguments:
            raise ValueError("KerasCVLayer: `arguments` only applies when `layer` is a "
                             f"class name; got a layer and arguments={arguments!r}.")
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"KerasCVLayer: `layer` must be a keras-cv layer or its class "
                             f"name; got {layer!r}.")
        self.layer = layer
        self.arguments = None
        self.needs_labels = type(layer).__name__ in _LABEL_MIXERS

    def augment(self, b, images, labels, training):
        if not training:
            return images, labels
        images = b.cast(images, "float32")
        if self.needs_labels or labels is not None:
            data = {"images": images}
            if labels is not None:
                data["labels"] = b.cast(labels, "float32")
            out = self.layer(data, training=True)
            return out["images"], out.get("labels", labels)
        return self.layer(images, training=True), labels

    def output_image_size(self, height, width):
        try:
            shape = self.layer.compute_output_shape((None, height, width, 3))
        except Exception:  # most keras-cv augmenters keep the size and say nothing
            return height, width
        return shape[1], shape[2]

    def output_label_spec(self, labels_spec):
        return keras.KerasTensor(labels_spec.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        # Through JSON and back, as a saved file holds it: keras-cv keeps tuples (its
        # value_range, the built input shape) that would come back as lists, and a
        # config must equal its own round trip.
        layer = json.loads(json.dumps(keras.saving.serialize_keras_object(self.layer)))
        config.update({"layer": layer, "arguments": None})
        return config

    @classmethod
    def from_config(cls, config):
        import_keras_cv()  # registers keras-cv's classes for deserialization
        return cls(**config)


registry.register("augmentation", "keras_cv", KerasCVLayer)
