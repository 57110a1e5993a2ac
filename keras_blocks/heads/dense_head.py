"""DenseHead: the classifying half of a convolutional classifier."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks._composed import ComposedLayer

_POOLINGS = ("avg", "max", "avgmax", "flatten", None)


@keras.saving.register_keras_serializable(package="keras_blocks")
class DenseHead(ComposedLayer):
    """Pooling, optional hidden Dense layers, then the class scores.

    The course's classifier is a base that extracts a feature map and a head that
    turns it into class scores; this is the head. `units=(6,)` gives the course's
    `Dense(6, relu) -> Dense(1, sigmoid)` head. Dropout, when set, is applied to the
    input of every Dense layer (the pooled features and each hidden output).

    The output is always float32 (also under `mixed_float16`), so losses and
    probabilities stay numerically safe; the output activation is computed in float32.

    Args:
        num_classes: output units (int >= 1). One class means a binary classifier.
        units: sizes of the hidden Dense layers, an int or a sequence of ints >= 1
            (default `()`: none).
        dropout: dropout rate before every Dense layer, in [0, 1).
        pooling: how a rank-4 feature map becomes a vector: `"avg"` (default, global
            average), `"max"`, `"avgmax"` (both, concatenated), `"flatten"`, or `None`
            for features that are already pooled (rank 2).
        activation: activation of the hidden layers: a name (`"relu"`, `"swish"`, ...),
            a layer, a callable, or `None`.
        norm: normalization after each hidden Dense layer: `None` (default),
            `"batch"`, `"layer"`, ... or a layer.
        output_activation: `"auto"` (default: sigmoid for one class, softmax for
            several), `None` for logits, or any activation name, layer or callable.
        kernel_initializer: initializer of the Dense kernels.
        bias_initializer: initializer of the Dense biases.
        kernel_regularizer: regularizer of the Dense kernels.
        bias_regularizer: regularizer of the Dense biases.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        A feature map `(batch, height, width, channels)`, or pooled features
        `(batch, features)` with `pooling=None`.

    Output shape:
        `(batch, num_classes)`, float32 (also under mixed precision): probabilities,
        or logits with `output_activation=None`.

    Call arguments:
        - `inputs`: the feature map (or features).
        - `training`: whether dropout and batch normalization run in training mode;
          Keras sets it in `fit` (true) and `predict`/`evaluate` (false).

    Raises:
        ValueError: invalid arguments (at construction); at build time, `pooling=None`
            on an unpooled rank-4 input, or a pooling on a rank that it cannot pool.

    Example:
        ```python
        import numpy as np
        from keras_blocks import DenseHead

        head = DenseHead(num_classes=1, units=(6,))
        probabilities = head(np.zeros((2, 4, 4, 32), "float32"))  # shape (2, 1)
        head.from_logits  # False: a sigmoid is applied
        ```
    """

    def __init__(
        self,
        num_classes=1,
        units=(),
        dropout=0.0,
        pooling="avg",
        activation="relu",
        norm=None,
        output_activation="auto",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = "DenseHead"
        self.num_classes = check.positive_int(owner, "num_classes", num_classes)
        self.units = _unit_tuple(units)
        self.dropout = check.fraction(owner, "dropout", dropout)
        self.pooling = check.one_of(owner, "pooling", pooling, _POOLINGS)
        self.activation = registry.resolve("activation", activation)
        self.norm = registry.resolve("norm", norm)
        if not (isinstance(output_activation, str) and output_activation == "auto"):
            output_activation = registry.resolve(
                "activation", output_activation, "output_activation"
            )
        self.output_activation = output_activation
        if self.num_classes == 1 and self.final_activation == "softmax":
            raise ValueError(
                "DenseHead: `output_activation='softmax'` with num_classes=1 always outputs "
                "1.0; use 'auto' or 'sigmoid' for one class, or num_classes >= 2."
            )
        self._init_weight_arguments(
            kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )
        # Made in build (see keras_blocks._composed).
        self.pool_layers, self.hidden_layers, self.hidden_norms = [], [], []
        self.hidden_activations, self.dropout_layers = [], []
        self.classifier = self.output_layer = None

    def _make_sublayers(self):
        policy = self.dtype_policy
        pools = {
            "avg": [keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=policy)],
            "max": [keras.layers.GlobalMaxPooling2D(name="max_pool", dtype=policy)],
            "avgmax": [
                keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=policy),
                keras.layers.GlobalMaxPooling2D(name="max_pool", dtype=policy),
            ],
            "flatten": [keras.layers.Flatten(name="flatten", dtype=policy)],
            None: [],
        }
        self.pool_layers = pools[self.pooling]
        self.hidden_layers, self.hidden_norms, self.hidden_activations = [], [], []
        for i, size in enumerate(self.units):
            self.hidden_layers.append(
                self.make_dense(size, name=f"dense{i}", use_bias=self.norm is None)
            )
            self.hidden_norms.append(self.make_norm(size, name=f"norm{i}"))
            self.hidden_activations.append(self.make_act(self.activation, name=f"act{i}"))
        self.dropout_layers = [
            self.make_dropout(self.dropout, name=f"dropout{i}")
            for i in range(len(self.units) + 1)
        ]
        self.classifier = self.make_dense(self.num_classes, name="logits")
        # The output activation runs in float32 whatever the policy: probabilities and
        # the loss must not be computed in float16.
        final = self.final_activation
        self.output_layer = (
            None
            if final is None
            else self.make_act(final, name="output_activation", dtype="float32")
        )

    # ----------------------------------------------------------------------------------
    # What the compile helper reads.

    @property
    def final_activation(self):
        """`"sigmoid"`, `"softmax"`, `None` (logits), or the custom output activation."""
        if isinstance(self.output_activation, str):
            name = self.output_activation.strip().lower()
            if name == "auto":
                return "sigmoid" if self.num_classes == 1 else "softmax"
            if name in ("linear", "identity"):
                return None
            return name
        return self.output_activation

    @property
    def from_logits(self) -> bool:
        """True when the head outputs logits (no output activation)."""
        return self.final_activation is None

    # ----------------------------------------------------------------------------------

    def _check_input_shape(self, input_shape):
        rank = len(input_shape)
        if self.pooling is None and rank != 2:
            raise ValueError(
                f"DenseHead: `pooling=None` expects already pooled rank-2 features "
                f"(batch, features); got shape {tuple(input_shape)} (rank {rank}). Use "
                f"pooling='avg', 'max', 'avgmax' or 'flatten' for a feature map."
            )
        if self.pooling in ("avg", "max", "avgmax"):
            check.shape_rank(
                "DenseHead", input_shape, (4,), f"(batch, height, width, channels) for "
                f"pooling={self.pooling!r}"
            )
        if self.pooling == "flatten" and rank < 2:
            raise ValueError(
                f"DenseHead: `pooling='flatten'` needs a rank >= 2 input; got shape "
                f"{tuple(input_shape)}."
            )
        if self.pooling == "flatten":
            if any(d is None for d in input_shape[1:]):
                raise ValueError(
                    "DenseHead: `pooling='flatten'` needs every non-batch dimension known "
                    f"at build time; got shape {tuple(input_shape)}. Use pooling='avg'."
                )
        else:
            check.known_channels("DenseHead", input_shape)

    def _pooled_shape(self, input_shape):
        batch = input_shape[0]
        if self.pooling is None:
            return (batch, input_shape[-1])
        if self.pooling == "flatten":
            size = 1
            for d in input_shape[1:]:
                size *= d
            return (batch, size)
        channels = input_shape[-1] * (2 if self.pooling == "avgmax" else 1)
        return (batch, channels)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self._make_sublayers()
        for layer in self.pool_layers:
            layer.build(input_shape)
        shape = self._pooled_shape(input_shape)
        for dense, norm, act in zip(
            self.hidden_layers, self.hidden_norms, self.hidden_activations, strict=True
        ):
            dense.build(shape)
            shape = (shape[0], dense.units)
            if norm is not None:
                norm.build(shape)
            act.build(shape)
        self.classifier.build(shape)
        if self.output_layer is not None:
            self.output_layer.build((shape[0], self.num_classes))
        self.built = True

    def call(self, inputs, training=None):
        if self.pooling == "avgmax":
            x = keras.ops.concatenate(
                [self.pool_layers[0](inputs), self.pool_layers[1](inputs)], axis=-1
            )
        elif self.pool_layers:
            x = self.pool_layers[0](inputs)
        else:
            x = inputs
        for i, (dense, norm, act) in enumerate(
            zip(self.hidden_layers, self.hidden_norms, self.hidden_activations, strict=True)
        ):
            if self.dropout_layers[i] is not None:
                x = self.dropout_layers[i](x, training=training)
            x = dense(x)
            if norm is not None:
                x = norm(x, training=training)
            x = act(x)
        if self.dropout_layers[-1] is not None:
            x = self.dropout_layers[-1](x, training=training)
        x = keras.ops.cast(self.classifier(x), "float32")
        if self.output_layer is not None:
            x = self.output_layer(x)
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "units": list(self.units),
                "dropout": self.dropout,
                "pooling": self.pooling,
                "activation": registry.serialize_spec(self.activation),
                "norm": registry.serialize_spec(self.norm),
                "output_activation": registry.serialize_spec(self.output_activation),
                **self._weight_config(),
            }
        )
        return config


def _unit_tuple(units) -> tuple[int, ...]:
    if isinstance(units, int) and not isinstance(units, bool):
        units = (units,)
    if units is None or isinstance(units, str) or not isinstance(units, Sequence):
        raise ValueError(
            f"DenseHead: `units` must be an int or a sequence of ints >= 1 (the hidden "
            f"Dense sizes; () for none); got {units!r}."
        )
    return tuple(check.positive_int("DenseHead", f"units[{i}]", u) for i, u in enumerate(units))


registry.register("head", "dense", DenseHead)
