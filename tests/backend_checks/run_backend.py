"""Runs the shared layer checks (and the classifier round trip) under one Keras backend.

`tests/test_backends.py` starts this once per non-default backend, so each backend
pays its import cost once:

    KERAS_BACKEND=jax python -m tests.backend_checks.run_backend --out RESULTS.json \
        [--layers ConvBlock,DenseHead] [--classifier-dir DIR]

It never stops at the first failure: every layer is tried and recorded (status, error,
seconds) in RESULTS.json, which the test compares with `EXPECTED_FAILURES`.
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


def public_layers(module=None) -> list[str]:
    """Names in `keras_blocks.__all__` that are `keras.layers.Layer` subclasses."""
    import keras

    if module is None:
        import keras_blocks as module
    names = []
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, type) and issubclass(obj, keras.layers.Layer):
            names.append(name)
    return sorted(names)


def _error_summary(error: BaseException) -> str:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    text = "".join(lines)
    # The end of the traceback says where; the message says what. Keep both, bounded.
    return text[-3000:]


def check_layer(label: str, workdir: str) -> dict:
    import keras

    import keras_blocks
    from tests.backend_checks import layer_table
    from tests.layer_checks import run_layer_checks

    name, case = layer_table.cases_for(public_layers())[label]
    if case is None:
        return {"status": "no-entry", "error": f"{name} has no entry in LAYER_CASES"}
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    start = time.perf_counter()
    try:
        cls = getattr(keras_blocks, name)
        layer_dir = os.path.join(workdir, f"case{len(os.listdir(workdir))}")
        os.makedirs(layer_dir, exist_ok=True)
        if case.runner:
            from tests.backend_checks import special_cases

            getattr(special_cases, case.runner)(cls, case, layer_dir)
        else:
            kwargs = case.kwargs() if callable(case.kwargs) else dict(case.kwargs)
            run_layer_checks(cls, kwargs, case.input_shape, layer_dir, **case.checks)
        result = {"status": "pass"}
    except Exception as error:  # recorded, compared with EXPECTED_FAILURES by the test
        result = {"status": "fail", "error": _error_summary(error)}
    finally:
        keras.config.set_dtype_policy("float32")
        keras.backend.clear_session()
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to write the JSON results")
    parser.add_argument("--layers", default=None,
                        help="comma-separated layer names (default: every public layer)")
    parser.add_argument("--classifier-dir", default=None,
                        help="run the classifier round trip in this folder (see classifier.py)")
    args = parser.parse_args(argv)

    import keras

    backend = keras.backend.backend()
    results: dict = {"backend": backend, "keras": keras.__version__, "layers": {}}
    from tests.backend_checks import layer_table

    labels = list(layer_table.cases_for(public_layers()))
    if args.layers:
        labels = [label for label in labels if label.split("[")[0] in args.layers.split(",")]
    with tempfile.TemporaryDirectory() as workdir:
        for label in labels:
            result = check_layer(label, workdir)
            results["layers"][label] = result
            print(f"[{backend}] {label}: {result['status']} ({result.get('seconds', 0)} s)",
                  flush=True)
            if result["status"] == "fail":
                print(result["error"], flush=True)
    if args.classifier_dir:
        from tests.backend_checks import classifier

        start = time.perf_counter()
        try:
            results["classifier"] = classifier.run_on_backend(args.classifier_dir)
            results["classifier"]["status"] = "pass"
        except Exception as error:
            results["classifier"] = {"status": "fail", "error": _error_summary(error)}
            print(results["classifier"]["error"], flush=True)
        results["classifier"]["seconds"] = round(time.perf_counter() - start, 2)
        print(f"[{backend}] classifier: {results['classifier']['status']}", flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
