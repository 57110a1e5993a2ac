import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import (
    ConvBlock,
    ConvNeXtBlock,
    ResidualBlock,
    build_conv_net,
    course_conv_net,
    make_block_specs,
)
from keras_blocks.registry import get_registry
from tests.layer_checks import to_numpy


def _course_reference(input_shape):
    """The course's base, written as the course writes it."""
    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        L.Conv2D(filters=32, kernel_size=5, activation="relu", padding="same"),
        L.MaxPool2D(),
        L.Conv2D(filters=64, kernel_size=3, activation="relu", padding="same"),
        L.MaxPool2D(),
        L.Conv2D(filters=128, kernel_size=3, activation="relu", padding="same"),
        L.MaxPool2D(),
    ])


def test_course_conv_net_is_the_course_base_with_the_same_weights():
    base = course_conv_net((35, 29, 3))
    assert [type(b) for b in base.layers] == [ConvBlock] * 3
    assert [b.filters for b in base.layers] == [32, 64, 128]
    assert base.output_shape == (None, 4, 3, 128)
    reference = _course_reference((35, 29, 3))
    assert base.count_params() == reference.count_params()
    reference.set_weights(base.get_weights())
    x = np.random.default_rng(0).random((2, 35, 29, 3), dtype="float32")
    np.testing.assert_allclose(to_numpy(base(x)), to_numpy(reference(x)), rtol=1e-5, atol=1e-5)


def test_course_default_is_128_pixels():
    assert course_conv_net().output_shape == (None, 16, 16, 128)


def test_a_short_spec_builds_the_course_net():
    base = build_conv_net(
        [{"name": "conv", "filters": f, "kernel_size": k} for f, k in ((32, 5), (64, 3), (128, 3))],
        input_shape=(64, 64, 3),
    )
    assert base.output_shape == (None, 8, 8, 128)
    assert [b.get_config()["kernel_size"] for b in base.layers] == [(5, 5), (3, 3), (3, 3)]


def test_make_block_specs_writes_stages():
    specs = make_block_specs((8, 16, 32), block="residual", depth=(1, 2, 1), downsample=2,
                             norm="group")
    assert [s["filters"] for s in specs] == [8, 16, 16, 32]
    assert [s.get("strides") for s in specs] == [None, (2, 2), None, (2, 2)]
    assert all(s["name"] == "residual" and s["norm"] == "group" for s in specs)
    base = build_conv_net(specs, input_shape=(15, 17, 3))
    assert [type(b) for b in base.layers] == [ResidualBlock] * 4
    assert base.output_shape == (None, 4, 5, 32)
    assert [b.projection is not None for b in base.layers] == [True, True, False, True]
    assert make_block_specs((4, 8)) == [{"name": "conv", "filters": 4},
                                        {"name": "conv", "filters": 8}]


@given(
    filters=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    depth=st.integers(1, 2),
    block=st.sampled_from(["conv", "residual"]),
    height=st.integers(8, 21),
    width=st.integers(8, 21),
)
def test_drawn_stacks_build_and_run(filters, depth, block, height, width):
    shared = {"pool_padding": "same"} if block == "conv" else {}
    specs = make_block_specs(filters, block=block, depth=depth,
                             downsample=2 if block == "residual" else None, **shared)
    base = build_conv_net(specs, input_shape=(height, width, 3))
    y = base(np.zeros((2, height, width, 3), "float32"))
    assert tuple(y.shape) == (2, *base.output_shape[1:])
    assert y.shape[-1] == filters[-1]
    assert len(base.layers) == len(filters) * depth


def test_defaults_layers_names_and_lazy_build():
    dropout = keras.layers.Dropout(0.1)
    base = build_conv_net(["convnext", {"name": "conv", "filters": 4, "norm": None}, dropout],
                          defaults={"norm": "batch"}, name="mine")
    assert base.name == "mine"
    assert not base.built
    y = base(np.zeros((1, 8, 8, 3), "float32"))
    assert tuple(y.shape) == (1, 4, 4, 4)
    assert isinstance(base.layers[0], ConvNeXtBlock)
    assert base.layers[0].norm == "batch"  # from defaults
    assert base.layers[1].norm is None  # the entry wins
    assert base.layers[2] is dropout


def test_plugin_blocks_work_by_name():
    registry = get_registry("block")

    def make_plugin(filters):
        return ConvBlock(filters, pool=None, activation="swish")

    registry.register("test_plugin_block", make_plugin)
    try:
        base = build_conv_net([{"name": "test_plugin_block", "filters": 5}], input_shape=(6, 6, 2))
        assert base.output_shape == (None, 6, 6, 5)
        assert base.layers[0].activation == "swish"
    finally:
        registry.unregister("test_plugin_block")


def test_saves_and_loads_safely(tmp_path):
    specs = make_block_specs((4, 6), block="residual", downsample=2, drop_path=0.1)
    base = build_conv_net([*specs, "convnext"], input_shape=(9, 9, 3))
    x = np.random.default_rng(0).random((2, 9, 9, 3), dtype="float32")
    path = tmp_path / "base.keras"
    base.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(base(x)), atol=1e-6)


@pytest.mark.parametrize(
    "blocks, message",
    [
        ([], "`blocks` must be a non-empty list"),
        ("conv", "`blocks` must be a non-empty list"),
        ({"name": "conv"}, "`blocks` must be a non-empty list"),
        ([{"name": "conv", "filters": 4}, 5],
         "blocks[1] must be a block name, a dict with a 'name' key, or a keras Layer; got 5"),
        ([{"filters": 4}], "blocks[0] = {'filters': 4} has no 'name' key; add one naming a "
                           "registered block ('conv', "),
        ([{"name": "conv", "filters": 4}, {"name": "conv2d", "filters": 4}],
         "blocks[1] = {'name': 'conv2d', 'filters': 4}: Unknown block 'conv2d'. Valid block "
         "names: 'conv', "),
        ([{"name": "conv", "filters": 0}], "blocks[0] = {'name': 'conv', 'filters': 0}: "
                                           "ConvBlock: `filters` must be an integer >= 1"),
        ([{"name": "conv", "filters": 4, "filter": 3}], "blocks[0] = "),
        ([{"name": "conv"}], "blocks[0] = {'name': 'conv'}: "),
    ],
)
def test_bad_entries_name_their_index(blocks, message):
    with pytest.raises(ValueError) as error:
        build_conv_net(blocks)
    assert message in str(error.value)


def test_a_block_that_cannot_take_its_input_is_named():
    specs = [{"name": "conv", "filters": 4}, {"name": "convnext", "filters": 8}]
    with pytest.raises(ValueError) as error:
        build_conv_net(specs, input_shape=(8, 8, 3))
    message = str(error.value)
    assert "blocks[1] (ConvNeXtBlock" in message
    assert "(None, 4, 4, 4)" in message and "`filters=8` must equal" in message


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (8, 8)}, "`input_shape` must be (height, width, channels)"),
        ({"input_shape": (8, 8, 0)}, "`input_shape` must be (height, width, channels)"),
        ({"defaults": {"name": "conv"}}, "`defaults` must be a dict of block arguments"),
    ],
)
def test_bad_builder_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        build_conv_net([{"name": "conv", "filters": 4}], **kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((), {"filters": ()}, "`filters` must be a non-empty sequence"),
        ((), {"filters": 32}, "`filters` must be a non-empty sequence"),
        ((), {"filters": (8, 0)}, "`filters[1]` must be an integer >= 1; got 0"),
        ((), {"filters": (8, 16), "depth": (1,)}, "`depth` as a sequence needs one entry per "
                                                  "stage (2)"),
        ((), {"filters": (8,), "depth": 0}, "`depth` must be an integer >= 1; got 0"),
        ((), {"filters": (8,), "downsample": 0}, "`downsample` must be a positive integer"),
        ((), {"filters": (8,), "block": "resnet"}, "Unknown block 'resnet'"),
    ],
)
def test_bad_make_block_specs_arguments(args, kwargs, message):
    with pytest.raises(ValueError) as error:
        make_block_specs(*args, **kwargs)
    assert message in str(error.value)


def test_a_training_step_runs_on_the_course_base():
    # (ConvBlock's own tests cover the XLA-compiled step.)
    base = course_conv_net((16, 16, 3))
    model = keras.Sequential([base, keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile("sgd", "mse", jit_compile=False)
    before = [to_numpy(w).copy() for w in base.trainable_weights]
    model.fit(np.ones((4, 16, 16, 3), "float32"), np.ones((4, 1)), epochs=1, verbose=0)
    # One step trains every kernel and bias of the three blocks.
    assert len(before) == 6
    unchanged = [w.path for b, w in zip(before, base.trainable_weights, strict=True)
                 if np.allclose(b, to_numpy(w))]
    assert not unchanged, unchanged
