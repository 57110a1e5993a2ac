import importlib.metadata

import keras
import pytest

from keras_blocks import registry


def test_names_resolve_to_layers():
    relu6 = registry.get_activation("relu6")
    assert isinstance(relu6, keras.layers.Layer)
    values = keras.ops.convert_to_numpy(relu6(keras.ops.convert_to_tensor([-1.0, 3.0, 8.0])))
    assert values.tolist() == [0.0, 3.0, 6.0]
    assert isinstance(registry.get_norm("batch", 8), keras.layers.BatchNormalization)
    # Group norm: the largest group count <= 32 that divides the channels.
    for channels, groups in ((24, 24), (40, 20), (64, 32), (7, 7), (37, 1)):
        group = registry.get_norm("group", channels)
        assert isinstance(group, keras.layers.GroupNormalization)
        assert group.groups == groups, (channels, group.groups)
    assert isinstance(registry.get_pool("avg"), keras.layers.AveragePooling2D)
    assert registry.get_norm(None) is None and registry.get_pool(None) is None


def test_names_are_case_insensitive():
    assert isinstance(registry.get_norm("Batch", 4), keras.layers.BatchNormalization)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown activation 'nope'.*'relu'.*'swish'"):
        registry.get_activation("nope")
    with pytest.raises(ValueError, match=r"Unknown norm 'bn'.*'batch'.*'group'"):
        registry.get_norm("bn", 3)
    with pytest.raises(ValueError, match=r"Unknown registry kind 'widget'"):
        registry.get_registry("widget")


def test_user_registration_plugs_in_by_name():
    @registry.register("activation", "test_square")
    def square(**kwargs):
        return keras.layers.Activation(keras.ops.square, **kwargs)

    try:
        layer = registry.get_activation("test_square")
        assert float(layer(keras.ops.convert_to_tensor([3.0]))[0]) == 9.0
        with pytest.raises(ValueError, match="already registered"):
            registry.register("activation", "test_square", lambda **k: None)
    finally:
        registry.get_registry("activation").unregister("test_square")


def test_entry_point_plugins_load(monkeypatch):
    calls = []

    class FakeEntryPoint:
        name, value = "fake", "fake_package:register"

        def load(self):
            return lambda: calls.append("loaded") or registry.register(
                "pool", "fake_pool", lambda *a, **k: keras.layers.MaxPooling2D()
            )

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [FakeEntryPoint()])
    try:
        assert "fake" in registry.load_plugins(force=True)
        assert calls == ["loaded"]
        assert isinstance(registry.get_pool("fake_pool"), keras.layers.MaxPooling2D)
    finally:
        registry.get_registry("pool").unregister("fake_pool")


def test_broken_plugin_names_itself(monkeypatch):
    class Broken:
        name, value = "broken", "broken_pkg:register"

        def load(self):
            raise ImportError("no module named broken_pkg")

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [Broken()])
    with pytest.raises(RuntimeError, match=r"plugin 'broken'.*broken_pkg"):
        registry.load_plugins(force=True)


def test_create_from_name_dict_and_instance():
    block = registry.create("block", {"name": "conv", "filters": 3})
    assert block.filters == 3
    assert registry.create("block", block) is block
    with pytest.raises(ValueError, match="needs a 'name' key"):
        registry.create("block", {"filters": 3})


def test_specs_serialize_without_eval():
    layer = keras.layers.LeakyReLU(negative_slope=0.2)
    restored = registry.deserialize_spec(registry.serialize_spec(layer))
    assert isinstance(restored, keras.layers.LeakyReLU)
    assert restored.negative_slope == pytest.approx(0.2)
