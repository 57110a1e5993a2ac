"""String factories and the plugin registry.

Every keras_blocks component that a user can name with a string (activations, norms,
pooling, blocks, heads, pretrained bases, augmentation layers, presets) is looked up
here. One registry per *kind*; each maps a lower-case name to a factory.

A layer argument that takes "a name, a layer or a callable" (`activation="relu"`,
`norm="batch"`, `pool="max"`) goes through three steps: the layer checks it at
construction with [`resolve`][keras_blocks.registry.resolve], which returns it
deserialized; writes it in `get_config` with
[`serialize_spec`][keras_blocks.registry.serialize_spec]; and makes a fresh sublayer from
it in `build` with [`get_activation`][keras_blocks.registry.get_activation],
[`get_norm`][keras_blocks.registry.get_norm] or
[`get_pool`][keras_blocks.registry.get_pool].

Third-party packages plug in without touching keras_blocks: they declare an entry point
in the group `keras_blocks.plugins` whose object is a callable taking no arguments (or
a module); it is loaded the first time a name is not found, and registers its
components with [`register`][keras_blocks.registry.register].

```toml
# pyproject.toml of a plugin package
[project.entry-points."keras_blocks.plugins"]
my_blocks = "my_package.keras_blocks_plugin:register_all"
```

This package imports nothing else of keras_blocks: it is the lowest floor. Its modules
split it by concern: `_core` (the registries), `_plugins` (entry points), `_specs`
(checking and serializing arguments), `_factories` (the layer parts and their built-in
names, registered on import).
"""

from keras_blocks.registry._core import KINDS, Registry, available, create, get_registry, register
from keras_blocks.registry._factories import get_activation, get_norm, get_pool
from keras_blocks.registry._plugins import ENTRY_POINT_GROUP, load_plugins
from keras_blocks.registry._specs import (
    check_activation,
    check_norm,
    check_pool,
    clone_layer,
    deserialize_spec,
    resolve,
    serialize_spec,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "Registry",
    "available",
    "check_activation",
    "check_norm",
    "check_pool",
    "clone_layer",
    "create",
    "deserialize_spec",
    "get_activation",
    "get_norm",
    "get_pool",
    "get_registry",
    "load_plugins",
    "register",
    "resolve",
    "serialize_spec",
]

# The public path, not the private module, in reprs, `help()` and tracebacks' names.
for _name in __all__:
    _obj = globals()[_name]
    if callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
