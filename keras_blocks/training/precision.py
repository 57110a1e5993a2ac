"""Which mixed-precision policy pays on the machine at hand."""

from __future__ import annotations

import pathlib

# CPU flags (Linux /proc/cpuinfo) of instructions that multiply bfloat16 natively:
# AVX-512 BF16 (Cooper Lake, Zen 4 and later) and AMX (Sapphire Rapids and later).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
_CPUINFO = pathlib.Path("/proc/cpuinfo")


def cpu_flags(cpuinfo=_CPUINFO):
    """The CPU's feature flags as a set of strings (empty where the file is absent,
    as on macOS and Windows)."""
    try:
        text = pathlib.Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return set()
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def _visible_gpus():
    import keras

    if keras.backend.backend() != "tensorflow":
        return []
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def fast_precision(cpuinfo=_CPUINFO):
    """The Keras dtype policy likely to train fastest here, by what the hardware offers.

    - A GPU visible to TensorFlow: `"mixed_float16"` (tensor cores; use
      `"mixed_bfloat16"` instead on GPUs from Ampere on if float16 overflows).
    - No GPU, and a CPU with native bfloat16 multiplies (flags `avx512_bf16` or
      `amx_bf16` in `/proc/cpuinfo`): `"mixed_bfloat16"`. oneDNN then runs the
      convolutions in bfloat16; the small convnet of the car-or-truck example trains
      about 1.5x faster a step on such a 2-core machine (`benchmarks/precision.py`).
    - Otherwise `"float32"`: without the instructions bfloat16 is emulated and slower.

    Weights stay float32 under both mixed policies. Check the accuracy once when you
    switch: bfloat16 keeps float32's range but only 8 bits of mantissa.

    Args:
        cpuinfo: the file to read the CPU flags from (for tests).

    Returns:
        `"mixed_float16"`, `"mixed_bfloat16"` or `"float32"`: pass it to
        `keras.mixed_precision.set_global_policy` before building the model.

    Example:
        ```python
        import keras
        from keras_blocks import fast_precision

        policy = fast_precision()
        keras.mixed_precision.set_global_policy(policy)
        # ... build, train ...
        keras.mixed_precision.set_global_policy("float32")
        ```
    """
    if _visible_gpus():
        return "mixed_float16"
    if cpu_flags(cpuinfo) & set(BF16_CPU_FLAGS):
        return "mixed_bfloat16"
    return "float32"
