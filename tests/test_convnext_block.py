import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import ConvNeXtBlock
from keras_blocks.registry import create
from tests.layer_checks import (
    check_config_round_trip,
    check_output_shape,
    run_layer_checks,
    to_numpy,
)


def test_example_shape_and_registry_name():
    block = create("block", {"name": "convnext", "drop_path": 0.1})
    assert isinstance(block, ConvNeXtBlock)
    assert tuple(block(np.zeros((2, 14, 14, 32), "float32")).shape) == (2, 14, 14, 32)


# (trainable, non-trainable) weights and seed generators, counted by hand: depthwise
# kernel + bias, norm scale + shift (+ two statistics for batch norm), two Dense layers
# with biases, the layer scale; drop_path owns one seed generator.
@pytest.mark.parametrize(
    "kwargs, shape, training_differs, weights, seeds",
    [
        ({}, (2, 9, 11, 6), False, (9, 0), 0),
        # A visible layer scale, so that dropped and kept (x2) branches both differ from
        # inference.
        ({"drop_path": 0.5, "layer_scale_init": 1.0, "seed": 4, "kernel_size": 3,
          "expansion": 2, "norm": "group"}, (4, 7, 5, 4), True, (9, 0), 1),
        ({"filters": 3, "layer_scale_init": None, "norm": "batch", "activation": "swish"},
         (2, 5, 6, 3), True, (8, 2), 0),
        # expansion 1: the MLP's two Dense kernels are both 4x4.
        ({"expansion": 1}, (2, 5, 6, 4), False, (9, 0), 0),
    ],
)
def test_shared_checks(kwargs, shape, training_differs, weights, seeds, tmp_path):
    run_layer_checks(ConvNeXtBlock, kwargs, shape, tmp_path,
                     training_differs=training_differs, expected_weights=weights,
                     expected_seed_generators=seeds)


@given(
    kernel=st.sampled_from([1, 3, 7, (5, 3)]),
    expansion=st.integers(1, 4),
    channels=st.integers(1, 9),
    height=st.integers(1, 13),
    width=st.integers(1, 13),
    norm=st.sampled_from(["layer", "group", None]),
    layer_scale_init=st.sampled_from([None, 0.0, 1e-6, 0.5]),
)
def test_shape_is_kept_for_drawn_configs(kernel, expansion, channels, height, width, norm,
                                         layer_scale_init):
    block = ConvNeXtBlock(kernel_size=kernel, expansion=expansion, norm=norm,
                          layer_scale_init=layer_scale_init)
    x = np.random.default_rng(0).random((2, height, width, channels), dtype="float32")
    y = check_output_shape(block, x, expected_output_shape=x.shape)
    assert tuple(y.shape) == x.shape
    assert block.expand.units == channels * expansion
    has_scale = bool(layer_scale_init)
    assert (block.gamma is not None) == has_scale
    assert any(w.path.endswith("layer_scale") for w in block.weights) == has_scale
    check_config_round_trip(block)


def _plain_convnext(x, channels, kernel_size, expansion):
    """The same block written with plain keras.layers and keras.ops."""
    L = keras.layers
    layers = [
        L.DepthwiseConv2D(kernel_size, padding="same"),
        L.LayerNormalization(epsilon=1e-6),
        L.Dense(channels * expansion),
        L.Dense(channels),
    ]
    y = layers[1](layers[0](x))
    y = layers[3](L.Activation("gelu")(layers[2](y)))
    return y, layers


def test_equals_a_plain_keras_convnext_block_with_the_same_weights():
    shape = (6, 7, 5)
    block = ConvNeXtBlock(kernel_size=3, expansion=3, layer_scale_init=0.3)
    block.build((None, *shape))
    inputs = keras.Input(shape)
    branch, layers = _plain_convnext(inputs, 5, 3, 3)
    plain_branch = keras.Model(inputs, branch)
    rng = np.random.default_rng(0)
    ours = [block.depthwise, block.norm_layer, block.expand, block.project]
    for our_layer, plain_layer in zip(ours, layers, strict=True):
        values = [rng.normal(size=w.shape).astype("float32") for w in our_layer.weights]
        our_layer.set_weights(values)
        plain_layer.set_weights(values)
    gamma = rng.normal(size=(5,)).astype("float32")
    block.gamma.assign(gamma)
    x = rng.normal(size=(2, *shape)).astype("float32")
    expected = x + gamma * to_numpy(plain_branch(x))
    np.testing.assert_allclose(to_numpy(block(x)), expected, rtol=1e-5, atol=1e-5)


def test_layer_scale_weights_the_branch_and_is_trained():
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 4)).astype("float32")
    block = ConvNeXtBlock(layer_scale_init=1e-6)
    block(x)
    assert block.gamma.trainable
    np.testing.assert_allclose(to_numpy(block.gamma), 1e-6)
    # At 1e-6 the block starts as (almost) the identity; a zero scale makes it exact.
    np.testing.assert_allclose(to_numpy(block(x)), x, atol=1e-4)
    block.gamma.assign(np.zeros(4, "float32"))
    np.testing.assert_array_equal(to_numpy(block(x)), x)
    no_scale = ConvNeXtBlock(layer_scale_init=None)
    assert not np.allclose(to_numpy(no_scale(x)), x, atol=1e-3)


def test_filters_must_equal_the_input_channels():
    block = ConvNeXtBlock(filters=8)
    with pytest.raises(ValueError) as error:
        block(np.zeros((1, 5, 5, 6), "float32"))
    message = str(error.value)
    assert "`filters=8` must equal the input's channel count" in message
    assert "expected input shape (batch, height, width, 8), got (1, 5, 5, 6)" in message
    assert tuple(ConvNeXtBlock(filters=6)(np.zeros((1, 5, 5, 6), "float32")).shape) == (
        1, 5, 5, 6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "ConvNeXtBlock: `filters` must be an integer >= 1; got 0"),
        ({"kernel_size": 0}, "`kernel_size` must be a positive integer"),
        ({"expansion": 0}, "`expansion` must be an integer >= 1; got 0"),
        ({"expansion": 1.5}, "`expansion` must be an integer >= 1; got 1.5"),
        ({"layer_scale_init": -1.0}, "`layer_scale_init` must be None or a number >= 0"),
        ({"layer_scale_init": "small"}, "`layer_scale_init` must be None or a number >= 0"),
        ({"drop_path": 1.0}, "`drop_path` must be a number in [0.0, 1.0); got 1.0"),
        ({"norm": "rms"}, "Unknown norm 'rms'. Valid names:"),
        ({"activation": "gelu2"}, "Unknown activation 'gelu2'. Valid names:"),
        ({"norm_epsilon": -1}, "`norm_epsilon` must be a number >= 0; got -1"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        ConvNeXtBlock(**kwargs)
    assert message in str(error.value)


def test_bad_rank_raises_at_build():
    with pytest.raises(ValueError, match=r"rank-4 input .* got shape \(2, 8, 3\)"):
        ConvNeXtBlock()(np.zeros((2, 8, 3), "float32"))
