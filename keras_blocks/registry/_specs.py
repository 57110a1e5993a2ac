"""Layer arguments that take "a name, a layer or a callable": checks and serialization.

A layer validates such an argument in `__init__` with `resolve`, stores what it returns,
writes it in `get_config` with `serialize_spec`, and makes fresh sublayers from it in
`build` with the factories (`get_activation`, `get_norm`, `get_pool`).
"""

from __future__ import annotations

from typing import Any

import keras

from keras_blocks.registry._core import available, get_registry
from keras_blocks.registry._plugins import load_plugins


def serialize_spec(spec: Any) -> Any:
    """Turns a name / layer / callable argument into something JSON-safe for `get_config`.

    Strings, numbers and `None` pass through; layers and registered callables become
    Keras serialization dicts that [`deserialize_spec`][keras_blocks.registry.deserialize_spec]
    restores without `eval` or pickles.

    Args:
        spec: a layer argument as a layer stores it (see
            [`resolve`][keras_blocks.registry.resolve]), or a list or tuple of them.

    Returns:
        Names, numbers and `None` as given; a list for a list or tuple; a Keras
        serialization dict for anything else.

    Example:
        ```python
        import keras
        from keras_blocks.registry import serialize_spec
        serialize_spec("relu")  # 'relu': names pass through
        serialize_spec(keras.layers.ReLU(max_value=6.0))["class_name"]  # 'ReLU'
        ```
    """
    if spec is None or isinstance(spec, str | int | float | bool):
        return spec
    if isinstance(spec, list | tuple):
        return [serialize_spec(s) for s in spec]
    return keras.saving.serialize_keras_object(spec)


def deserialize_spec(spec: Any) -> Any:
    """Inverse of [`serialize_spec`][keras_blocks.registry.serialize_spec].

    Most code calls [`resolve`][keras_blocks.registry.resolve] instead, which also checks
    the value.

    Args:
        spec: a value from `serialize_spec` (or anything else, returned as given).

    Returns:
        The object a Keras serialization dict (a dict with `"class_name"`) describes;
        any other value as given.

    Example:
        ```python
        import keras
        from keras_blocks.registry import deserialize_spec, serialize_spec
        config = serialize_spec(keras.layers.ReLU(max_value=6.0))
        deserialize_spec(config).max_value  # 6.0: a new ReLU layer
        deserialize_spec("relu")  # 'relu': names pass through
        ```
    """
    if isinstance(spec, dict) and "class_name" in spec:
        return keras.saving.deserialize_keras_object(spec)
    return spec


def clone_layer(layer: keras.layers.Layer, **overrides) -> keras.layers.Layer:
    """A fresh, unbuilt copy of `layer` (same config, new weights).

    Args:
        layer: the layer to copy.
        **overrides: config entries to change (`name=...`).

    Returns:
        A new layer of the same class.

    Example:
        ```python
        import keras
        from keras_blocks.registry import clone_layer
        dense = keras.layers.Dense(8, activation="relu")
        clone_layer(dense, units=16).units  # 16; `dense` is unchanged
        ```
    """
    config = layer.get_config()
    config.update(overrides)
    return layer.__class__.from_config(config)


def _describe(spec: Any) -> str:
    return f"{spec!r} (type {type(spec).__name__})"


# The layer-part kinds: whether a callable is accepted, what the "unknown name" error
# offers after the valid names, and what the "wrong type" error says the argument must be.
_LAYER_PARTS = {
    "activation": (True, "or a layer, a callable, or None", "a name, a layer, a callable or None"),
    "norm": (True, "a layer, or None", "a name, a layer or None"),
    "pool": (False, "a layer, or None", "a name, a layer or None"),
}


def resolve(kind: str, spec: Any, argument: str | None = None) -> Any:
    """Validates a component argument now (at construction) and returns it deserialized.

    Layers call this in `__init__` for each argument that takes "a name, a layer or a
    callable", so a typo fails at construction rather than in `build`, and store the
    result: a serialized layer dict (as `from_config` passes it) comes back as a layer,
    everything else as given. The factories
    ([`get_activation`][keras_blocks.registry.get_activation],
    [`get_norm`][keras_blocks.registry.get_norm],
    [`get_pool`][keras_blocks.registry.get_pool]) make fresh layers from the stored value
    in `build`, and [`serialize_spec`][keras_blocks.registry.serialize_spec] writes it in
    `get_config`.

    Args:
        kind: the registry. `"activation"` accepts a name, a layer, a callable or `None`;
            `"norm"` a name, a layer, a callable returning a layer, or `None`; `"pool"` a
            name, a layer or `None`. The other kinds of
            [`get_registry`][keras_blocks.registry.get_registry] (`"block"`, `"head"`,
            ...) accept a name, a dict with a `"name"` key (the form
            [`create`][keras_blocks.registry.create] takes), an object, or `None`.
        spec: the argument's value, possibly serialized by `serialize_spec`.
        argument: the argument's name, for error messages; defaults to `kind`.

    Returns:
        `spec` deserialized: a Keras serialization dict becomes the object it describes;
        names, layers, callables, other dicts and `None` are returned as given.

    Raises:
        ValueError: `kind` is unknown; `spec` names nothing registered (the message names
            `argument`, the value and the valid names); or `spec` is of a type `kind`
            cannot use.

    Example:
        ```python
        import keras
        from keras_blocks import registry

        registry.resolve("activation", "gelu")  # 'gelu'
        registry.resolve("norm", None)  # None: no normalization
        relu6 = registry.serialize_spec(keras.layers.ReLU(max_value=6.0))
        registry.resolve("activation", relu6).max_value  # 6.0: the layer again
        try:
            registry.resolve("activation", "rleu", "gate")
        except ValueError as error:
            print(error)  # Unknown gate 'rleu'. Valid names: 'elu', 'gelu', ...
        ```
    """
    components = get_registry(kind)
    argument = kind if argument is None else argument
    spec = deserialize_spec(spec)
    part = _LAYER_PARTS.get(kind)
    if spec is None or isinstance(spec, keras.layers.Layer):
        return spec
    if isinstance(spec, str):
        name = spec
    elif part is None:  # a whole component: a {"name": ...} dict, or an object as it is
        if not isinstance(spec, dict):
            return spec
        name = spec.get("name")
        if not isinstance(name, str):
            raise ValueError(
                f"A {argument} dict needs a 'name' key naming a registered {kind} "
                f"({', '.join(repr(n) for n in available(kind))}); got keys {sorted(spec)}."
            )
    elif part[0] and callable(spec):
        return spec
    else:
        raise ValueError(f"{argument} must be {part[2]}; got {_describe(spec)}.")
    if name not in components:
        load_plugins()
    if name not in components:
        alternatives = part[1] if part else "a dict with a 'name' key, an object, or None"
        raise ValueError(
            f"Unknown {argument} {name!r}. Valid names: "
            f"{', '.join(repr(n) for n in components.names())}, {alternatives}."
        )
    return spec


def check_activation(spec: Any, argument: str = "activation") -> None:
    """Raises `ValueError` when `spec` is no usable activation argument.

    The same check as `resolve("activation", spec, argument)`, without the result;
    layers call [`resolve`][keras_blocks.registry.resolve], which also deserializes.

    Args:
        spec: a name, a layer, a callable, `None`, or a serialized layer dict.
        argument: the argument's name, for the error message.

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or an unusable
            type.

    Example:
        ```python
        from keras_blocks.registry import check_activation
        check_activation("gelu")  # fine: returns None
        try:
            check_activation("rleu")
        except ValueError as error:
            print(error)  # Unknown activation 'rleu'. Valid names: 'elu', 'gelu', ...
        ```
    """
    resolve("activation", spec, argument)


def check_norm(spec: Any, argument: str = "norm") -> None:
    """Raises `ValueError` when `spec` is no usable normalization argument.

    The same check as `resolve("norm", spec, argument)`, without the result; layers
    call [`resolve`][keras_blocks.registry.resolve], which also deserializes.

    Args:
        spec: a name, a layer, a callable returning a layer, `None`, or a serialized
            layer dict.
        argument: the argument's name, for the error message.

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or an unusable
            type.

    Example:
        ```python
        from keras_blocks.registry import check_norm
        check_norm("group")  # fine: returns None
        try:
            check_norm("bach")
        except ValueError as error:
            print(error)  # Unknown norm 'bach'. Valid names: 'batch', 'group', ...
        ```
    """
    resolve("norm", spec, argument)


def check_pool(spec: Any, argument: str = "pool") -> None:
    """Raises `ValueError` when `spec` is no usable pooling argument.

    The same check as `resolve("pool", spec, argument)`, without the result; layers
    call [`resolve`][keras_blocks.registry.resolve], which also deserializes.

    Args:
        spec: a name, a layer, `None`, or a serialized layer dict.
        argument: the argument's name, for the error message.

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or an unusable
            type.

    Example:
        ```python
        from keras_blocks.registry import check_pool
        check_pool("avg")  # fine: returns None
        try:
            check_pool("min")
        except ValueError as error:
            print(error)  # Unknown pool 'min'. Valid names: 'average', 'avg', 'max', ...
        ```
    """
    resolve("pool", spec, argument)
