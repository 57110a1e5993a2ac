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
5. under `mixed_float16`, the output has the expected dtype and is finite;
6. a `jit_compile=True` training step runs and changes the weights it should.

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
    """get_config -> JSON -> from_config gives the same config; so does keras.saving."""
    config = layer.get_config()
    restored = layer.__class__.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    again = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert type(again) is type(layer)
    assert again.get_config() == config
    return restored


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
    """With dtype="mixed_float16" the output dtype is `output_dtype` and finite."""
    layer = make_layer(dtype="mixed_float16")
    y = layer(x, training=False)
    assert keras.backend.standardize_dtype(y.dtype) == output_dtype, (y.dtype, output_dtype)
    assert np.all(np.isfinite(to_numpy(y).astype("float32")))
    for weight in layer.trainable_weights:
        assert keras.backend.standardize_dtype(weight.dtype) == "float32", weight.path


def check_jit_train_step(make_layer: Callable[[], Any], x, *, jit_compile=None):
    """One compiled training step of a small model holding the layer: finite loss, and
    the layer's trainable weights change."""
    if jit_compile is None:
        # XLA on TensorFlow and JAX; torch's compiler is checked separately (issue 8).
        jit_compile = keras.backend.backend() != "torch"
    layer = make_layer()
    inputs = keras.Input(shape=tuple(x.shape[1:]), dtype=str(x.dtype))
    features = layer(inputs)
    features = keras.layers.Flatten()(keras.ops.cast(features, "float32"))
    outputs = keras.layers.Dense(1)(features)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=jit_compile)
    before = [to_numpy(w).copy() for w in layer.trainable_weights]
    y = np.ones((x.shape[0], 1), "float32")
    history = model.fit(x, y, batch_size=x.shape[0], epochs=1, verbose=0)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), loss
    after = [to_numpy(w) for w in layer.trainable_weights]
    if before:
        assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True)), (
            "no trainable weight of the layer changed in a training step"
        )


def run_layer_checks(
    cls,
    init_kwargs: dict,
    input_shape,
    tmp_path,
    *,
    expected_output_shape=None,
    training_differs: bool = False,
    input_dtype="float32",
    input_range=(0.0, 1.0),
    mixed_output_dtype="float16",
    check_saving_=True,
    check_mixed=True,
    check_jit=True,
    seed=0,
):
    """All the shared checks for one configuration of one layer class."""
    x = random_inputs(input_shape, seed=seed, dtype=input_dtype, low=input_range[0],
                      high=input_range[1])

    def make(**extra):
        return cls(**{**init_kwargs, **extra})

    layer = make()
    check_output_shape(layer, x, expected_output_shape)
    check_config_round_trip(layer)
    check_training_behaviour(layer, x, training_differs=training_differs)
    if check_saving_:
        check_saving(make, x, tmp_path)
    if check_mixed:
        check_mixed_precision(make, x, output_dtype=mixed_output_dtype)
    if check_jit:
        check_jit_train_step(make, x)
    return layer
