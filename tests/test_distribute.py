"""Scale-out: tf.distribute (one machine, several workers) and JAX DataParallel.

Every scenario runs in fresh subprocesses (tests/_workers/): logical devices, TF_CONFIG
and XLA_FLAGS only take effect before TensorFlow or JAX initialize. Each run is bounded
in time and killed on failure; the workers write JSON that the tests here check.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests._workers import common

REPO = pathlib.Path(__file__).resolve().parents[1]
PER_CLASS = 13  # 26 images: with a global batch of 8 the last batch holds 2
TIMEOUT_S = 600


def _env(**extra) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _run(module, args, env, log_path, timeout=TIMEOUT_S):
    """Runs one worker to completion (killed after `timeout`); fails with its log."""
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=REPO,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = "timeout"
    if code != 0:
        pytest.fail(f"{module} ended with {code}:\n{pathlib.Path(log_path).read_text()[-6000:]}")


@pytest.fixture(scope="module")
def id_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distribute") / "images"
    ids = common.write_id_images(folder, PER_CLASS)
    return folder, ids


def _labels_of(ids):
    return [int(i >= PER_CLASS) for i in ids]


@pytest.mark.slow
def test_mirrored_strategy_matches_one_device(id_folder, tmp_path):
    folder, ids = id_folder
    out = tmp_path / "mirrored.json"
    _run("tests._workers.mirrored", [folder, out], _env(), tmp_path / "mirrored.log")
    report = json.loads(out.read_text())
    assert report["replicas"] == 2
    # The pipeline's batch is the GLOBAL batch: each replica gets half of it, the partial
    # last batch (26 = 3 * 8 + 2) included, and every image arrives exactly once.
    assert report["per_replica_batches"] == [[4, 4]] * 3 + [[1, 1]]
    assert sorted(report["ids"]) == sorted(ids)
    assert report["variables_mirrored"]
    assert report["weights_changed"] > 1e-3
    # Same start, same data, synchronized batch norm: two replicas train like one device.
    assert report["max_weight_difference"] < 1e-4, report
    np.testing.assert_allclose(report["mirrored_loss"], report["single_loss"], rtol=1e-4)


def _free_ports(count):
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _run_cluster(folder, tmp_path, workers=2):
    """Starts the workers side by side; returns their reports (kills all on any failure)."""
    ports = _free_ports(workers)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes, outs, logs = [], [], []
    try:
        for index in range(workers):
            config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            out, log_path = tmp_path / f"worker{index}.json", tmp_path / f"worker{index}.log"
            logs.append(open(log_path, "w"))  # noqa: SIM115 (closed in finally)
            outs.append(out)
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "tests._workers.multi_worker", str(folder), str(out)],
                cwd=REPO, env=_env(TF_CONFIG=json.dumps(config)), stdout=logs[-1],
                stderr=subprocess.STDOUT,
            ))
        deadline = time.monotonic() + TIMEOUT_S
        while any(p.poll() is None for p in processes):
            # One worker failing leaves the other waiting on collectives forever.
            if any(p.poll() not in (None, 0) for p in processes) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.wait()
        for log in logs:
            log.close()
    codes = [p.returncode for p in processes]
    if codes != [0] * workers:
        text = "\n".join(
            f"--- worker {i} (exit {code}):\n{(tmp_path / f'worker{i}.log').read_text()[-4000:]}"
            for i, code in enumerate(codes)
        )
        return None, text
    return [json.loads(out.read_text()) for out in outs], ""


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_two_processes(id_folder, tmp_path):
    folder, ids = id_folder
    reports, failure = _run_cluster(folder, tmp_path)
    if reports is None and "ddress already in use" in failure:
        reports, failure = _run_cluster(folder, tmp_path)  # a port was taken meanwhile
    assert reports is not None, f"the cluster failed:\n{failure}"
    assert [r["replicas"] for r in reports] == [2, 2]
    # (1) make_pipeline's DATA auto-sharding with a shared seed, and (2) one pipeline per
    # worker from its input context: either way the workers' shares are disjoint and
    # together hold every image once, with its own label, in every pass.
    for kind in ("passes", "function_passes"):
        for p in range(len(reports[0][kind])):
            shares = [r[kind][p] for r in reports]
            seen = [i for share in shares for i in share["ids"]]
            assert sorted(seen) == sorted(ids), f"{kind}[{p}]: {[s['ids'] for s in shares]}"
            for share in shares:
                assert share["ids"], f"{kind}[{p}]: a worker got no data"
                assert share["labels"] == _labels_of(share["ids"])
                # The global batch of 8 is 4 per replica (1 replica per worker here).
                assert share["batches"] == [4, 4, 4, 1], share["batches"]
    for r in reports:
        assert np.isfinite(r["loss"][0]) and r["weights_changed"] > 1e-3
    # All-reduced gradients and synchronized batch norm: the same weights everywhere,
    # moving statistics included.
    weights = [np.load(tmp_path / f"worker{i}.json.weights.npz") for i in range(2)]
    assert len(weights[0].files) == len(weights[1].files)
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)


@pytest.mark.slow
def test_jax_data_parallel_over_two_host_devices(id_folder, tmp_path):
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("CI"):
            pytest.fail("jax is not installed: CI must install it")
        pytest.skip("jax is not installed (pip install jax)")
    folder, _ = id_folder
    out = tmp_path / "jax.json"
    env = _env(KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    _run("tests._workers.jax_data_parallel", [folder, out], env, tmp_path / "jax.log")
    report = json.loads(out.read_text())
    assert len(report["devices"]) == 2, report["devices"]
    assert report["variable_devices"] == [2] and report["variables_replicated"]
    assert report["batch_shards"] == [4, 4]
    assert report["weights_changed"] > 1e-3
    # Data parallelism in JAX is one program over the global batch (batch norm included),
    # so it trains like one device.
    assert report["max_weight_difference"] < 1e-4, report
    np.testing.assert_allclose(report["parallel_loss"], report["single_loss"], rtol=1e-4)
