"""Every use of Keras' private API, in one place.

keras_blocks needs a few things Keras has but does not export: the switchable backend
of its preprocessing layers, the "are we inside a TensorFlow graph / JAX trace" tests,
two `Layer` flags that govern input conversion, and the walk over nested layers. They
live in `keras.src` or behind a leading underscore, so a Keras release may move them
without notice. Everything else in keras_blocks calls the small functions below, and
`tests/test_keras_compat.py` checks that each private name still exists (failing with
the Keras version and the missing name) and that each function still works.

`PRIVATE_NAMES` lists them: `(module, attribute)` for module-level names, and
`("keras.layers.Layer instance", attribute)` for the attributes of a layer.
"""

from __future__ import annotations

import contextlib
import importlib

import keras

#: The private Keras names this module relies on (see the module docstring).
PRIVATE_NAMES = (
    ("keras.src.utils.backend_utils", "DynamicBackend"),
    ("keras.src.utils.backend_utils", "in_tf_graph"),
    ("keras.src.utils.jax_utils", "is_in_jax_tracing_scope"),
    ("keras.layers.Layer instance", "_flatten_layers"),
    ("keras.layers.Layer instance", "_convert_input_args"),
    ("keras.layers.Layer instance", "_allow_non_tensor_positional_args"),
)


def _load(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


# Looked up once, at import: inside a traced function (tf.data, tf.function) autograph
# would otherwise convert importlib's own functions, and warn about each.
_FOUND = {
    (module, name): _load(module, name)
    for module, name in PRIVATE_NAMES
    if module.startswith("keras.src")
}


def _private(module: str, name: str):
    """`module.name`, or an `ImportError` naming the Keras version and the lost name."""
    found = _FOUND.get((module, name)) or _load(module, name)
    if found is None:
        raise ImportError(
            f"keras_blocks needs the private Keras name {module}.{name}, which Keras "
            f"{keras.__version__} does not have; keras_blocks/_keras_compat.py must be "
            "updated for this Keras release."
        )
    return found


def dynamic_backend():
    """A backend-ops object whose backend can be switched (Keras' preprocessing layers
    use one to run TensorFlow ops inside `tf.data` under another backend).

    Returns:
        An object with the Keras backend modules as attributes (`.numpy`, `.image`,
        `.random`, ...), `.name`, `.set_backend(name)` and `.reset()`.
    """
    return _private("keras.src.utils.backend_utils", "DynamicBackend")()


def in_tf_graph() -> bool:
    """True while TensorFlow traces a graph (`tf.data`, `tf.function`)."""
    return bool(_private("keras.src.utils.backend_utils", "in_tf_graph")())


def in_jax_tracing_scope(x=None) -> bool:
    """True when `x` (or, with `x=None`, the current computation) is traced by JAX.

    Always False on the TensorFlow and PyTorch backends (no private name needed there).
    """
    if keras.backend.backend() != "jax":
        return False
    return bool(_private("keras.src.utils.jax_utils", "is_in_jax_tracing_scope")(x))


def flatten_layers(layer, include_self: bool = True, recursive: bool = True) -> list:
    """The layers inside `layer`, breadth first (parents before their children).

    Args:
        layer: a Keras layer or model.
        include_self: start the list with `layer` itself.
        recursive: also list the sublayers of sublayers.

    Returns:
        A list of layers, each once.
    """
    return list(layer._flatten_layers(include_self=include_self, recursive=recursive))


@contextlib.contextmanager
def input_conversion_disabled(layer):
    """Within the block, `layer.__call__` passes its inputs on as they are (Keras
    otherwise converts array inputs to the active backend's tensors, which turns the
    TensorFlow tensors of a `tf.data` pipeline into errors under JAX or PyTorch)."""
    previous = layer._convert_input_args
    layer._convert_input_args = False
    try:
        yield layer
    finally:
        layer._convert_input_args = previous


def allow_non_tensor_positional_args(layer) -> None:
    """Lets `layer` take positional arguments that are not tensors of the active backend
    (TensorFlow tensors from `tf.data` under JAX or PyTorch), as Keras' data layers do."""
    layer._allow_non_tensor_positional_args = True
