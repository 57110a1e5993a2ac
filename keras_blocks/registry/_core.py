"""The registries: one name -> factory table per kind of component."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keras

from keras_blocks.registry._plugins import load_plugins

KINDS = ("activation", "norm", "pool", "block", "head", "base", "augmentation", "preset")
"""The kinds of component, one registry each (see `get_registry`)."""


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
        """Removes `name` (case-insensitive).

        Args:
            name: a registered name.

        Raises:
            KeyError: `name` is not registered.
        """
        del self._factories[name.strip().lower()]

    def get(self, name: str) -> Callable[..., Any]:
        """Returns the factory registered under `name`, loading the plugins if needed.

        Args:
            name: the registered name (case-insensitive).

        Returns:
            The factory.

        Raises:
            ValueError: the name is unknown or not a string; the message lists the
                valid names.
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
        """The registered names, sorted (plugins not loaded yet are not listed)."""
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


def get_registry(kind: str) -> Registry:
    """Returns the registry for `kind`.

    Args:
        kind: one of `"activation"`, `"norm"`, `"pool"`, `"block"`, `"head"`, `"base"`,
            `"augmentation"`, `"preset"`.

    Returns:
        The [`Registry`][keras_blocks.registry.Registry] of that kind.

    Raises:
        ValueError: unknown kind; the message lists the kinds.

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

    Raises:
        ValueError: unknown `kind`, an empty `name`, a `factory` that is not callable,
            or a name taken by another factory while `overwrite=False`.

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
    """The valid names for `kind`, sorted (built-ins and plugins, which it loads).

    Args:
        kind: a registry kind (see [`get_registry`][keras_blocks.registry.get_registry]).

    Returns:
        The names, sorted.

    Raises:
        ValueError: unknown `kind`.

    Example:
        ```python
        from keras_blocks.registry import available
        available("pool")  # ['avg', 'average', 'max']
        ```
    """
    load_plugins()
    return get_registry(kind).names()


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
