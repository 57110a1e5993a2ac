"""keras_blocks.fast_precision: the policy follows the hardware it is shown."""

import pytest

from keras_blocks import fast_precision
from keras_blocks.training import precision

INTEL = ("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f {extra}\n\n"
         "processor\t: 1\nflags\t\t: fpu\n")
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16 {extra}\n"


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(precision, "_visible_gpus", lambda: [])


@pytest.mark.parametrize("text, expected", [
    (INTEL.format(extra="avx512_bf16"), "mixed_bfloat16"),
    (INTEL.format(extra="amx_bf16 amx_tile"), "mixed_bfloat16"),
    (INTEL.format(extra="avx512_vnni"), "float32"),
    (ARM.format(extra=""), "float32"),  # Arm's bf16 flag: not a flag we trust yet
])
def test_cpu_policy_follows_the_bf16_flags(tmp_path, no_gpu, text, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert fast_precision(cpuinfo) == expected


def test_flags_are_read_from_every_processor_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(INTEL.format(extra="avx512_bf16"))
    assert precision.cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "avx512f", "avx512_bf16"}


def test_no_cpuinfo_means_float32(tmp_path, no_gpu):
    assert precision.cpu_flags(tmp_path / "absent") == set()
    assert fast_precision(tmp_path / "absent") == "float32"


def test_a_gpu_wins_over_the_cpu(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(INTEL.format(extra="avx512_bf16"))
    monkeypatch.setattr(precision, "_visible_gpus", lambda: ["GPU:0"])
    assert fast_precision(cpuinfo) == "mixed_float16"


def test_this_machine_gets_a_policy_keras_accepts():
    import keras

    policy = fast_precision()
    assert keras.dtype_policies.get(policy).name == policy
