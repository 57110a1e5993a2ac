"""The factories for layer parts (activations, norms, pooling) and their built-in names.

Importing this module registers the built-in names, so it is imported by the package.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_blocks.registry._core import available, get_registry, register
from keras_blocks.registry._specs import _describe, clone_layer, deserialize_spec

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

    Returns:
        A new pooling layer, or `None` for no pooling.

    Raises:
        ValueError: unknown name (listing the valid ones) or unusable type.

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
