"""`registry.resolve`: the one construction-time check of name / layer / callable arguments.

Also the package's public surface (the split into private modules must not change it)
and its place as the lowest floor of the library.
"""

import ast
import importlib.metadata
import pathlib

import keras
import pytest

from keras_blocks import (
    ConvBlock,
    ConvNeXtBlock,
    DenseHead,
    FireBlock,
    InvertedResidual,
    ResidualBlock,
    SqueezeExcite,
    registry,
)

PUBLIC = {
    "ENTRY_POINT_GROUP", "KINDS", "Registry", "available", "check_activation", "check_norm",
    "check_pool", "clone_layer", "create", "deserialize_spec", "get_activation", "get_norm",
    "get_pool", "get_registry", "load_plugins", "register", "resolve", "serialize_spec",
}


def _valid(kind):
    return ", ".join(repr(name) for name in registry.available(kind))


@pytest.mark.parametrize(
    "kind, name",
    [("activation", "gelu"), ("activation", "Swish"), ("norm", "batch"), ("norm", "group"),
     ("pool", "max"), ("pool", "average"), ("block", "conv"), ("head", "dense")],
)
def test_registered_names_are_returned_as_given(kind, name):
    assert registry.resolve(kind, name) == name


@pytest.mark.parametrize("kind", ["activation", "norm", "pool", "block", "head"])
def test_none_and_layers_pass_through_unchanged(kind):
    layer = keras.layers.ReLU()
    assert registry.resolve(kind, None) is None
    assert registry.resolve(kind, layer) is layer


def test_callables_pass_for_activation_and_norm_but_not_pool():
    assert registry.resolve("activation", keras.ops.relu) is keras.ops.relu
    make_norm = keras.layers.LayerNormalization
    assert registry.resolve("norm", make_norm) is make_norm
    with pytest.raises(ValueError) as error:
        registry.resolve("pool", len, "head_pool")
    assert str(error.value) == (
        "head_pool must be a name, a layer or None; got <built-in function len> "
        "(type builtin_function_or_method)."
    )


def test_serialized_layers_come_back_as_new_equal_layers():
    relu6 = keras.layers.ReLU(max_value=6.0, name="relu6")
    restored = registry.resolve("activation", registry.serialize_spec(relu6))
    assert isinstance(restored, keras.layers.ReLU) and restored is not relu6
    assert restored.get_config() == relu6.get_config()
    pool = registry.resolve("pool", registry.serialize_spec(keras.layers.MaxPooling2D(3)))
    assert isinstance(pool, keras.layers.MaxPooling2D) and pool.pool_size == (3, 3)


@pytest.mark.parametrize(
    "kind, argument, alternatives",
    [("activation", "gate", "or a layer, a callable, or None"),
     ("activation", None, "or a layer, a callable, or None"),
     ("norm", "norm", "a layer, or None"),
     ("pool", "pool", "a layer, or None"),
     ("block", "stem", "a dict with a 'name' key, an object, or None")],
)
def test_unknown_names_raise_naming_the_argument_and_every_valid_name(
    kind, argument, alternatives
):
    with pytest.raises(ValueError) as error:
        registry.resolve(kind, "nope", argument)
    assert str(error.value) == (
        f"Unknown {argument or kind} 'nope'. Valid names: {_valid(kind)}, {alternatives}."
    )


def test_unusable_types_raise_naming_the_argument():
    with pytest.raises(ValueError) as error:
        registry.resolve("activation", 3, "se_gate")
    assert str(error.value) == (
        "se_gate must be a name, a layer, a callable or None; got 3 (type int)."
    )
    with pytest.raises(ValueError) as error:
        registry.resolve("norm", 0.5)
    assert str(error.value) == "norm must be a name, a layer or None; got 0.5 (type float)."


def test_component_dicts_need_a_registered_name():
    spec = {"name": "conv", "filters": 8}
    assert registry.resolve("block", spec) is spec
    with pytest.raises(ValueError, match=r"^Unknown block 'nope'\. Valid names: 'conv', "):
        registry.resolve("block", {"name": "nope"})
    with pytest.raises(ValueError) as error:
        registry.resolve("block", {"filters": 8}, "stem")
    assert str(error.value) == (
        f"A stem dict needs a 'name' key naming a registered block ({_valid('block')}); "
        "got keys ['filters']."
    )


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ValueError, match=r"^Unknown registry kind 'widget'\. Valid kinds: "):
        registry.resolve("widget", "relu")


def test_an_unknown_name_loads_the_plugins_before_failing(monkeypatch):
    class EntryPoint:
        name, value = "late", "late_package:register"

        def load(self):
            return lambda: registry.register(
                "activation", "late_relu", lambda **kwargs: keras.layers.ReLU(**kwargs)
            )

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [EntryPoint()])
    monkeypatch.setattr(registry._plugins, "_PLUGINS_LOADED", False)
    try:
        assert registry.resolve("activation", "late_relu") == "late_relu"
    finally:
        registry.get_registry("activation").unregister("late_relu")


@pytest.mark.parametrize(
    "check, kind", [(registry.check_activation, "activation"), (registry.check_norm, "norm"),
                    (registry.check_pool, "pool")],
)
def test_check_functions_make_the_same_check(check, kind):
    assert check(registry.available(kind)[0]) is None
    with pytest.raises(ValueError) as expected:
        registry.resolve(kind, "nope", "arg")
    with pytest.raises(ValueError) as error:
        check("nope", "arg")
    assert str(error.value) == str(expected.value)


@pytest.mark.parametrize(
    "make, argument",
    [(lambda v: ConvBlock(4, activation=v), "activation"),
     (lambda v: ConvBlock(4, norm=v), "norm"),
     (lambda v: ConvBlock(4, pool=v), "pool"),
     (lambda v: ResidualBlock(4, activation=v), "activation"),
     (lambda v: ConvNeXtBlock(4, norm=v), "norm"),
     (lambda v: FireBlock(2, 4, norm=v), "norm"),
     (lambda v: SqueezeExcite(ratio=0.25, gate=v), "gate"),
     (lambda v: InvertedResidual(4, se_activation=v), "se_activation"),
     (lambda v: InvertedResidual(4, se_gate=v), "se_gate"),
     (lambda v: DenseHead(2, output_activation=v), "output_activation")],
)
def test_layers_check_their_arguments_through_resolve(make, argument):
    with pytest.raises(ValueError, match=rf"^Unknown {argument} 'nope'\. Valid names: "):
        make("nope")


def test_layers_store_deserialized_specs():
    block = ConvBlock(4, activation=registry.serialize_spec(keras.layers.ReLU(max_value=6.0)))
    assert isinstance(block.activation, keras.layers.ReLU)
    assert block.activation.max_value == 6.0
    assert DenseHead(3, output_activation="auto").output_activation == "auto"


def test_the_public_names_are_kept_and_report_the_public_module():
    assert set(registry.__all__) == PUBLIC
    for name in PUBLIC:
        obj = getattr(registry, name)
        if callable(obj):
            assert obj.__module__ == "keras_blocks.registry", name
    from keras_blocks.registry import Registry, create, get_norm, resolve  # noqa: F401


def test_built_in_names_are_registered_on_import():
    assert {"relu", "relu6", "swish", "gelu", "sigmoid"} <= set(registry.available("activation"))
    assert {"batch", "sync_batch", "layer", "group", "instance"} <= set(registry.available("norm"))
    assert {"max", "avg", "average"} <= set(registry.available("pool"))


def test_the_registry_imports_nothing_else_of_keras_blocks():
    package = pathlib.Path(registry.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0] == "keras_blocks":
                    assert module.startswith("keras_blocks.registry"), (path.name, module)
