"""String factories and the plugin registry.

Every keras_blocks component that a user can name with a string (activations, norms,
pooling, blocks, heads, pretrained bases, augmentation layers, presets) is looked up
here. One registry per *kind*; each maps a lower-case name to a factory.

Third-party packages plug in without touching keras_blocks: they declare an entry point
in the group `keras_blocks.plugins` whose object is a callable taking no arguments (or
a module); it is loaded the first time a name is not found, and registers its
components with [`register`][keras_blocks.registry.register].

```toml
# pyproject.toml of a plugin package
[project.entry-points."keras_blocks.plugins"]
my_blocks = "my_package.keras_blocks_plugin:register_all"
```

This module imports nothing else of keras_blocks: it is the lowest floor.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from typing import Any

import keras

ENTRY_POINT_GROUP = "keras_blocks.plugins"

KINDS = ("activation", "norm", "pool", "block", "head", "base", "augmentation", "preset")


class Registry:
    """A mapping from names to factories for one kind of component.

    Names are case-insensitive. Looking up a missing name loads the
    `keras_blocks.plugins` entry points once, then raises a `ValueError` that lists
    every valid name.

    Args:
        kind: what this registry holds, used in error messages (for example `"norm"`).

    Example:
        ```python
        from keras_blocks.registry import get_registry
        norms = get_registry("norm")
        "batch" in norms  # True
        ```
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}

    def register(
        self,
        name: str,
        factory: Callable[..., Any] | None = None,
        *,
        overwrite: bool = False,
    ):
        """Registers `factory` under `name`; usable as a decorator when `factory` is omitted.

        Args:
            name: the string users will pass. Case-insensitive.
            factory: a class or function returning the component.
            overwrite: replace an existing, different factory of the same name.

        Returns:
            The factory (so the decorator form leaves the decorated object unchanged).

        Raises:
            ValueError: `name` is not a non-empty string, or is taken and
                `overwrite=False`.
        """
        if factory is None:
            return lambda f: self.register(name, f, overwrite=overwrite)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind} name must be a non-empty string; got {name!r}.")
        if not callable(factory):
            raise ValueError(
                f"{self.kind} factory for {name!r} must be callable; got {factory!r}."
            )
        key = name.strip().lower()
        existing = self._factories.get(key)
        if existing is not None and existing is not factory and not overwrite:
            raise ValueError(
                f"{self.kind} name {name!r} is already registered to {existing!r}; "
                "pass overwrite=True to replace it."
            )
        self._factories[key] = factory
        return factory

    def unregister(self, name: str) -> None:
        """Removes `name`; a missing name raises `KeyError`."""
        del self._factories[name.strip().lower()]

    def get(self, name: str) -> Callable[..., Any]:
        """Returns the factory registered under `name`.

        Raises:
            ValueError: the name is unknown; the message lists the valid names.
        """
        if not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a string; got {name!r}.")
        key = name.strip().lower()
        if key not in self._factories:
            load_plugins()
        if key not in self._factories:
            raise ValueError(
                f"Unknown {self.kind} {name!r}. Valid {self.kind} names: "
                f"{', '.join(repr(n) for n in self.names())}."
            )
        return self._factories[key]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._factories)

    def __repr__(self) -> str:
        return f"Registry(kind={self.kind!r}, names={self.names()!r})"


_REGISTRIES = {kind: Registry(kind) for kind in KINDS}
_PLUGINS_LOADED = False


def get_registry(kind: str) -> Registry:
    """Returns the registry for `kind`.

    Args:
        kind: one of `"activation"`, `"norm"`, `"pool"`, `"block"`, `"head"`, `"base"`,
            `"augmentation"`, `"preset"`.

    Raises:
        ValueError: unknown kind.

    Example:
        ```python
        from keras_blocks.registry import get_registry
        get_registry("activation").names()[:3]
        ```
    """
    if kind not in _REGISTRIES:
        raise ValueError(f"Unknown registry kind {kind!r}. Valid kinds: {', '.join(KINDS)}.")
    return _REGISTRIES[kind]


def register(kind: str, name: str, factory: Callable[..., Any] | None = None, *, overwrite=False):
    """Registers a component by name; usable as a decorator.

    Args:
        kind: the registry (see [`get_registry`][keras_blocks.registry.get_registry]).
        name: the string users will pass.
        factory: a class or a function returning the component.
        overwrite: replace an existing registration of the same name.

    Returns:
        The factory.

    Example:
        ```python
        import keras
        from keras_blocks.registry import register

        @register("activation", "squared_relu")
        def squared_relu(**kwargs):
            return keras.layers.Activation(lambda x: keras.ops.relu(x) ** 2, **kwargs)
        ```
    """
    return get_registry(kind).register(name, factory, overwrite=overwrite)


def available(kind: str) -> list[str]:
    """The valid names for `kind`, sorted (built-ins and loaded plugins).

    Example:
        ```python
        from keras_blocks.registry import available
        available("pool")  # ['avg', 'average', 'max']
        ```
    """
    load_plugins()
    return get_registry(kind).names()


def load_plugins(*, force: bool = False) -> list[str]:
    """Loads the `keras_blocks.plugins` entry points (once unless `force=True`).

    Each entry point's object is called with no arguments when it is callable; a module
    registers its components on import.

    Returns:
        The names of the entry points loaded by this call.

    Raises:
        RuntimeError: a plugin failed to load; the message names the entry point.

    Example:
        ```python
        from keras_blocks.registry import load_plugins
        load_plugins()  # the plugins loaded now; [] when none is installed or already loaded
        ```
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED and not force:
        return []
    _PLUGINS_LOADED = True
    loaded = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = entry_point.load()
            if callable(obj):
                obj()
        except Exception as error:  # a broken plugin must say which one it is
            raise RuntimeError(
                f"keras_blocks plugin {entry_point.name!r} ({entry_point.value}) "
                f"failed to load: {error}"
            ) from error
        loaded.append(entry_point.name)
    return loaded


# --------------------------------------------------------------------------------------
# Serializable specs: layer arguments that take "a name, a layer or a callable".


def serialize_spec(spec: Any) -> Any:
    """Turns a name / layer / callable argument into something JSON-safe for `get_config`.

    Strings, numbers and `None` pass through; layers and registered callables become
    Keras serialization dicts that [`deserialize_spec`][keras_blocks.registry.deserialize_spec]
    restores without `eval` or pickles.

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


# --------------------------------------------------------------------------------------
# Activations


_KERAS_ACTIVATIONS = {
    "relu": "relu",
    "relu6": "relu6",
    "swish": "silu",
    "silu": "silu",
    "gelu": "gelu",
    "elu": "elu",
    "selu": "selu",
    "leaky_relu": "leaky_relu",
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid",
    "hard_swish": "hard_silu",
    "hard_silu": "hard_silu",
    "mish": "mish",
    "tanh": "tanh",
    "softplus": "softplus",
    "softmax": "softmax",
    "linear": "linear",
    "identity": "linear",
}


def _activation_factory(keras_name: str):
    def factory(**kwargs):
        return keras.layers.Activation(keras_name, **kwargs)

    factory.__name__ = f"{keras_name}_activation"
    return factory


for _name, _keras_name in _KERAS_ACTIVATIONS.items():
    register("activation", _name, _activation_factory(_keras_name))


def get_activation(spec: Any, **layer_kwargs) -> keras.layers.Layer:
    """Resolves an activation argument to a new layer.

    Args:
        spec: a registered name (`"relu"`, `"relu6"`, `"swish"`, `"gelu"`, ...), `None`
            (identity), a Keras layer (cloned, so repeated blocks never share weights), a
            serialized layer dict, or a callable `x -> y`.
        **layer_kwargs: passed to the new layer (`name`, `dtype`).

    Returns:
        A `keras.layers.Layer`.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or unusable type.

    Example:
        ```python
        from keras_blocks.registry import get_activation
        layer = get_activation("relu6")
        ```
    """
    spec = deserialize_spec(spec)
    if spec is None:
        return keras.layers.Identity(**layer_kwargs)
    if isinstance(spec, str):
        return get_registry("activation").get(spec)(**layer_kwargs)
    if isinstance(spec, keras.layers.Layer):
        return clone_layer(spec, **{k: v for k, v in layer_kwargs.items() if k == "name"})
    if callable(spec):
        return keras.layers.Activation(spec, **layer_kwargs)
    raise ValueError(
        f"activation must be a name ({', '.join(available('activation'))}), a layer, a "
        f"callable or None; got {_describe(spec)}."
    )


def check_activation(spec: Any, argument: str = "activation") -> None:
    """Raises `ValueError` now (at construction) when `spec` names no activation.

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
    spec = deserialize_spec(spec)
    if spec is None or isinstance(spec, keras.layers.Layer) or (
        callable(spec) and not isinstance(spec, str)
    ):
        return
    if isinstance(spec, str):
        if spec not in get_registry("activation"):
            load_plugins()
        if spec not in get_registry("activation"):
            raise ValueError(
                f"Unknown {argument} {spec!r}. Valid names: "
                f"{', '.join(repr(n) for n in available('activation'))}, or a layer, a "
                "callable, or None."
            )
        return
    raise ValueError(
        f"{argument} must be a name, a layer, a callable or None; got {_describe(spec)}."
    )


# --------------------------------------------------------------------------------------
# Normalization


def _largest_divisor_at_most(n: int, limit: int) -> int:
    for g in range(min(n, limit), 0, -1):
        if n % g == 0:
            return g
    return 1


@register("norm", "batch")
def _batch_norm(channels=None, *, momentum=0.99, epsilon=1e-3, **kwargs):
    return keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, **kwargs)


@register("norm", "sync_batch")
def _sync_batch_norm(channels=None, *, momentum=0.99, epsilon=1e-3, **kwargs):
    # Keras only accepts synchronized=True on TensorFlow (tf.distribute replicas each see
    # part of the batch). Under JAX's DataParallel one program sees the global batch, so
    # plain batch norm already uses global statistics: "sync_batch" means the same thing
    # on every backend, and a model saved with it on TensorFlow loads on the others.
    return keras.layers.BatchNormalization(
        momentum=momentum, epsilon=epsilon,
        synchronized=keras.backend.backend() == "tensorflow", **kwargs
    )


@register("norm", "layer")
def _layer_norm(channels=None, *, epsilon=1e-6, **kwargs):
    kwargs.pop("momentum", None)
    return keras.layers.LayerNormalization(epsilon=epsilon, **kwargs)


@register("norm", "group")
def _group_norm(channels=None, *, groups=32, epsilon=1e-5, **kwargs):
    kwargs.pop("momentum", None)
    if channels is not None:
        groups = _largest_divisor_at_most(int(channels), groups)
    return keras.layers.GroupNormalization(groups=groups, epsilon=epsilon, **kwargs)


@register("norm", "instance")
def _instance_norm(channels=None, *, epsilon=1e-5, **kwargs):
    kwargs.pop("momentum", None)
    return keras.layers.GroupNormalization(groups=-1, epsilon=epsilon, **kwargs)


def get_norm(spec: Any, channels: int | None = None, **kwargs) -> keras.layers.Layer | None:
    """Resolves a normalization argument to a new layer (or `None`).

    Args:
        spec: `None`, a registered name (`"batch"`, `"sync_batch"`, `"layer"`, `"group"`,
            `"instance"`), a Keras layer (cloned), a serialized layer dict, or a
            zero-argument callable returning a layer.
        channels: the channel count the norm will see (groups are chosen to divide it).
        **kwargs: passed to the factory (`momentum`, `epsilon`, `name`, `dtype`).

    Returns:
        A new `keras.layers.Layer`, or `None` for no normalization.

    Raises:
        ValueError: unknown name (listing the valid ones) or unusable type.

    Example:
        ```python
        from keras_blocks.registry import get_norm
        bn = get_norm("batch", channels=32, momentum=0.9)
        ```
    """
    spec = deserialize_spec(spec)
    if spec is None:
        return None
    if isinstance(spec, str):
        return get_registry("norm").get(spec)(channels, **kwargs)
    layer_kwargs = {k: v for k, v in kwargs.items() if k == "name"}
    if isinstance(spec, keras.layers.Layer):
        return clone_layer(spec, **layer_kwargs)
    if callable(spec):
        layer = spec()
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"norm callable {spec!r} must return a keras Layer; got {layer!r}.")
        return layer
    raise ValueError(
        f"norm must be None, a name ({', '.join(available('norm'))}), a layer or a "
        f"callable; got {_describe(spec)}."
    )


def check_norm(spec: Any, argument: str = "norm") -> None:
    """Raises `ValueError` now (at construction) when `spec` names no normalization.

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
    _check_named(spec, "norm", argument)


# --------------------------------------------------------------------------------------
# Pooling


@register("pool", "max")
def _max_pool(pool_size=2, strides=None, padding="valid", **kwargs):
    return keras.layers.MaxPooling2D(pool_size, strides=strides, padding=padding, **kwargs)


@register("pool", "avg")
def _avg_pool(pool_size=2, strides=None, padding="valid", **kwargs):
    return keras.layers.AveragePooling2D(pool_size, strides=strides, padding=padding, **kwargs)


register("pool", "average", _avg_pool)


def get_pool(spec: Any, pool_size=2, strides=None, padding="valid", **kwargs):
    """Resolves a pooling argument to a new layer (or `None`).

    Args:
        spec: `None`, `"max"`, `"avg"` (`"average"`), a Keras layer (cloned) or a
            serialized layer dict.
        pool_size: window size.
        strides: defaults to `pool_size`.
        padding: `"valid"` or `"same"`.
        **kwargs: passed to the layer (`name`, `dtype`).

    Example:
        ```python
        from keras_blocks.registry import get_pool
        pool = get_pool("max", pool_size=2)
        ```
    """
    spec = deserialize_spec(spec)
    if spec is None:
        return None
    if isinstance(spec, str):
        return get_registry("pool").get(spec)(pool_size, strides=strides, padding=padding, **kwargs)
    if isinstance(spec, keras.layers.Layer):
        return clone_layer(spec, **{k: v for k, v in kwargs.items() if k == "name"})
    raise ValueError(
        f"pool must be None, a name ({', '.join(available('pool'))}) or a layer; "
        f"got {_describe(spec)}."
    )


def check_pool(spec: Any, argument: str = "pool") -> None:
    """Raises `ValueError` now (at construction) when `spec` names no pooling.

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
    _check_named(spec, "pool", argument)


def _check_named(spec: Any, kind: str, argument: str) -> None:
    spec = deserialize_spec(spec)
    if spec is None or isinstance(spec, keras.layers.Layer):
        return
    if isinstance(spec, str):
        registry = get_registry(kind)
        if spec not in registry:
            load_plugins()
        if spec not in registry:
            raise ValueError(
                f"Unknown {argument} {spec!r}. Valid names: "
                f"{', '.join(repr(n) for n in registry.names())}, a layer, or None."
            )
        return
    if callable(spec) and kind != "pool":
        return
    raise ValueError(f"{argument} must be a name, a layer or None; got {_describe(spec)}.")


# --------------------------------------------------------------------------------------
# Blocks, heads, bases, augmentation: whole components built by name.


def create(kind: str, spec: Any, **kwargs) -> Any:
    """Builds a component of `kind` from a name, a config dict or an instance.

    Args:
        kind: `"block"`, `"head"`, `"base"`, `"augmentation"`, ... (any registry kind).
        spec: a registered name; a dict `{"name": ..., **arguments}`; a Keras
            serialization dict (with `"class_name"`); or an already built object, which
            is returned as is.
        **kwargs: extra arguments for the factory (override the dict's).

    Returns:
        The component.

    Raises:
        ValueError: unknown name (listing the valid ones), or a dict without `"name"`.

    Example:
        ```python
        from keras_blocks.registry import create
        block = create("block", {"name": "conv", "filters": 32})
        ```
    """
    if isinstance(spec, str):
        return get_registry(kind).get(spec)(**kwargs)
    if isinstance(spec, dict):
        if "class_name" in spec:
            return keras.saving.deserialize_keras_object(spec)
        if "name" not in spec:
            raise ValueError(
                f"A {kind} dict needs a 'name' key naming a registered {kind} "
                f"({', '.join(available(kind))}); got keys {sorted(spec)}."
            )
        arguments = {k: v for k, v in spec.items() if k != "name"}
        arguments.update(kwargs)
        return get_registry(kind).get(spec["name"])(**arguments)
    if spec is None:
        raise ValueError(
            f"A {kind} is required: a name ({', '.join(available(kind))}), a dict or an object."
        )
    return spec
