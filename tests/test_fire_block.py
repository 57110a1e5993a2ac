import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import FireBlock
from keras_blocks.registry import create
from tests.layer_checks import (
    check_config_round_trip,
    check_output_shape,
    run_layer_checks,
    to_numpy,
)


# (trainable, non-trainable) weights, counted by hand: three convs with biases, or
# without biases and with batch norms (gamma, beta + two statistics each).
@pytest.mark.parametrize(
    "kwargs, training_differs, weights",
    [
        ({"squeeze": 3, "expand": 4}, False, (6, 0)),
        ({"squeeze": 2, "expand": (3, 5), "norm": "batch", "activation": "swish"}, True,
         (9, 6)),
        # 5 input channels: squeeze (1x1, 5->5) and expand_1x1 (5->5) have the same shape.
        ({"squeeze": 5, "expand": (5, 2)}, False, (6, 0)),
    ],
)
def test_shared_checks(kwargs, training_differs, weights, tmp_path):
    run_layer_checks(FireBlock, kwargs, (2, 9, 7, 5), tmp_path,
                     training_differs=training_differs, expected_weights=weights,
                     expected_seed_generators=0)


def test_equals_plain_keras_fire_module():
    """SqueezeNet's fire module written with keras.layers, the same weights, equal outputs."""
    inputs = keras.Input((11, 9, 6))
    squeezed = keras.layers.Conv2D(3, 1, activation="relu")(inputs)
    left = keras.layers.Conv2D(4, 1, activation="relu")(squeezed)
    right = keras.layers.Conv2D(5, 3, padding="same", activation="relu")(squeezed)
    reference = keras.Model(inputs, keras.layers.Concatenate()([left, right]))
    rng = np.random.default_rng(0)
    reference.set_weights([rng.normal(size=w.shape).astype("float32")
                           for w in reference.weights])

    fire = FireBlock(3, (4, 5))
    x = rng.normal(size=(2, 11, 9, 6)).astype("float32")
    fire.build(x.shape)
    conv_layers = [layer for layer in reference.layers if layer.weights]
    for ours, theirs in zip(fire.convs, conv_layers, strict=True):
        ours.set_weights(theirs.get_weights())
    expected = to_numpy(reference(x))
    actual = to_numpy(fire(x))
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-5)
    # Both branches are live: the 1x1 half and the 3x3 half of the channels differ.
    assert (expected[..., :4] > 0).any() and (expected[..., 4:] > 0).any()


@given(
    squeeze=st.integers(1, 6),
    expand=st.one_of(st.integers(1, 6), st.tuples(st.integers(1, 6), st.integers(1, 6))),
    norm=st.sampled_from([None, "batch", "group"]),
    height=st.integers(1, 13),
    width=st.integers(1, 13),
    channels=st.integers(1, 7),
)
def test_shapes_and_config_for_drawn_configs(squeeze, expand, norm, height, width, channels):
    fire = FireBlock(squeeze, expand, norm=norm)
    x = np.random.rand(2, height, width, channels).astype("float32")
    pair = (expand, expand) if isinstance(expand, int) else expand
    y = check_output_shape(fire, x, expected_output_shape=(2, height, width, sum(pair)))
    assert to_numpy(y).min() >= 0  # relu after every branch
    check_config_round_trip(fire)


def test_norm_replaces_bias():
    plain = FireBlock(2, 3)
    normed = FireBlock(2, 3, norm="batch")
    x = np.ones((1, 4, 4, 3), "float32")
    plain(x)
    normed(x)
    assert all(conv.use_bias for conv in plain.convs)
    assert not any(conv.use_bias for conv in normed.convs)


def test_registered_as_fire():
    fire = create("block", {"name": "fire", "squeeze": 2, "expand": 3})
    assert isinstance(fire, FireBlock) and fire.expand == (3, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"squeeze": 0, "expand": 4}, "`squeeze` must be an integer >= 1; got 0"),
        ({"squeeze": 2, "expand": 0}, "`expand`"),
        ({"squeeze": 2, "expand": (4, 4, 4)}, "`expand`"),
        ({"squeeze": 2.5, "expand": 4}, "`squeeze`"),
        ({"squeeze": 2, "expand": 4, "activation": "relu7"}, "Unknown activation 'relu7'"),
        ({"squeeze": 2, "expand": 4, "norm": "batchnorm"}, "Unknown norm 'batchnorm'"),
        ({"squeeze": 2, "expand": 4, "norm_epsilon": -1}, "`norm_epsilon`"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        FireBlock(**kwargs)
    assert message in str(error.value)


def test_bad_input_raises_at_build():
    with pytest.raises(ValueError, match=r"rank-4 input .* got shape \(2, 8, 3\)"):
        FireBlock(2, 3)(np.zeros((2, 8, 3), "float32"))
    with pytest.raises(ValueError, match="channel dimension"):
        FireBlock(2, 3).build((None, 8, 8, None))
