import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_blocks import StochasticDepth
from tests.layer_checks import check_config_round_trip, run_layer_checks, to_numpy


def _drop_indicators(layer, n, shape=(3, 2, 4)):
    """Runs `layer` in training on ones; returns (dropped per sample, the outputs)."""
    y = to_numpy(layer(np.ones((n, *shape), "float32"), training=True))
    return np.all(y == 0, axis=tuple(range(1, y.ndim))), y


@pytest.mark.parametrize(
    "kwargs, shape, training_differs, seeds",
    [
        ({"rate": 0.5, "seed": 3}, (8, 5, 7, 3), True, 1),
        ({"rate": 0.0}, (2, 5, 7, 3), False, 0),  # nothing to draw: no seed generator
    ],
)
def test_shared_checks(kwargs, shape, training_differs, seeds, tmp_path):
    run_layer_checks(StochasticDepth, kwargs, shape, tmp_path, training_differs=training_differs,
                     expected_weights=(0, 0), expected_seed_generators=seeds)


@given(rate=st.floats(0.05, 0.9), seed=st.integers(0, 2**16))
def test_drop_rate_and_scaling(rate, seed):
    n = 4000
    layer = StochasticDepth(rate, seed=seed)
    dropped, y = _drop_indicators(layer, n)
    # A whole sample is either zero or scaled by 1 / (1 - rate): nothing in between.
    survivors = y[~dropped]
    np.testing.assert_allclose(survivors, 1.0 / (1.0 - rate), rtol=1e-6)
    # The drop frequency matches `rate` (5 standard deviations of a binomial proportion).
    tolerance = 5 * np.sqrt(rate * (1 - rate) / n)
    assert abs(dropped.mean() - rate) < tolerance, (dropped.mean(), rate)
    # So the expected output is the input.
    assert abs(y.mean() - 1.0) < 5 * np.sqrt(rate / (1 - rate) / n)


def test_samples_are_dropped_independently():
    n = 20000
    layer = StochasticDepth(0.5, seed=11)
    first, _ = _drop_indicators(layer, n, shape=(2,))
    second, _ = _drop_indicators(layer, n, shape=(2,))
    bound = 5 / np.sqrt(n)
    # Neighbouring samples, and the same sample on two calls, are uncorrelated.
    assert abs(np.corrcoef(first[:-1], first[1:])[0, 1]) < bound
    assert abs(np.corrcoef(first, second)[0, 1]) < bound
    # The pair frequency is rate**2, as independence requires.
    assert abs(np.mean(first[:-1] & first[1:]) - 0.25) < 5 * np.sqrt(0.25 * 0.75 / n)


def test_each_sample_shares_one_draw_across_positions_and_channels():
    layer = StochasticDepth(0.5, seed=2)
    x = np.random.default_rng(0).uniform(0.5, 1.5, (64, 5, 3, 7)).astype("float32")
    y = to_numpy(layer(x, training=True))
    ratio = y / x
    per_sample = ratio.reshape(64, -1)
    np.testing.assert_allclose(per_sample, per_sample[:, :1].repeat(per_sample.shape[1], 1),
                               rtol=1e-6)
    assert set(np.round(per_sample[:, 0], 5)) == {0.0, 2.0}


def test_identity_at_inference_and_outside_training():
    x = np.random.default_rng(1).normal(size=(16, 4, 4, 3)).astype("float32")
    layer = StochasticDepth(0.7, seed=0)
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)
    np.testing.assert_array_equal(to_numpy(layer(x)), x)  # training=None means inference
    model = keras.Sequential([keras.Input((4, 4, 3)), layer])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    # A rate of 0 is the identity even in training.
    np.testing.assert_array_equal(to_numpy(StochasticDepth(0.0)(x, training=True)), x)


def test_a_seed_makes_the_drops_reproducible():
    a, b, c = StochasticDepth(0.5, seed=5), StochasticDepth(0.5, seed=5), StochasticDepth(
        0.5, seed=6
    )
    for _ in range(2):  # successive calls differ, but equally for equal seeds
        drops_a, _ = _drop_indicators(a, 256)
        drops_b, _ = _drop_indicators(b, 256)
        drops_c, _ = _drop_indicators(c, 256)
        np.testing.assert_array_equal(drops_a, drops_b)
        assert not np.array_equal(drops_a, drops_c)
    restored = check_config_round_trip(StochasticDepth(0.5, seed=5))
    assert restored.seed == 5


@pytest.mark.parametrize("seed", [None, 5])
def test_a_saved_and_reloaded_layer_continues_the_same_draws(seed, tmp_path):
    """The generator's state (seed and position) is saved, so a reloaded model drops the
    same samples as the model it was saved from, seeded or not."""
    inputs = keras.Input((3, 2))
    model = keras.Model(inputs, StochasticDepth(0.5, seed=seed, name="drop_path")(inputs))
    ones = np.ones((64, 3, 2), "float32")
    model(ones, training=True)  # the generator moves on
    model.save(tmp_path / "model.keras")
    model.save_weights(tmp_path / "model.weights.h5")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    inputs = keras.Input((3, 2))
    rebuilt = keras.Model(inputs, StochasticDepth(0.5, name="drop_path")(inputs))
    rebuilt.load_weights(tmp_path / "model.weights.h5")
    expected = to_numpy(model(ones, training=True))
    assert 0 < (expected == 0).all(axis=(1, 2)).sum() < 64
    np.testing.assert_array_equal(to_numpy(loaded(ones, training=True)), expected)
    np.testing.assert_array_equal(to_numpy(rebuilt(ones, training=True)), expected)
    # A layer with nothing to draw loads such a file too.
    inputs = keras.Input((3, 2))
    keras.Model(inputs, StochasticDepth(0.0, name="drop_path")(inputs)).load_weights(
        tmp_path / "model.weights.h5")


def test_mixed_precision_keeps_the_exact_scale():
    layer = StochasticDepth(0.75, seed=1, dtype="mixed_float16")
    y = layer(np.ones((64, 3), "float32"), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert set(np.unique(to_numpy(y).astype("float32"))) <= {0.0, 4.0}


def test_works_inside_a_traced_training_step_with_an_unknown_batch_size():
    # The second batch size makes Keras retrace with a `None` batch dimension.
    # (The XLA-compiled step is in the shared checks.)
    # The model is `w . drop_path(x)` with x = ones and a target of 0: a sample's output
    # is d * sum(w), d in {0, 1 / (1 - rate) = 2} its draw, so each SGD step scales sum(w)
    # by exactly 1 - 8 * lr * mean(d**2) over the batch. A twin layer with the same seed
    # replays the draws eagerly, on the batch sizes `fit` uses (7, 7, 7, then 3).
    rate, lr, batch_size, n = 0.5, 0.01, 7, 24
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
    model = keras.Model(inputs, dense(StochasticDepth(rate, seed=3)(inputs)))
    model.compile(keras.optimizers.SGD(lr), "mse", jit_compile=False)
    model.fit(np.ones((n, 4), "float32"), np.zeros((n, 1), "float32"), batch_size=batch_size,
              epochs=1, verbose=0)

    twin = StochasticDepth(rate, seed=3)
    total, identity = 4.0, 4.0
    for size in (7, 7, 7, 3):
        _, y = _drop_indicators(twin, size, shape=(4,))
        assert set(np.unique(y)) <= {0.0, 2.0}
        total *= 1.0 - 8.0 * lr * np.mean(y[:, 0] ** 2)
        identity *= 1.0 - 8.0 * lr  # what a layer left as the identity would give
    # The four weights stay equal, and their sum is the one the replayed draws give.
    np.testing.assert_allclose(to_numpy(dense.kernel)[:, 0], np.full(4, total / 4), rtol=1e-5)
    # The drops mattered: the layer was not the identity in the traced step.
    assert abs(total - identity) > 1e-3, (total, identity)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 1.0}, "`rate` must be a number in [0.0, 1.0); got 1.0"),
        ({"rate": -0.1}, "`rate` must be a number in [0.0, 1.0); got -0.1"),
        ({"rate": "0.5"}, "`rate` must be a number in [0.0, 1.0); got '0.5'"),
        ({"rate": 0.1, "seed": -1}, "`seed` must be an integer >= 0; got -1"),
        ({"rate": 0.1, "seed": 1.5}, "`seed` must be an integer >= 0; got 1.5"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        StochasticDepth(**kwargs)
    assert message in str(error.value)
    assert "StochasticDepth" in str(error.value)


def test_an_input_without_a_batch_axis_raises_at_build():
    with pytest.raises(ValueError, match=r"rank >= 1.*got shape \(\)"):
        StochasticDepth(0.2).build(())
