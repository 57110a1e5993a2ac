"""The Classifier model (augmentation, base, head), its builder and its compile defaults."""

from __future__ import annotations

import keras

from keras_blocks import registry
from keras_blocks.models import _checks
from keras_blocks.models.inference_mode import InferenceMode
from keras_blocks.models.preprocessing import ImagePreprocessing
from keras_blocks.models.pretrained import DEFAULT_INPUT_SHAPE, pretrained_base


def build_classifier(
    base,
    head="dense",
    augmentation=None,
    input_shape=None,
    name="classifier",
    weights="imagenet",
    base_inference=None,
) -> keras.Model:
    """The course's two-part classifier as one `keras.Model`: base, then head.

    The graph is `Input -> augmentation -> base -> head`. Keras augmentation layers are
    active only in training (`fit`), so `predict` and `evaluate` see the images as they
    are.

    Images may be uint8 (raw pixels) or floats: the model converts them to float32 as
    its first step (Keras casts a model's inputs to its input dtype inside the compiled
    step), so a uint8 pipeline (`make_pipeline(..., output_dtype="uint8")`) hands over a
    quarter of the bytes per image, and a saved model serves raw uint8 pixels as well.

    A pretrained base runs in inference mode (wrapped in
    [`InferenceMode`][keras_blocks.InferenceMode]): its batch normalization always uses
    the ImageNet moving statistics, also after it is unfrozen for fine-tuning (the
    known Keras trap: updating those statistics with small fine-tuning batches wrecks
    the pretrained features; in Keras 3 `base(x, training=False)` inside a functional
    model does not prevent it). A custom convnet trained from scratch runs normally.

    Args:
        base: a registered pretrained base name (`"mobilenet_v2"`, ..., see
            [`pretrained_base`][keras_blocks.pretrained_base]), a dict
            `{"name": ..., **pretrained_base arguments}`, or a Keras model or layer (a
            custom convnet stacked from keras_blocks blocks, or a model from
            `pretrained_base`).
        head: a registered head name (`"dense"`), a dict `{"name": "dense", **arguments}`
            (for example `{"name": "dense", "num_classes": 10}`), or a layer.
        augmentation: `None`, a layer (any Keras layer, such as `keras.layers.RandomFlip`
            or a keras_blocks augmentation layer), a list of layers (applied in order), or
            a registered augmentation name or dict.
        input_shape: `(height, width, channels)`. Default: the base model's input shape,
            or `(224, 224, 3)` for a named base.
        name: the model's name.
        weights: the weights of a base given by name or dict: `"imagenet"`, `None` or
            a local file path.
        base_inference: run the base in inference mode (wrapped in `InferenceMode`).
            Default `None`: yes for pretrained bases (given by name or dict, or built by
            `pretrained_base`), no for other models.

    Returns:
        A [`Classifier`][keras_blocks.Classifier] (a `keras.Model`) from raw images (for
        pretrained bases, pixels in [0, 255]) to the head's outputs, with `.base`,
        `.head`, `.augmentation` and `.preprocessing`.

    Raises:
        ValueError: an unknown base, head or augmentation name (listing the valid ones),
            an `input_shape` that does not match the base model's, or a head that is not
            a layer.
        FileNotFoundError: a weights path that does not exist.

    Example:
        ```python
        import keras
        from keras_blocks import build_classifier, compile_classifier

        model = build_classifier(
            "mobilenet_v2", head={"name": "dense", "units": (64,), "dropout": 0.2},
            augmentation=keras.layers.RandomFlip("horizontal"),
            input_shape=(96, 96, 3), weights=None)
        model.compile()  # binary crossentropy for the one-class head
        model.base.name  # 'pretrained_mobilenet_v2'
        ```
    """
    from_name = isinstance(base, str | dict)
    if isinstance(base, str):
        base = pretrained_base(base, weights=weights, input_shape=input_shape or
                               DEFAULT_INPUT_SHAPE)
    elif isinstance(base, dict):
        if "name" not in base:
            raise ValueError(
                "build_classifier: a `base` dict needs a 'name' key naming a registered base "
                f"({', '.join(registry.available('base'))}); got keys {sorted(base)}."
            )
        arguments = {"weights": weights, "input_shape": input_shape or DEFAULT_INPUT_SHAPE}
        arguments.update({k: v for k, v in base.items() if k != "name"})
        base = pretrained_base(base["name"], **arguments)
    elif not isinstance(base, keras.layers.Layer):
        raise ValueError(
            "build_classifier: `base` must be a registered base name "
            f"({', '.join(registry.available('base'))}), a dict, or a Keras model/layer; "
            f"got {base!r} (type {type(base).__name__})."
        )
    input_shape = _resolve_input_shape(base, input_shape)
    if base_inference is None:
        base_inference = from_name or _is_pretrained(base)
    if not isinstance(base_inference, bool):
        raise ValueError(
            f"build_classifier: `base_inference` must be None, True or False; got "
            f"{base_inference!r}."
        )

    head_layer = registry.create("head", head)
    if not isinstance(head_layer, keras.layers.Layer):
        raise ValueError(
            f"build_classifier: `head` must give a Keras layer; {head!r} gave "
            f"{head_layer!r} (type {type(head_layer).__name__})."
        )
    augmentation_layer = _augmentation_layer(augmentation)

    return Classifier(base, head_layer, augmentation=augmentation_layer,
                      base_inference=base_inference, input_shape=input_shape, name=name)


@keras.saving.register_keras_serializable(package="keras_blocks")
class Classifier(keras.Model):
    """A convolutional classifier that knows its parts: `augmentation -> base -> head`.

    The course's two-part model as a `keras.Model`: `.base` extracts features, `.head`
    classifies them, `.augmentation` (active only in training) comes first and
    `.preprocessing` is the pretrained base's own input scaling (or `None`). Because the
    model holds its parts, nothing has to search for them: `compile()` picks the loss and
    accuracy from `.head`, and `fine_tune(...)` / `unfreeze_top(...)` work on `.base`. It
    saves to `.keras` and loads (with `safe_mode=True`) as a `Classifier` that still
    knows its parts.

    Usually made with [`build_classifier`][keras_blocks.build_classifier], which also
    resolves names (`"mobilenet_v2"`, `"dense"`) and checks the input shape.

    Args:
        base: the feature extractor, a Keras model or layer.
        head: the classifying layer (for example a
            [`DenseHead`][keras_blocks.DenseHead]); `compile()` reads its `num_classes`,
            `from_logits` and `final_activation`.
        augmentation: a layer applied to the images first, or `None`.
        base_inference: run the base in inference mode (wrapped in
            [`InferenceMode`][keras_blocks.InferenceMode]), as pretrained bases should.
        input_shape: `(height, width, channels)` of the images.
        **kwargs: `keras.Model` arguments (`name`, `trainable`).

    Example:
        ```python
        from keras_blocks import Classifier, DenseHead, build_conv_net

        base = build_conv_net([{"name": "conv", "filters": 8}], input_shape=(32, 32, 3))
        model = Classifier(base, DenseHead(num_classes=3), input_shape=(32, 32, 3))
        model.compile()  # sparse categorical crossentropy and accuracy, from the head
        model.head.num_classes  # 3
        ```
    """

    def __init__(self, base, head, augmentation=None, base_inference=False,
                 input_shape=None, **kwargs):
        for argument, value in (("base", base), ("head", head)):
            if not isinstance(value, keras.layers.Layer):
                raise ValueError(
                    f"Classifier: `{argument}` must be a Keras layer or model; got {value!r} "
                    f"(type {type(value).__name__})."
                )
        if augmentation is not None and not isinstance(augmentation, keras.layers.Layer):
            raise ValueError(
                f"Classifier: `augmentation` must be None or a Keras layer; got "
                f"{augmentation!r} (type {type(augmentation).__name__})."
            )
        if not isinstance(base_inference, bool):
            raise ValueError(
                f"Classifier: `base_inference` must be True or False; got {base_inference!r}."
            )
        input_shape = _resolve_input_shape(base, input_shape, owner="Classifier")
        inputs = keras.Input(shape=input_shape, name="image")
        x = inputs
        if augmentation is not None:
            x = augmentation(x)
        # Not `base(x, training=False)`: Keras 3 functional models override that with the
        # outer call's `training` (see InferenceMode).
        runner = InferenceMode(base, name=f"inference_{base.name}") if base_inference else base
        outputs = head(runner(x))
        super().__init__(inputs, outputs, **kwargs)
        self.base = base
        self.head = head
        self.augmentation = augmentation
        self.base_inference = base_inference
        self.image_shape = tuple(input_shape)

    @property
    def preprocessing(self):
        """The pretrained base's input preprocessing layer, or `None`."""
        layers = self.base.layers if isinstance(self.base, keras.Model) else []
        found = [layer for layer in layers if isinstance(layer, ImagePreprocessing)]
        return found[0] if found else None

    def compile(self, optimizer="adam", loss="auto", metrics="auto", *, learning_rate=None,
                sparse_labels=True, **kwargs):
        """Compiles with the loss and accuracy the head calls for.

        `loss="auto"`: binary crossentropy for a one-class (sigmoid) head, categorical
        crossentropy (sparse for integer labels) for several classes, `from_logits=True`
        when the head outputs logits. `metrics="auto"` (or `"accuracy"` in a list): the
        accuracy that fits the head (logits thresholded at 0). See
        [`compile_classifier`][keras_blocks.compile_classifier] for every argument.
        """
        loss, metrics = _head_loss_and_metrics(
            self.head, loss, metrics, sparse_labels, owner="Classifier.compile"
        )
        super().compile(optimizer=make_optimizer(optimizer, learning_rate), loss=loss,
                        metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # A loaded model is compiled as it was saved: the resolved loss, metrics and
        # optimizer, not the "auto" defaults.
        config = keras.saving.deserialize_keras_object(config)
        keras.Model.compile(self, **config)
        if self.built and getattr(self, "optimizer", None) is not None:
            self.optimizer.build(self.trainable_variables)

    def unfreeze_top(self, count=None, unit="layers", freeze_batchnorm=True):
        """Unfreezes the top `count` layers or blocks of `.base`; see
        [`unfreeze_top`][keras_blocks.unfreeze_top]."""
        from keras_blocks.models.tuning import unfreeze_top

        return unfreeze_top(self, count, unit=unit, base=self.base,
                            freeze_batchnorm=freeze_batchnorm)

    def fine_tune(self, train_data, validation_data=None, **kwargs):
        """Trains the head, then the top of `.base`; see
        [`fine_tune`][keras_blocks.fine_tune] for every argument."""
        from keras_blocks.models.tuning import fine_tune

        kwargs.setdefault("base", self.base)
        return fine_tune(self, train_data, validation_data, **kwargs)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "base": keras.saving.serialize_keras_object(self.base),
            "head": keras.saving.serialize_keras_object(self.head),
            "augmentation": None
            if self.augmentation is None
            else keras.saving.serialize_keras_object(self.augmentation),
            "base_inference": self.base_inference,
            "input_shape": list(self.image_shape),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("base", "head", "augmentation"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(
                    config[key], custom_objects=custom_objects
                )
        config["input_shape"] = tuple(config["input_shape"])
        return cls(**config)


def _is_pretrained(base) -> bool:
    return isinstance(base, keras.Model) and any(
        isinstance(layer, ImagePreprocessing) for layer in base.layers
    )


def _resolve_input_shape(base, input_shape, owner="build_classifier"):
    base_shape = None
    if isinstance(base, keras.Model):
        try:
            base_shape = tuple(base.input_shape[1:])
        except (AttributeError, ValueError):
            base_shape = None
    if input_shape is None:
        if base_shape is None:
            raise ValueError(
                f"{owner}: `input_shape` is required when the base is a layer or "
                "a model without a defined input; got input_shape=None."
            )
        return base_shape
    input_shape = _checks.input_shape(owner, input_shape)
    if base_shape is not None and len(base_shape) == 3:
        clash = [
            (i, a, b)
            for i, (a, b) in enumerate(zip(input_shape, base_shape, strict=True))
            if b is not None and a != b
        ]
        if clash:
            raise ValueError(
                f"{owner}: input_shape={input_shape} does not match the base's "
                f"input shape {base_shape}. Build the base for this input shape, or leave "
                "input_shape=None to use the base's."
            )
    return input_shape


def _augmentation_layer(augmentation):
    if augmentation is None:
        return None
    if isinstance(augmentation, keras.layers.Layer):
        return augmentation
    if isinstance(augmentation, list | tuple):
        layers = [_augmentation_layer(a) for a in augmentation]
        return keras.Sequential([a for a in layers if a is not None], name="augmentation")
    if isinstance(augmentation, str | dict):
        layer = registry.create("augmentation", augmentation)
        if isinstance(layer, keras.layers.Layer):
            return layer
        augmentation = layer
    raise ValueError(
        "build_classifier: `augmentation` must be None, a Keras layer, a list of layers, "
        "or a registered augmentation name or dict; got "
        f"{augmentation!r} (type {type(augmentation).__name__})."
    )


# --------------------------------------------------------------------------------------
# Compiling


def find_head(model: keras.Model):
    """The layer of `model` that tells the compile helper what the outputs are.

    A head is a layer with `num_classes` and `from_logits` attributes (such as
    [`DenseHead`][keras_blocks.DenseHead]); the last one in the model is returned,
    or `None` when there is none.

    Args:
        model: a Keras model.

    Example:
        ```python
        from keras_blocks import build_classifier
        from keras_blocks.models.classifier import find_head

        model = build_classifier("mobilenet_v2", input_shape=(32, 32, 3), weights=None)
        find_head(model).from_logits  # False
        ```
    """
    for layer in reversed(model.layers):
        if hasattr(layer, "num_classes") and hasattr(layer, "from_logits"):
            return layer
    return None


def classification_loss(head, sparse_labels: bool = True):
    """The crossentropy loss that fits `head`'s outputs.

    One class or a sigmoid output: binary crossentropy. Several classes with softmax or
    logits: categorical crossentropy, sparse when the labels are class indices.
    `from_logits` follows the head.

    Args:
        head: a head layer (with `num_classes`, `from_logits` and optionally
            `final_activation`).
        sparse_labels: labels are integer class indices (`True`) or one-hot vectors.

    Returns:
        A `keras.losses.Loss`.

    Raises:
        ValueError: the head's output activation is neither sigmoid, softmax nor logits.

    Example:
        ```python
        from keras_blocks import DenseHead
        from keras_blocks.models.classifier import classification_loss

        classification_loss(DenseHead(num_classes=3, output_activation=None))
        # SparseCategoricalCrossentropy(from_logits=True)
        ```
    """
    kind = _output_kind(head)
    logits = bool(head.from_logits)
    if kind == "binary":
        return keras.losses.BinaryCrossentropy(from_logits=logits)
    if sparse_labels:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
    return keras.losses.CategoricalCrossentropy(from_logits=logits)


def _output_kind(head):
    final = getattr(head, "final_activation", None if head.from_logits else "unknown")
    if isinstance(final, str):
        final = final.lower()
    if final == "sigmoid" or (head.num_classes == 1 and final in (None, "sigmoid")):
        return "binary"
    if final in ("softmax", None):
        return "categorical"
    raise ValueError(
        f"compile_classifier: cannot pick a loss for head {head.name!r}: its output "
        f"activation is {final!r} (neither sigmoid, softmax nor logits). Pass `loss=`."
    )


def _accuracy(kind, logits, sparse_labels):
    if kind == "binary":
        # Logits > 0 is the same decision as probabilities > 0.5.
        return keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0 if logits else 0.5)
    if sparse_labels:
        return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    return keras.metrics.CategoricalAccuracy(name="accuracy")


def compile_classifier(
    model: keras.Model,
    optimizer="adam",
    loss=None,
    metrics=None,
    learning_rate=None,
    sparse_labels: bool = True,
    **compile_kwargs,
) -> keras.Model:
    """Compiles a classifier with the loss and accuracy its head calls for.

    For a [`Classifier`][keras_blocks.Classifier] this is `model.compile(...)`; other
    models are searched for their head (the last layer with `num_classes` and
    `from_logits`).

    Unless `loss` is given, the loss comes from the head (see
    [`classification_loss`][keras_blocks.models.classifier.classification_loss]):
    binary crossentropy for one class (labels 0/1), categorical crossentropy for
    several (sparse for integer labels), `from_logits=True` when the head gives logits.
    `"accuracy"` becomes the accuracy metric that fits (thresholding logits at 0).

    Args:
        model: the classifier (for example from
            [`build_classifier`][keras_blocks.build_classifier]).
        optimizer: an optimizer name (`"adam"`, `"sgd"`, ...) or instance.
        loss: a loss to use instead of the head's.
        metrics: metrics; default `None` means `["accuracy"]`.
        learning_rate: the learning rate of an optimizer given by name (default: the
            optimizer's own).
        sparse_labels: labels are integer class indices (`True`, the default, as
            `keras.utils.image_dataset_from_directory` gives) or one-hot vectors. Binary
            heads take 0/1 labels either way.
        **compile_kwargs: passed to `model.compile` (`jit_compile`, `steps_per_execution`).

    Returns:
        The model, compiled.

    Raises:
        ValueError: no loss given and the model has no head to pick one from, or a bad
            `optimizer`.

    Example:
        ```python
        from keras_blocks import build_classifier, compile_classifier

        model = build_classifier("mobilenet_v2", head={"name": "dense", "num_classes": 3},
                                 input_shape=(32, 32, 3), weights=None)
        compile_classifier(model, learning_rate=1e-3)  # sparse categorical crossentropy
        ```
    """
    if isinstance(model, Classifier):
        model.compile(optimizer, loss=loss, metrics=metrics, learning_rate=learning_rate,
                      sparse_labels=sparse_labels, **compile_kwargs)
        return model
    head = find_head(model)
    if head is None and loss is None:
        raise ValueError(
            f"compile_classifier: model {model.name!r} has no head (a layer with "
            "`num_classes` and `from_logits`, such as DenseHead) to pick the loss from; "
            "pass `loss=`."
        )
    loss, metrics = _head_loss_and_metrics(head, loss, metrics, sparse_labels)
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss=loss,
        metrics=metrics,
        **compile_kwargs,
    )
    return model


def _head_loss_and_metrics(head, loss, metrics, sparse_labels, owner="compile_classifier"):
    """The loss (`None`/"auto": the head's) and metrics ("accuracy" made to fit the head)."""
    if not isinstance(sparse_labels, bool):
        raise ValueError(
            f"{owner}: `sparse_labels` must be True or False; got {sparse_labels!r}."
        )
    auto_loss = loss is None or (isinstance(loss, str) and loss == "auto")
    kind = logits = None
    if head is not None:
        logits = bool(head.from_logits)
        if auto_loss:
            kind = _output_kind(head)
            loss = classification_loss(head, sparse_labels)
        else:
            try:
                kind = _output_kind(head)
            except ValueError:
                kind = None
    if metrics is None or (isinstance(metrics, str) and metrics == "auto"):
        metrics = ["accuracy"]
    resolved = []
    for metric in metrics:
        if isinstance(metric, str) and metric.lower() in ("accuracy", "acc") and kind:
            resolved.append(_accuracy(kind, logits, sparse_labels))
        else:
            resolved.append(metric)
    return loss, resolved


def make_optimizer(optimizer="adam", learning_rate=None):
    """A fresh optimizer from a name, an instance or a `learning_rate -> optimizer` callable.

    Args:
        optimizer: `"adam"`, `"sgd"`, `"rmsprop"`, ... (any `keras.optimizers` name), an
            optimizer instance (returned as is), or a callable taking the learning rate.
        learning_rate: the learning rate (default: the optimizer's own).

    Raises:
        ValueError: an unknown name, or a learning rate that is not positive, or an
            instance combined with `learning_rate`.

    Example:
        ```python
        from keras_blocks.models.classifier import make_optimizer

        make_optimizer("adam", 1e-4).learning_rate  # 1e-4
        ```
    """
    _checks.learning_rate("", "learning_rate", learning_rate, optional=True)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if learning_rate is not None:
            raise ValueError(
                "`learning_rate` cannot be combined with an optimizer instance (it has its "
                "own); pass the optimizer by name, or as a callable taking the learning "
                "rate."
            )
        return optimizer
    if isinstance(optimizer, str):
        try:
            config = {} if learning_rate is None else {"learning_rate": learning_rate}
            return keras.optimizers.get({"class_name": optimizer, "config": config})
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"Unknown optimizer {optimizer!r}: use a keras.optimizers name such as "
                f"'adam', 'adamw', 'sgd' or 'rmsprop', an instance or a callable ({error})."
            ) from error
    if callable(optimizer):
        made = optimizer(learning_rate) if learning_rate is not None else optimizer()
        if not isinstance(made, keras.optimizers.Optimizer):
            raise ValueError(
                f"The optimizer callable {optimizer!r} must return a keras optimizer; got "
                f"{made!r}."
            )
        return made
    raise ValueError(
        "`optimizer` must be a keras.optimizers name, an optimizer instance, or a callable "
        f"taking the learning rate; got {optimizer!r}."
    )
