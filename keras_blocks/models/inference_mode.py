"""InferenceMode: run a wrapped layer (a pretrained base) with `training=False`, always."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_blocks")
class InferenceMode(keras.layers.Layer):
    """Calls the wrapped layer or model with `training=False`, also inside `fit`.

    Why a layer: the classic recipe `x = base(x, training=False)` inside a functional
    model does not hold in Keras 3. When the outer model runs with `training=True`
    (as `fit` does), the functional graph passes that value to every layer it calls,
    replacing the `training=False` recorded at construction
    (keras-team/keras#20285). A pretrained base's batch normalization then updates its
    ImageNet moving statistics as soon as it is unfrozen, the known fine-tuning trap.
    This wrapper's `call` takes no `training` argument, so nothing is injected into it,
    and it calls the base with an explicit `training=False`.

    Weights still train when the wrapped layer is trainable; only the inference
    behaviour (batch-norm statistics, dropout) is fixed. Trainability goes through:
    setting `trainable` on the wrapper sets it on the wrapped layer.

    Args:
        layer: the layer or model to run in inference mode.
        **kwargs: standard layer arguments (`name`, `dtype`); the dtype policy defaults
            to the wrapped layer's.

    Input shape:
        What the wrapped layer takes.

    Output shape:
        What the wrapped layer returns (its `compute_output_shape`).

    Call arguments:
        - `inputs`: the wrapped layer's inputs. There is no `training` argument: the
          wrapped layer always runs with `training=False`.

    Example:
        ```python
        import keras
        from keras_blocks import InferenceMode, pretrained_base

        base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
        inputs = keras.Input((32, 32, 3))
        features = InferenceMode(base)(inputs)  # batch norm never in training mode
        ```
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                f"InferenceMode: `layer` must be a Keras layer or model; got {layer!r} "
                f"(type {type(layer).__name__})."
            )
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(**kwargs)
        self.layer = layer
        if not self.trainable:
            # `InferenceMode(layer, trainable=False)` freezes the wrapped layer, as setting
            # `trainable` on the wrapper later does.
            layer.trainable = False

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, inputs):
        return self.layer(inputs, training=False)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def compute_output_spec(self, inputs):
        return self.layer.compute_output_spec(inputs)

    def get_config(self):
        config = super().get_config()
        layer = keras.saving.serialize_keras_object(self.layer)
        # The wrapper's own build config rebuilds the layer; leaving the layer's out keeps
        # the config the same before and after building.
        layer.pop("build_config", None)
        config["layer"] = layer
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        return cls(layer, **config)
