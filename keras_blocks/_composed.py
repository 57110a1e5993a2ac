"""ComposedLayer: the one way a keras_blocks layer makes its sublayers.

Every block and head is a Keras layer made of Keras layers (convolutions, norms,
activations, pooling, dense). They are all made here, by the `make_*` methods, so three
things hold everywhere:

- **Each sublayer gets its own initializers.** A Keras 3 initializer created with
  `seed=None` draws its seed once, when it is created, and returns the same values at
  every call: one initializer object handed to three same-shape convolutions starts them
  identical. `clone_initializer` gives every sublayer a fresh copy; a user's initializer
  with a fixed seed gets a seed derived from it and the sublayer's name, so the sublayers
  still differ and a seeded block is still reproducible.
- **The dtype policy reaches every sublayer** (mixed precision), and so does the
  owner's `trainable` flag (a frozen block builds frozen sublayers).
- **Names resolve through the registry** (`"batch"`, `"swish"`, `"max"`, or a layer
  that is cloned), so plugins reach every block.

Sublayers are made in `build`, never in `__init__`: several of them depend on the input
(the expansion width of an inverted residual, a projection shortcut, the groups of a
group norm), and making them all in one place means one order of creation, one place to
read, and the same seeds whatever the configuration. Only the argument checks run in
`__init__`.

This module imports nothing of keras_blocks but the registry.
"""

from __future__ import annotations

import zlib
from typing import Any

import keras

from keras_blocks import registry

_UNSET = object()


def derived_seed(seed: int, salt: str) -> int:
    """A seed for one sublayer, derived from the user's `seed` and the sublayer's `salt`."""
    return (int(seed) * 1_000_003 + zlib.crc32(salt.encode())) % (2**31 - 1)


def clone_initializer(initializer: Any, salt: str = "") -> Any:
    """A fresh copy of `initializer` for one sublayer.

    Random initializers built with `seed=None` draw a new seed (from Python's `random`,
    which `keras.utils.set_random_seed` seeds, so runs stay reproducible); those built with
    an integer seed get `derived_seed(seed, salt)`, so two sublayers with different
    `salt` (their names) start different. Constant initializers, plain functions and
    initializers that cannot be rebuilt from their config are returned as they are.

    Example:
        ```python
        import keras
        from keras_blocks._composed import clone_initializer

        init = keras.initializers.HeNormal(seed=1)
        a = clone_initializer(init, "conv0")((3, 3))
        b = clone_initializer(init, "conv1")((3, 3))
        bool((a != b).numpy().any())  # True
        ```
    """
    if initializer is None or not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    try:
        config = initializer.get_config()
    except NotImplementedError:
        return initializer
    if not isinstance(config, dict):
        return initializer
    seed = config.get("seed", _UNSET)
    if seed is _UNSET:
        return initializer
    if isinstance(seed, int) and not isinstance(seed, bool):
        config = {**config, "seed": derived_seed(seed, salt)}
    elif seed is not None:
        # A SeedGenerator (or its config): it advances on every call, so sharing it
        # already gives different values.
        return initializer
    return initializer.__class__.from_config(config)


class ComposedLayer(keras.layers.Layer):
    """Base of every keras_blocks layer made of sublayers (blocks and heads).

    Subclasses check their arguments in `__init__`, call
    `self._init_weight_arguments(...)` there, make their sublayers in `build` with the
    `make_*` methods, and add `self._weight_config()` to `get_config`.
    """

    # ------------------------------------------------------------------------------
    # Weight arguments (initializers and regularizers), kept as the user gave them.

    def _init_weight_arguments(
        self,
        kernel_initializer: Any = "he_normal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
    ) -> None:
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _weight_config(self) -> dict:
        def regularizer(value):
            return None if value is None else keras.regularizers.serialize(value)

        return {
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizer(self.kernel_regularizer),
            "bias_regularizer": regularizer(self.bias_regularizer),
        }

    def _common(self, name: str, dtype: Any = _UNSET) -> dict:
        return {"name": name, "dtype": self.dtype_policy if dtype is _UNSET else dtype}

    def _own(self, layer):
        # A block frozen before it was built builds frozen sublayers (Keras sets
        # `trainable` only on the sublayers that exist when it is set).
        if layer is not None and not self.trainable:
            layer.trainable = False
        return layer

    def _kernel(self, name: str) -> dict:
        return {
            "kernel_initializer": clone_initializer(self.kernel_initializer, f"{name}/kernel"),
            "bias_initializer": clone_initializer(self.bias_initializer, f"{name}/bias"),
            "kernel_regularizer": self.kernel_regularizer,
            "bias_regularizer": self.bias_regularizer,
        }

    # ------------------------------------------------------------------------------
    # Sublayer factories.

    def make_conv(
        self, filters, kernel_size, *, name, strides=1, padding="same", use_bias=True,
        separable=False,
    ) -> keras.layers.Layer:
        """A `Conv2D` (or, with `separable`, a `SeparableConv2D`) with its own initializers."""
        common = self._common(name)
        args = {"strides": strides, "padding": padding, "use_bias": use_bias, **common}
        weights = self._kernel(name)
        if not separable:
            return self._own(keras.layers.Conv2D(filters, kernel_size, **args, **weights))
        return self._own(keras.layers.SeparableConv2D(
            filters,
            kernel_size,
            depthwise_initializer=weights["kernel_initializer"],
            pointwise_initializer=clone_initializer(self.kernel_initializer,
                                                    f"{name}/pointwise"),
            bias_initializer=weights["bias_initializer"],
            depthwise_regularizer=self.kernel_regularizer,
            pointwise_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            **args,
        ))

    def make_depthwise(
        self, kernel_size, *, name, strides=1, padding="same", use_bias=True
    ) -> keras.layers.Layer:
        """A `DepthwiseConv2D` with its own initializers."""
        weights = self._kernel(name)
        return self._own(keras.layers.DepthwiseConv2D(
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=use_bias,
            depthwise_initializer=weights["kernel_initializer"],
            bias_initializer=weights["bias_initializer"],
            depthwise_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            **self._common(name),
        ))

    def make_dense(self, units, *, name, use_bias=True) -> keras.layers.Layer:
        """A `Dense` layer with its own initializers."""
        return self._own(keras.layers.Dense(
            units, use_bias=use_bias, **self._kernel(name), **self._common(name)
        ))

    def make_norm(
        self, channels, *, name, spec=_UNSET, momentum=_UNSET, epsilon=_UNSET,
        zero_scale=False,
    ) -> keras.layers.Layer | None:
        """The normalization `spec` (default `self.norm`) for `channels` channels, or `None`.

        `momentum` and `epsilon` default to the owner's `norm_momentum` and `norm_epsilon`
        (when it has them and they are not `None`). A registered name gets the owner's
        dtype policy; a layer given by the user is cloned with its own. `zero_scale`
        starts the scale (gamma) at zero (a residual branch that starts as the identity).
        """
        spec = getattr(self, "norm", None) if spec is _UNSET else spec
        momentum = getattr(self, "norm_momentum", None) if momentum is _UNSET else momentum
        epsilon = getattr(self, "norm_epsilon", None) if epsilon is _UNSET else epsilon
        kwargs: dict[str, Any] = {"name": name}
        if momentum is not None:
            kwargs["momentum"] = momentum
        if epsilon is not None:
            kwargs["epsilon"] = epsilon
        if isinstance(spec, str):
            kwargs["dtype"] = self.dtype_policy
        layer = registry.get_norm(spec, channels, **kwargs)
        if zero_scale and layer is not None:
            if not hasattr(layer, "gamma_initializer"):
                raise ValueError(
                    f"{type(self).__name__}: a zero-initialized scale needs a norm with a "
                    f"`gamma_initializer` (batch, layer, group...); got norm={spec!r}."
                )
            layer.gamma_initializer = keras.initializers.Zeros()
        return self._own(layer)

    def make_act(self, spec, *, name, dtype=_UNSET) -> keras.layers.Layer:
        """The activation `spec` as a layer (identity for `None`)."""
        return self._own(registry.get_activation(spec, **self._common(name, dtype)))

    def make_pool(self, spec, *, name, pool_size=2, padding="valid") -> keras.layers.Layer | None:
        """The pooling `spec` (`"max"`, `"avg"`, a layer, or `None`)."""
        return self._own(registry.get_pool(spec, pool_size=pool_size, padding=padding,
                                           **self._common(name)))

    def make_dropout(self, rate, *, name) -> keras.layers.Layer | None:
        """A `Dropout` layer, or `None` for a zero rate."""
        return self._own(keras.layers.Dropout(rate, **self._common(name))) if rate > 0 else None
