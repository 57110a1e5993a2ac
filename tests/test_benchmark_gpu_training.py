"""benchmarks/gpu_training.py: runs on a CPU with small settings, flags are validated.

The figures themselves are measurements for a GPU machine (never asserted here); this
checks that the script runs end to end, prints a row per model and setting, and that
`jit_compile=True` really compiles when the augmentation runs in the pipeline.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "benchmarks.gpu_training"]  # run with cwd=REPO


def _module():
    from benchmarks import gpu_training

    return gpu_training


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--settings", "float32,fp8"], "unknown ['fp8']"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--warmup", "0"], "--warmup must be >= 1"),
        (["--data", "/nonexistent/folder"], "has no train/ folder"),
        (["--model", "vgg"], "invalid choice: 'vgg'"),
        (["--widths", "32,x"], "--widths: '32,x' is not a comma-separated list"),
        (["--widths", "0,8"], "--widths: '0,8' is not a comma-separated list"),
    ],
)
def test_bad_flags_exit_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _module().parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_runs_on_cpu_with_small_settings():
    command = [*COMMAND, "--image-size", "32", "--batch-size", "4",
               "--steps", "1", "--repeats", "1", "--warmup", "1", "--model", "both",
               "--settings", "float32,mixed+xla", "--augmentation", "pipeline",
               "--widths", "8,16,16"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.startswith("device: ")
    rows = re.findall(r"^(custom|transfer)\s+(float32|mixed\+xla)\s+([\d.]+)\s+\S+\s+"
                      r"([\d.]+)x\s+(\d+)\s+(on|off)$", out, flags=re.MULTILINE)
    assert {(r[0], r[1]) for r in rows} == {
        (m, s) for m in ("custom", "transfer") for s in ("float32", "mixed+xla")
    }, out
    for model, setting, rate, ratio, _, xla in rows:
        assert float(rate) > 0 and float(ratio) > 0
        # With the augmentation in tf.data, nothing in the models stops XLA.
        assert xla == ("on" if setting == "mixed+xla" else "off"), (model, setting, out)
    if "no GPU visible" in out:
        assert "no GPU here" in out
