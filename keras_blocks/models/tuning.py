"""Fine-tuning a pretrained base: unfreeze its top, keep batch normalization frozen."""

from __future__ import annotations

import re
from typing import NamedTuple

import keras

from keras_blocks import _keras_compat as compat
from keras_blocks import _validation as check
from keras_blocks.models import _checks
from keras_blocks.models.classifier import Classifier, compile_classifier, make_optimizer
from keras_blocks.models.inference_mode import InferenceMode
from keras_blocks.models.preprocessing import ImagePreprocessing

UNITS = ("layers", "blocks")

# Name prefixes that published networks give every layer of one block, most specific
# first: ConvNeXt, ResNet/DenseNet, MobileNetV2/V3, EfficientNet/VGG/MobileNetV2,
# SqueezeNet.
_BLOCK_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"stage_?\d+_block_?\d+",
        r"conv\d+_block\d+",
        r"expanded_conv(?:_\d+)?",
        r"block_?\d+[a-z]?",
        r"fire\d+",
    )
)


def find_base(model: keras.Model) -> keras.Model:
    """The base (feature extractor) inside a classifier.

    A [`Classifier`][keras_blocks.Classifier] knows its base (`model.base`). For other
    models, the base is the nested model built by
    [`pretrained_base`][keras_blocks.pretrained_base] (it holds an
    `ImagePreprocessing` layer); failing that, the only nested model. A model with
    neither is its own base.

    Args:
        model: a classifier (for example from
            [`build_classifier`][keras_blocks.build_classifier]) or a base.

    Raises:
        ValueError: several nested models could be the base; pass it explicitly.

    Example:
        ```python
        from keras_blocks import build_classifier, find_base

        model = build_classifier("mobilenet_v2", input_shape=(32, 32, 3), weights=None)
        find_base(model).name  # 'pretrained_mobilenet_v2'
        ```
    """
    if isinstance(model, Classifier):
        return model.base
    if isinstance(model, InferenceMode):
        return find_base(model.layer)
    if any(isinstance(layer, ImagePreprocessing) for layer in model.layers):
        return model
    nested = [
        layer.layer if isinstance(layer, InferenceMode) else layer
        for layer in model.layers
        if isinstance(layer, keras.Model)
        or (isinstance(layer, InferenceMode) and isinstance(layer.layer, keras.Model))
    ]
    pretrained = [
        m for m in nested if any(isinstance(x, ImagePreprocessing) for x in m.layers)
    ]
    candidates = pretrained or nested
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        return model
    raise ValueError(
        f"find_base: model {model.name!r} holds several nested models that could be the "
        f"base ({', '.join(repr(m.name) for m in candidates)}); pass `base=` explicitly."
    )


def leaf_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layers of `model` in order, nested models expanded (blocks stay whole).

    Example:
        ```python
        from keras_blocks import pretrained_base
        from keras_blocks.models.tuning import leaf_layers

        base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
        leaf_layers(base)[-1].name  # 'out_relu'
        ```
    """
    if isinstance(model, InferenceMode):
        return leaf_layers(model.layer)
    if not isinstance(model, keras.Model):
        return [model]
    layers = []
    for layer in model.layers:
        nested = isinstance(layer, keras.Model | InferenceMode)
        layers.extend(leaf_layers(layer) if nested else [layer])
    return layers


def _batch_norms(layer):
    return [
        x
        for x in compat.flatten_layers(layer, include_self=True, recursive=True)
        if isinstance(x, keras.layers.BatchNormalization)
    ]


def _block_key(layer):
    for pattern in _BLOCK_PATTERNS:
        match = pattern.search(layer.name)
        if match:
            return match.group(0)
    if list(compat.flatten_layers(layer, include_self=False, recursive=False)):
        return layer.name  # a composite layer (a keras_blocks block) is a block itself
    return layer.name.split("_")[0].split("/")[0]


def trainable_units(base, unit="layers", freeze_batchnorm=True):
    """The base's units that `unfreeze_top` counts, bottom to top, as (name, layers).

    `unit="layers"`: every layer with weights that would train (batch normalization left
    out when `freeze_batchnorm`). `unit="blocks"`: consecutive layers sharing a block
    name prefix (`block_3_...`, `conv4_block2_...`, `block5a_...`, `fire7/...`), or one
    keras_blocks block layer; other layers group by the first part of their name.

    Example:
        ```python
        from keras_blocks import pretrained_base
        from keras_blocks.models.tuning import trainable_units

        base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
        [name for name, _ in trainable_units(base, "blocks")][-2:]  # ['block_16', 'Conv']
        ```
    """
    check.one_of("unfreeze_top", "unit", unit, UNITS)
    weighted = []
    for layer in leaf_layers(base):
        if not layer.weights:
            continue
        if freeze_batchnorm and isinstance(layer, keras.layers.BatchNormalization):
            continue
        weighted.append(layer)
    if unit == "layers":
        return [(layer.name, [layer]) for layer in weighted]
    units = []
    for layer in weighted:
        key = _block_key(layer)
        if units and units[-1][0] == key:
            units[-1][1].append(layer)
        else:
            units.append((key, [layer]))
    return units


def unfreeze_top(model, count=None, unit="layers", base=None, freeze_batchnorm=True):
    """Unfreezes the top `count` layers or blocks of a base; everything below stays frozen.

    Batch normalization stays frozen (`trainable=False`, which in Keras 3 also means it
    normalizes with its moving statistics, i.e. inference mode) unless
    `freeze_batchnorm=False`. This closes the known trap: fine-tuning batches are small
    and differently distributed, and letting them update the ImageNet statistics
    destroys what the base learned. Classifiers from
    [`build_classifier`][keras_blocks.build_classifier] also run a pretrained base in
    [`InferenceMode`][keras_blocks.InferenceMode].

    Recompile the model afterwards (Keras fixes the trainable weights at compile time);
    [`fine_tune`][keras_blocks.fine_tune] does this for you.

    Args:
        model: a classifier holding the base, or the base itself.
        count: how many units from the top to unfreeze (int >= 0), or `None` for all.
            Units are counted as described in
            [`trainable_units`][keras_blocks.models.tuning.trainable_units]: only
            layers whose weights will train count.
        unit: `"layers"` or `"blocks"`.
        base: the base inside `model`; default: found with
            [`find_base`][keras_blocks.find_base].
        freeze_batchnorm: keep every batch normalization layer of the base frozen.

    Returns:
        The names of the unfrozen units, bottom to top.

    Raises:
        ValueError: a bad `count` (negative, or more than the base has: the message
            gives how many there are) or `unit`.

    Example:
        ```python
        from keras_blocks import pretrained_base, unfreeze_top

        base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
        unfreeze_top(base, 2, unit="blocks")  # ['block_16', 'Conv']
        ```
    """
    check.one_of("unfreeze_top", "unit", unit, UNITS)
    if base is None:
        base = find_base(model)
    units = trainable_units(base, unit, freeze_batchnorm)
    count = _checks.unfreeze_count("unfreeze_top", "count", count, len(units), unit, base.name)
    _check_containers_trainable(model, base)
    chosen = units[len(units) - count:] if count else []
    top = {
        id(sublayer)
        for _, layers in chosen
        for layer in layers
        for sublayer in compat.flatten_layers(layer, include_self=True, recursive=True)
    }
    # Every layer gets its flag explicitly, parents before children (breadth first), so
    # the cascades of container setters are overridden where they should be.
    for layer in compat.flatten_layers(base, include_self=True, recursive=True):
        container = layer is base or isinstance(layer, keras.Model | InferenceMode)
        set_trainable(layer, container or id(layer) in top)
    if freeze_batchnorm:
        for norm in _batch_norms(base):
            set_trainable(norm, False)
    return [name for name, _ in chosen]


def set_trainable(layer, value: bool) -> None:
    """Sets `layer.trainable` (and its sublayers'), also when the flag already has the value.

    Plain `layer.trainable = True` is skipped by the TensorFlow backend when the layer's
    flag is already `True` (its `__setattr__` short-circuits `self.x = self.x`), so the
    setter does not cascade to sublayers frozen one by one. This calls the setter.

    Args:
        layer: a Keras layer or model.
        value: `True` or `False`.

    Example:
        ```python
        from keras_blocks import pretrained_base
        from keras_blocks.models.tuning import set_trainable

        base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
        set_trainable(base, True)  # every layer of the base trainable again
        ```
    """
    keras.layers.Layer.trainable.fset(layer, bool(value))


def _check_containers_trainable(model, base):
    if model is base:
        return
    for layer in compat.flatten_layers(model, include_self=True, recursive=True):
        if layer is base or layer.trainable or not isinstance(
            layer, keras.Model | InferenceMode
        ):
            continue
        if any(x is base for x in compat.flatten_layers(layer, include_self=False, recursive=True)):
            raise ValueError(
                f"unfreeze_top: {layer.name!r}, which holds the base {base.name!r}, is "
                "frozen (trainable=False), so nothing inside it can train; set its "
                "`trainable` to True first, or pass the base itself."
            )


class FineTuneHistory(NamedTuple):
    """The two `keras.callbacks.History` objects of [`fine_tune`][keras_blocks.fine_tune].

    Attributes:
        head: phase 1, the head trained on top of the frozen base.
        fine_tune: phase 2, the top of the base unfrozen with a lower learning rate
            (its epochs are numbered after phase 1's).

    Example:
        ```python
        import numpy as np
        from keras_blocks import build_classifier, fine_tune

        images = np.random.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
        labels = (np.arange(16) % 2).reshape(-1, 1)
        model = build_classifier("mobilenet_v2", input_shape=(32, 32, 3), weights=None)
        result = fine_tune(model, images, y=labels, batch_size=8, head_epochs=1,
                           fine_tune_epochs=1, verbose=0)
        result.head.history["accuracy"], result.fine_tune.history["accuracy"]
        ```
    """

    head: keras.callbacks.History
    fine_tune: keras.callbacks.History


def fine_tune(
    model,
    train_data,
    validation_data=None,
    head_epochs=3,
    fine_tune_epochs=3,
    unfreeze=20,
    unit="layers",
    head_learning_rate=1e-3,
    fine_tune_learning_rate=1e-5,
    optimizer="adam",
    loss=None,
    metrics=None,
    sparse_labels=True,
    base=None,
    callbacks=None,
    verbose="auto",
    **fit_kwargs,
) -> FineTuneHistory:
    """Transfer learning in two phases, as one call.

    1. The whole base frozen, the head trains at `head_learning_rate` for
       `head_epochs` (a randomly initialized head must settle first, or its large
       gradients would wreck the pretrained weights once they train).
    2. [`unfreeze_top`][keras_blocks.unfreeze_top] unfreezes the top `unfreeze` layers or
       blocks (batch normalization stays frozen), the model is recompiled with a fresh
       optimizer at the lower `fine_tune_learning_rate`, and training goes on for
       `fine_tune_epochs`.

    Losses and metrics come from
    [`compile_classifier`][keras_blocks.compile_classifier].

    Args:
        model: the classifier, for example from
            [`build_classifier`][keras_blocks.build_classifier].
        train_data: what `model.fit` takes as `x`: a `tf.data.Dataset` of
            `(images, labels)`, a `keras.utils.PyDataset`, or an array (then pass `y` in
            `fit_kwargs`).
        validation_data: passed to `fit`.
        head_epochs: epochs of phase 1 (int >= 0).
        fine_tune_epochs: epochs of phase 2 (int >= 0).
        unfreeze: how many layers or blocks of the base to unfreeze in phase 2
            (`None`: all).
        unit: `"layers"` or `"blocks"`.
        head_learning_rate: learning rate of phase 1.
        fine_tune_learning_rate: learning rate of phase 2 (typically 10-100x lower).
        optimizer: an optimizer name or a callable `learning_rate -> optimizer`; each
            phase gets a fresh one.
        loss: a loss instead of the head's (see `compile_classifier`).
        metrics: metrics (default accuracy).
        sparse_labels: labels are class indices (`True`) or one-hot.
        base: the base inside `model` (default: found with
            [`find_base`][keras_blocks.find_base]).
        callbacks: Keras callbacks for both phases.
        verbose: `fit`'s verbosity.
        **fit_kwargs: more `fit` arguments (`y`, `batch_size`, `class_weight`, ...).

    Returns:
        A [`FineTuneHistory`][keras_blocks.models.tuning.FineTuneHistory]
        `(head, fine_tune)`.

    Raises:
        ValueError: bad epochs, learning rates, `unfreeze`, `unit` or `optimizer`.

    Example:
        ```python
        import tempfile
        from keras_blocks import (build_classifier, fine_tune, make_pipeline,
                                  make_synthetic_car_truck)

        # A tiny generated car/truck dataset; use your own folders the same way.
        root = make_synthetic_car_truck(tempfile.mkdtemp() + "/cars", n_per_class=10,
                                        image_size=32)
        # Pixels in [0, 255]: the pretrained base's preprocessing is part of the model.
        train_ds = make_pipeline(root / "train", image_size=32, batch_size=8, seed=0,
                                 value_range=(0, 255))
        valid_ds = make_pipeline(root / "valid", image_size=32, batch_size=8, shuffle=False,
                                 value_range=(0, 255), class_names=train_ds.class_names)
        # weights=None keeps this offline; real transfer learning starts from
        # weights="imagenet" or the path of a weights file.
        model = build_classifier("mobilenet_v2", input_shape=(32, 32, 3), weights=None)
        head_history, fine_tune_history = fine_tune(
            model, train_ds, validation_data=valid_ds, head_epochs=1, fine_tune_epochs=1,
            unfreeze=2, unit="blocks", verbose=0)
        ```
    """
    owner = "fine_tune"
    head_epochs = check.positive_int(owner, "head_epochs", head_epochs, minimum=0)
    fine_tune_epochs = check.positive_int(owner, "fine_tune_epochs", fine_tune_epochs, minimum=0)
    check.one_of(owner, "unit", unit, UNITS)
    _checks.learning_rate(owner, "head_learning_rate", head_learning_rate)
    _checks.learning_rate(owner, "fine_tune_learning_rate", fine_tune_learning_rate)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"{owner}: `optimizer` must be a name or a callable taking the learning rate, "
            "not an instance: each phase needs a fresh optimizer with its own learning "
            f"rate; got {optimizer!r}."
        )
    make_optimizer(optimizer, head_learning_rate)  # fail before training, not between phases
    if base is None:
        base = find_base(model)
    _checks.unfreeze_count(owner, "unfreeze", unfreeze, len(trainable_units(base, unit)),
                           unit, base.name)
    fit_args = {
        "validation_data": validation_data,
        "callbacks": callbacks,
        "verbose": verbose,
        # A dataset orders itself (make_pipeline reshuffles each epoch); Keras only warns
        # that `shuffle=True` is ignored for one.
        **({} if _is_array(train_data) else {"shuffle": False}),
        **fit_kwargs,
    }
    compile_args = {"loss": loss, "metrics": metrics, "sparse_labels": sparse_labels}

    set_trainable(base, False)
    compile_classifier(model, optimizer, learning_rate=head_learning_rate, **compile_args)
    head_history = model.fit(train_data, epochs=head_epochs, **fit_args)

    unfreeze_top(model, unfreeze, unit=unit, base=base)
    compile_classifier(model, optimizer, learning_rate=fine_tune_learning_rate, **compile_args)
    fine_tune_history = model.fit(
        train_data,
        initial_epoch=head_epochs,
        epochs=head_epochs + fine_tune_epochs,
        **fit_args,
    )
    return FineTuneHistory(head_history, fine_tune_history)


def _is_array(data) -> bool:
    """Whether `fit` can shuffle `data` itself (NumPy-like arrays or a tuple of them)."""
    first = data[0] if isinstance(data, tuple | list) and data else data
    return hasattr(first, "shape") and hasattr(first, "__len__")
