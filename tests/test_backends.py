"""Every public layer, and a whole classifier, on the TensorFlow, JAX and PyTorch backends.

The suite itself runs under one backend (TensorFlow unless `KERAS_BACKEND` says
otherwise). For each other backend this module starts ONE subprocess,
`python -m tests.backend_checks.run_backend`, which

- runs `tests.layer_checks.run_layer_checks` on every public layer of
  `keras_blocks.__all__` with its representative configuration from
  `tests/backend_checks/layer_table.py`, recording each outcome;
- trains a `build_classifier` model for one epoch from a `make_pipeline` dataset,
  saves it to `.keras`, and loads the file this process saved on its own backend.

This process then loads the other backends' `.keras` files and compares predictions, so
files cross between every backend and the home backend in both directions.

JAX and PyTorch are optional for users (`pip install jax torch`); where they are not
installed these tests skip, except in CI (`CI` set), where they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time
import traceback

import keras
import numpy as np
import pytest

import keras_blocks
from tests.backend_checks import layer_table
from tests.backend_checks.run_backend import public_layers

REPO = pathlib.Path(__file__).resolve().parents[1]
HOME = keras.backend.backend()
OTHERS = tuple(b for b in layer_table.BACKENDS if b != HOME)
MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
SUBPROCESS_TIMEOUT_S = 1500
LAYERS = public_layers(keras_blocks)
LABELS = list(layer_table.cases_for(LAYERS))


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(MODULES[backend]) is not None


def _require(backend: str) -> None:
    if not _installed(backend):
        message = f"the {backend} backend is not installed (pip install {MODULES[backend]})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must install it")
        pytest.skip(message)


def _subprocess_env(backend: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    # Two backends run side by side on CI's two cores: one thread each is faster than
    # two fighting over both.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture(scope="module")
def backend_runs(tmp_path_factory):
    """Starts one subprocess per installed non-home backend, side by side; waits for all.

    Returns {backend: results dict} (see run_backend.py), plus the shared folder.
    """
    from tests.backend_checks import classifier

    workdir = tmp_path_factory.mktemp("backends")
    classifier_dir = workdir / "classifier"
    try:
        classifier.prepare(classifier_dir)
        home_result = classifier.run_on_backend(classifier_dir)
    except Exception:  # reported by the classifier tests; the layer runs go on
        home_result = {"error": traceback.format_exc()}
    processes = {}
    for backend in OTHERS:
        if not _installed(backend):
            continue
        out = workdir / f"{backend}.json"
        log = open(workdir / f"{backend}.log", "w")  # noqa: SIM115 (closed below)
        command = [sys.executable, "-m", "tests.backend_checks.run_backend", "--out", str(out)]
        if "error" not in home_result:
            command += ["--classifier-dir", str(classifier_dir)]
        processes[backend] = (
            subprocess.Popen(command, cwd=REPO, env=_subprocess_env(backend), stdout=log,
                             stderr=subprocess.STDOUT),
            out, log,
        )
    results = {}
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT_S
    for backend, (process, out, log) in processes.items():
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        text = (workdir / f"{backend}.log").read_text(errors="replace")
        if process.returncode != 0 or not out.exists():
            results[backend] = {"crashed": f"exit code {process.returncode}\n{text[-6000:]}"}
        else:
            results[backend] = json.loads(out.read_text())
            results[backend]["log"] = text
    return {"results": results, "classifier_dir": classifier_dir, "home": home_result}


def _results_for(backend_runs, backend):
    _require(backend)
    results = backend_runs["results"][backend]
    assert "crashed" not in results, f"the {backend} subprocess crashed:\n{results['crashed']}"
    return results


def test_every_public_layer_has_a_backend_case():
    """A new layer without an entry in LAYER_CASES fails here, and so does a stale entry."""
    missing = sorted(set(LAYERS) - set(layer_table.LAYER_CASES) - set(layer_table.BASE_CLASSES)
                     - set(layer_table.MODELS))
    stale = sorted(set(layer_table.LAYER_CASES) - set(LAYERS))
    stale += sorted(label for label, (name, _) in layer_table.EXTRA_CASES.items()
                    if name not in LAYERS)
    assert not missing, f"add a representative configuration to LAYER_CASES for {missing}"
    assert not stale, f"LAYER_CASES names layers that are not public: {stale}"
    assert "ConvBlock" in LAYERS
    for name, reason in layer_table.BASE_CLASSES.items():
        # A base class is excused only while a checked public layer derives from it.
        base = getattr(keras_blocks, name)
        assert name not in layer_table.LAYER_CASES, name
        assert any(issubclass(getattr(keras_blocks, other), base)
                   for other in layer_table.LAYER_CASES if other in LAYERS), (name, reason)


def test_expected_failures_are_documented():
    """Each expected failure names a known backend and layer, and the layer's docstring
    names the backend (so users read why before they hit it)."""
    words = {"tensorflow": ("tensorflow",), "jax": ("jax",), "torch": ("torch", "pytorch")}
    for (backend, label), reason in layer_table.EXPECTED_FAILURES.items():
        assert backend in layer_table.BACKENDS, backend
        assert label in LABELS, label
        name = layer_table.cases_for(LAYERS)[label][0]
        assert reason.strip(), (backend, name)
        doc = (getattr(keras_blocks, name).__doc__ or "").lower()
        assert any(word in doc for word in words[backend]), (
            f"{name} cannot run on {backend} ({reason}); its docstring must say so"
        )


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("name", LABELS)
def test_layer_checks_on_backend(backend_runs, backend, name):
    results = _results_for(backend_runs, backend)
    result = results["layers"].get(name)
    assert result is not None, f"{name} was not run on {backend}"
    expected = layer_table.EXPECTED_FAILURES.get((backend, name))
    if expected is None:
        assert result["status"] == "pass", (
            f"{name} failed the shared layer checks on {backend}:\n{result.get('error')}"
        )
    else:
        assert result["status"] == "fail", (
            f"{name} passes on {backend} now: remove its EXPECTED_FAILURES entry ({expected})"
            " and the note in its docstring"
        )


@pytest.mark.slow
def test_classifier_trains_on_home_backend(backend_runs):
    home = backend_runs["home"]
    assert "error" not in home, f"the classifier failed on {HOME}:\n{home['error']}"
    assert np.isfinite(home["loss"]) and home["changed_weights"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHERS)
def test_classifier_trains_and_its_file_crosses_backends(backend_runs, backend):
    """Trains one epoch on `backend`; `backend` loads the home backend's .keras file with
    equal predictions (checked in the subprocess); the home backend loads `backend`'s."""
    from tests.backend_checks import classifier

    home = backend_runs["home"]
    assert "error" not in home, f"the classifier failed on {HOME}:\n{home['error']}"
    results = _results_for(backend_runs, backend)
    run = results.get("classifier", {})
    assert run.get("status") == "pass", f"classifier on {backend}:\n{run.get('error')}"
    assert np.isfinite(run["loss"]) and run["changed_weights"] > 0
    # The home file was there when the subprocess started: it must have been loaded.
    assert HOME in run["loaded_from"], run
    differences = classifier.check_saved_by_others(backend_runs["classifier_dir"], [backend])
    assert differences[backend] <= classifier.ATOL, (
        f"the model saved on {backend} predicts differently on {HOME}: {differences}"
    )
