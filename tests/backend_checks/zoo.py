"""Every keras_blocks model family on one backend: one training step, `.keras` round trip
(safe_mode=True), mixed_float16 (its feature pyramid, saved and loaded too).

`tests/test_zoo.py` runs `check_family` in-process on the home backend and starts this
module once per other backend:

    KERAS_BACKEND=jax python -m tests.backend_checks.zoo --out RESULTS.json

Like `run_backend.py`, it never stops at the first failure: every family is tried and
recorded (status, error, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Small inputs: 32 pixels is the smallest size every family accepts.
INPUT_SHAPE = (32, 32, 3)


def families() -> list[str]:
    """The families stacked from keras_blocks blocks: `kb_*`, and SqueezeNet."""
    from keras_blocks import list_models

    return [name for name in list_models() if name.startswith("kb_") or name == "squeezenet"]


def check_family(name: str, workdir: str) -> dict:
    """Trains one step, saves and reloads (safe_mode=True), then runs under mixed_float16.

    Raises AssertionError (or whatever failed) with the reason; returns what it measured.
    """
    import keras
    import numpy as np

    from keras_blocks import create_model

    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, *INPUT_SHAPE)).astype("float32")
    y = np.array([0, 1, 0, 1])
    base = create_model(name, input_shape=INPUT_SHAPE)
    inputs = keras.Input(INPUT_SHAPE)
    features = keras.layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(features))
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [np.array(w) for w in model.trainable_weights]
    loss = float(np.asarray(model.train_on_batch(x, y)))
    after = [np.array(w) for w in model.trainable_weights]
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert np.isfinite(loss), f"{name}: loss {loss}"
    # Every kernel gets a gradient (biases next to norms and moving statistics aside).
    kernels = [i for i, w in enumerate(model.trainable_weights) if len(w.shape) == 4]
    unchanged = [model.trainable_weights[i].path for i in kernels
                 if np.array_equal(before[i], after[i])]
    assert not unchanged, f"{name}: kernels unchanged by a training step: {unchanged[:5]}"

    path = os.path.join(workdir, f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    # Batch statistics (training=True): with one step's moving statistics, an untrained
    # deep network's inference outputs overflow (ResNet50 reaches ~1e3 before the step).
    expected = keras.ops.convert_to_numpy(model(x, training=True))
    actual = keras.ops.convert_to_numpy(loaded(x, training=True))
    assert np.isfinite(expected).all(), f"{name}: non-finite outputs"
    difference = float(np.abs(actual - expected).max())
    assert difference <= 1e-4 * max(1.0, float(np.abs(expected).max())), (
        f"{name}: the reloaded model predicts differently ({difference})"
    )

    keras.config.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(7)
        mixed = create_model(name, input_shape=INPUT_SHAPE, features=True)
        # The pyramid (dict outputs) saves and loads too, keeping its policy. Saved before
        # the first call, so stochastic depth (saved with its generator's state) draws
        # the same in both.
        pyramid_path = os.path.join(workdir, f"{name}_features.keras")
        mixed.save(pyramid_path)
        outputs = mixed(x, training=True)
        dtypes = sorted({keras.backend.standardize_dtype(v.dtype) for v in outputs.values()})
        finite = all(bool(np.isfinite(keras.ops.convert_to_numpy(v).astype("float32")).all())
                     for v in outputs.values())
        reloaded = keras.saving.load_model(pyramid_path, safe_mode=True)
        again = reloaded(x, training=True)
        assert sorted(again) == sorted(outputs), f"{name}: pyramid keys {sorted(again)}"
        for key, value in outputs.items():
            expected_level = keras.ops.convert_to_numpy(value).astype("float32")
            level = keras.ops.convert_to_numpy(again[key]).astype("float32")
            scale = max(1.0, float(np.abs(expected_level).max()))
            assert np.abs(level - expected_level).max() <= 1e-3 * scale, (
                f"{name}: the reloaded pyramid's {key} differs")
    finally:
        keras.config.set_dtype_policy("float32")
    assert dtypes == ["float16"], f"{name}: mixed_float16 features are {dtypes}"
    assert finite, f"{name}: non-finite features under mixed_float16"
    return {"loss": loss, "changed_weights": changed, "reload_difference": difference}


def run(names, workdir) -> dict:
    import keras

    results = {}
    for name in names:
        start = time.perf_counter()
        try:
            results[name] = {"status": "pass", **check_family(name, workdir)}
        except Exception as error:  # recorded; the test reports it
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            results[name] = {"status": "fail", "error": text[-3000:]}
        finally:
            keras.config.set_dtype_policy("float32")
            keras.backend.clear_session()
        results[name]["seconds"] = round(time.perf_counter() - start, 2)
        print(f"[{keras.backend.backend()}] {name}: {results[name]['status']} "
              f"({results[name]['seconds']} s)", flush=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to write the JSON results")
    parser.add_argument("--families", default=None, help="comma-separated (default: all)")
    args = parser.parse_args(argv)
    import keras

    names = args.families.split(",") if args.families else families()
    with tempfile.TemporaryDirectory() as workdir:
        results = {"backend": keras.backend.backend(), "families": run(names, workdir)}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
