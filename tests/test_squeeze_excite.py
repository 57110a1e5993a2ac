import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import SqueezeExcite
from keras_blocks.blocks._base import make_divisible
from tests.layer_checks import check_config_round_trip, check_output_shape, run_layer_checks


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": 0.5, "activation": "swish"},
        {"squeeze_channels": 3, "gate": "hard_sigmoid"},
        {"ratio": 1.0},  # reduce and expand kernels are both 12x12
    ],
)
def test_shared_checks(kwargs, tmp_path):
    # Two 1x1 convs with biases; no seed generator.
    run_layer_checks(SqueezeExcite, kwargs, (2, 7, 9, 12), tmp_path, training_differs=False,
                     expected_weights=(4, 0), expected_seed_generators=0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_matches_numpy_reference():
    se = SqueezeExcite(ratio=0.25, activation="swish")
    x = np.random.default_rng(0).normal(size=(3, 5, 6, 16)).astype("float32")
    se.build(x.shape)
    rng = np.random.default_rng(1)
    for weight in se.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    w1, b1 = (np.asarray(w) for w in se.reduce.weights)
    w2, b2 = (np.asarray(w) for w in se.expand.weights)
    pooled = x.mean(axis=(1, 2))
    hidden = pooled @ w1[0, 0] + b1
    hidden = hidden * _sigmoid(hidden)  # swish
    gate = _sigmoid(hidden @ w2[0, 0] + b2)
    expected = x * gate[:, None, None, :]
    np.testing.assert_allclose(np.asarray(se(x)), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, channels, squeezed",
    [
        ({}, 16, 4),
        ({"ratio": 0.25}, 10, 2),  # EfficientNet/SENet rule: int(10 * 0.25)
        ({"ratio": 0.01}, 10, 1),  # never below one channel
        ({"ratio": 0.25, "divisor": 8}, 72, 24),  # MobileNetV3 rule: make_divisible(18, 8)
        ({"squeeze_channels": 5}, 96, 5),
    ],
)
def test_squeezed_width_rules(kwargs, channels, squeezed):
    se = SqueezeExcite(**kwargs)
    se.build((None, 4, 4, channels))
    assert tuple(se.reduce.kernel.shape) == (1, 1, channels, squeezed)
    assert tuple(se.expand.kernel.shape) == (1, 1, squeezed, channels)


def test_make_divisible_never_drops_more_than_ten_percent():
    assert make_divisible(18, 8) == 24  # 16 would lose 11%
    assert make_divisible(36, 8) == 40
    assert make_divisible(3, 8) == 8


@given(
    channels=st.integers(1, 24),
    ratio=st.sampled_from([0.0625, 0.25, 0.5, 1.0]),
    divisor=st.sampled_from([1, 4, 8]),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
)
def test_shapes_and_config_for_drawn_configs(channels, ratio, divisor, height, width):
    se = SqueezeExcite(ratio=ratio, divisor=divisor)
    x = np.random.rand(2, height, width, channels).astype("float32")
    y = check_output_shape(se, x, expected_output_shape=x.shape)
    # The gate lies in (0, 1), so it only ever shrinks positive inputs.
    assert np.all(np.asarray(y) <= x + 1e-6)
    check_config_round_trip(se)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ratio": 0.0}, "`ratio` must be a number in (0, 1]; got 0.0"),
        ({"ratio": 1.5}, "`ratio`"),
        ({"ratio": "quarter"}, "`ratio`"),
        ({"ratio": 0.25, "squeeze_channels": 4}, "not both"),
        ({"squeeze_channels": 0}, "`squeeze_channels` must be an integer >= 1; got 0"),
        ({"divisor": 0}, "`divisor`"),
        ({"activation": "relu7"}, "Unknown activation 'relu7'"),
        ({"gate": "sigmoidal"}, "Unknown gate 'sigmoidal'"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        SqueezeExcite(**kwargs)
    assert message in str(error.value)


def test_bad_input_rank_raises_at_build():
    with pytest.raises(ValueError, match=r"rank-4 input .* got shape \(2, 8\)"):
        SqueezeExcite()(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match="channel dimension"):
        SqueezeExcite().build((None, 4, 4, None))


def test_registered_as_block():
    from keras_blocks.registry import create

    se = create("block", {"name": "squeeze_excite", "ratio": 0.5})
    assert isinstance(se, SqueezeExcite)
    assert tuple(se(keras.ops.ones((1, 3, 3, 4))).shape) == (1, 3, 3, 4)
    assert tuple(se.reduce.kernel.shape) == (1, 1, 4, 2)
