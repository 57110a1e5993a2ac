"""The shared checks every public keras_blocks layer goes through.

One helper keeps fifty layers honest: a layer's own test file picks configurations (often
drawn by hypothesis) and calls `run_layer_checks`, which asserts

1. the output shape equals `compute_output_shape` (symbolic and eager);
2. the config survives a JSON round trip and `keras.saving` (de)serialization;
3. a `.keras` file saved from a model holding the layer loads back with
   `safe_mode=True` and predicts the same;
4. training vs. inference behaviour (dropout, batch norm, stochastic depth,
   augmentation): outputs differ in training when they should, and inference is
   deterministic;
5. under `mixed_float16` and `mixed_bfloat16`, the output has the expected dtype and is
   finite, and the weights stay float32;
6. the layer has the expected numbers of trainable and non-trainable weights and of
   seed generators (given per layer by its test);
7. no two weights of the same shape start equal (unless they are constant by design,
   such as zero biases or unit scales): sublayers sharing one initializer object start
   identical, a bug no other check sees;
8. a (`jit_compile=True` on TensorFlow and JAX) training step changes every trainable
   weight and no non-trainable one but batch-norm statistics; the same layer frozen
   (`trainable=False` before it is built) changes nothing, batch-norm statistics
   included (inference mode);
9. `from_config(get_config())` gives a layer with an equal config (idempotent).

Everything here uses NumPy and `keras.ops`, so the checks run on every Keras backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np


def random_inputs(shape, *, seed=0, dtype="float32", low=0.0, high=1.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=shape)
    if np.dtype(dtype).kind in "ui":
        x = np.round(x)
    return x.astype(dtype)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def check_output_shape(layer, x, expected_output_shape=None):
    """Eager output shape == compute_output_shape == symbolic output shape."""
    y = layer(x)
    actual = tuple(y.shape)
    computed = tuple(layer.compute_output_shape(tuple(x.shape)))
    assert actual == computed, f"call gave {actual}, compute_output_shape gave {computed}"
    symbolic = layer(keras.KerasTensor((None, *x.shape[1:]), dtype=str(x.dtype)))
    assert tuple(symbolic.shape[1:]) == actual[1:], (symbolic.shape, actual)
    if expected_output_shape is not None:
        assert actual == tuple(expected_output_shape), (actual, expected_output_shape)
    return y


def check_config_round_trip(layer):
    """get_config -> (JSON) -> from_config gives the same config; so does keras.saving."""
    config = layer.get_config()
    again = layer.__class__.from_config(config)
    assert again.get_config() == config, "from_config(get_config()) changed the config"
    restored = layer.__class__.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    assert restored.__class__.from_config(restored.get_config()).get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    again = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert type(again) is type(layer)
    assert again.get_config() == config
    return restored


def seed_generator_count(layer) -> int:
    """Seed generators of the layer and its sublayers (each holds one state variable)."""
    states = {id(v) for v in layer.variables if v.path.endswith("seed_generator_state")}
    return len(states)


def check_weight_counts(layer, trainable: int, non_trainable: int, seed_generators: int):
    """The built layer has exactly these numbers of weights and seed generators."""
    found = (len(layer.trainable_weights), len(layer.non_trainable_weights),
             seed_generator_count(layer))
    paths = [w.path for w in layer.weights]
    assert found == (trainable, non_trainable, seed_generators), (
        f"{type(layer).__name__}: expected {trainable} trainable, {non_trainable} "
        f"non-trainable weights and {seed_generators} seed generators; found {found[0]}, "
        f"{found[1]} and {found[2]} ({paths})"
    )


def check_independent_initial_weights(layer):
    """No two weights of the same shape start with equal values.

    Weights that are constant by design (zero biases, unit scales, batch-norm statistics,
    a layer-scale constant) are left out: only weights with at least two distinct values
    are compared.
    """
    values = [(w.path, to_numpy(w)) for w in layer.weights]
    varied = [(path, v) for path, v in values if v.size > 1 and np.unique(v).size > 1]
    for i, (path_a, a) in enumerate(varied):
        for path_b, b in varied[i + 1:]:
            if a.shape == b.shape:
                assert not np.array_equal(a, b), (
                    f"{type(layer).__name__}: weights {path_a} and {path_b} start equal "
                    "(do the sublayers share one initializer object?)"
                )
    return len(varied)


def _wrap(layer, input_shape, dtype="float32"):
    inputs = keras.Input(shape=tuple(input_shape[1:]), batch_size=None, dtype=dtype)
    return keras.Model(inputs, layer(inputs))


def check_saving(make_layer: Callable[[], Any], x, tmp_path, *, atol=1e-6):
    """A model holding the layer saves to .keras and loads (safe_mode) with equal outputs."""
    model = _wrap(make_layer(), x.shape, dtype=str(x.dtype))
    expected = to_numpy(model(x, training=False))
    path = os.path.join(str(tmp_path), "layer_check.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    actual = to_numpy(loaded(x, training=False))
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=1e-5)
    return loaded


def check_training_behaviour(layer, x, *, training_differs: bool, atol=1e-6):
    """Inference is deterministic; training output differs from it iff it should."""
    inference_a = to_numpy(layer(x, training=False))
    inference_b = to_numpy(layer(x, training=False))
    np.testing.assert_allclose(inference_a, inference_b, atol=atol)
    training = to_numpy(layer(x, training=True))
    differs = training.shape != inference_a.shape or not np.allclose(
        training, inference_a, atol=1e-5
    )
    assert differs == training_differs, (
        f"training output {'differs from' if differs else 'equals'} inference output; "
        f"expected {'a difference' if training_differs else 'equality'}"
    )


def check_mixed_precision(make_layer: Callable[..., Any], x, *, output_dtype="float16"):
    """Under both mixed policies the output dtype is the compute dtype (or `output_dtype`
    when that is "float32", for layers that return float32), finite, and the weights stay
    float32."""
    for policy, compute in (("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")):
        layer = make_layer(dtype=policy)
        y = layer(x, training=False)
        expected = compute if output_dtype in ("float16", "bfloat16") else output_dtype
        assert keras.backend.standardize_dtype(y.dtype) == expected, (policy, y.dtype, expected)
        assert np.all(np.isfinite(to_numpy(keras.ops.cast(y, "float32")))), policy
        for weight in layer.weights:
            assert keras.backend.standardize_dtype(weight.dtype) == "float32", (
                policy, weight.path, weight.dtype)


_BATCH_NORM_STATISTICS = ("moving_mean", "moving_variance")
_TRAIN_BATCH = 16  # enough samples that dropout or stochastic depth never drops them all


def _train_once(layer, x, jit_compile):
    inputs = keras.Input(shape=tuple(x.shape[1:]), dtype=str(x.dtype))
    features = layer(inputs)
    features = keras.layers.Flatten()(keras.ops.cast(features, "float32"))
    outputs = keras.layers.Dense(1)(features)
    model = keras.Model(inputs, outputs)
    # Adam moves every weight with a non-zero gradient by about the learning rate, so a
    # weight whose gradient is small (a layer scale of 1e-6) still visibly changes.
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=jit_compile)
    before = {w.path: to_numpy(w).copy() for w in layer.weights}
    repeats = -(-_TRAIN_BATCH // x.shape[0])
    batch = np.concatenate([x] * repeats)[:max(_TRAIN_BATCH, x.shape[0])]
    target = np.ones((batch.shape[0], 1), "float32")
    history = model.fit(batch, target, batch_size=batch.shape[0], epochs=1, verbose=0)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), loss
    after = {w.path: to_numpy(w) for w in layer.weights}
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    return changed


def check_train_step(make_layer: Callable[..., Any], x, *, jit_compile=None, may_stay=()):
    """A training step changes every trainable weight of the layer and no non-trainable
    one except batch-norm statistics; the layer frozen before it is built changes nothing.

    `may_stay` lists substrings of weight paths whose gradient is zero in the first step
    by design (a branch behind a zero-initialized scale, for example).
    """
    if jit_compile is None:
        # XLA on TensorFlow and JAX; torch's compiler is checked separately (issue 8).
        jit_compile = keras.backend.backend() != "torch"
    layer = make_layer()
    changed = _train_once(layer, x, jit_compile)
    for weight in layer.trainable_weights:
        if any(part in weight.path for part in may_stay):
            continue
        assert weight.path in changed, f"trainable weight {weight.path} did not change"
    for weight in layer.non_trainable_weights:
        if weight.path.rsplit("/", 1)[-1] in _BATCH_NORM_STATISTICS:
            continue
        assert weight.path not in changed, f"non-trainable weight {weight.path} changed"

    frozen = make_layer(trainable=False)
    changed = _train_once(frozen, x, jit_compile)
    assert not changed, f"weights of a frozen layer changed in training: {sorted(changed)}"
    assert not frozen.trainable_weights, [w.path for w in frozen.trainable_weights]


def run_layer_checks(
    cls,
    init_kwargs: dict,
    input_shape,
    tmp_path,
    *,
    expected_weights: tuple[int, int],
    expected_seed_generators: int,
    expected_output_shape=None,
    training_differs: bool = False,
    input_dtype="float32",
    input_range=(0.0, 1.0),
    mixed_output_dtype="float16",
    check_saving_=True,
    check_mixed=True,
    check_jit=True,
    may_stay=(),
    seed=0,
):
    """All the shared checks for one configuration of one layer class.

    `expected_weights` is `(trainable, non_trainable)`: the numbers of weight variables
    of the built layer, counted from its configuration by the caller (as Keras' own layer
    tests do), and `expected_seed_generators` the number of seed generators.
    """
    x = random_inputs(input_shape, seed=seed, dtype=input_dtype, low=input_range[0],
                      high=input_range[1])

    def make(**extra):
        return cls(**{**init_kwargs, **extra})

    layer = make()
    check_output_shape(layer, x, expected_output_shape)
    check_weight_counts(layer, *expected_weights, expected_seed_generators)
    check_independent_initial_weights(layer)
    check_config_round_trip(layer)
    check_training_behaviour(layer, x, training_differs=training_differs)
    if check_saving_:
        check_saving(make, x, tmp_path)
    if check_mixed:
        check_mixed_precision(make, x, output_dtype=mixed_output_dtype)
    if check_jit:
        check_train_step(make, x, may_stay=may_stay)
    return layer
