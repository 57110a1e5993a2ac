"""Training step time under float32 and mixed bfloat16, in the same run.

`keras_blocks.fast_precision` picks `mixed_bfloat16` on a CPU with native bfloat16
multiplies (AVX-512 BF16 or AMX). This measures what that buys on the car-or-truck
example's networks: the same model built under each policy (same seed, so the same
initial weights; the weights stay float32 under the mixed policy), `train_on_batch` on
the same uint8 batch, rounds interleaved (float32 first in even rounds, bfloat16 first
in odd ones), medians of per-round ratios by wall time and process CPU time.

- `--model custom`: the example's full custom convnet (widths 48-128-128, 32 px,
  batch 128).
- `--model transfer`: its MobileNetV2 transfer model, fine-tuning phase (everything but
  batch norm trainable), at `--size` (default 160), batch 64.

It also prints the largest difference between the two policies' outputs on the batch
before training (bfloat16 keeps 8 bits of mantissa: expect about 1e-2).

    python -m benchmarks.precision                    # custom model, 8 rounds
    python -m benchmarks.precision --model transfer --rounds 4 --steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

POLICIES = ("float32", "mixed_bfloat16")


def build(model_name, policy, size, seed):
    import keras

    from examples.car_or_truck import training
    from keras_blocks import compile_classifier

    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        if model_name == "custom":
            model = training.custom_model(size, (48, 128, 128), seed)
            optimizer = keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)
        else:
            model = training.transfer_model(size, None, seed)
            model.unfreeze_top(None)
            optimizer = keras.optimizers.Adam(1e-4)
        compile_classifier(model, optimizer, loss=keras.losses.BinaryCrossentropy())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


def main(argv=None):
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("custom", "transfer"), default="custom")
    parser.add_argument("--size", type=int, default=None,
                        help="image side in pixels (default: 32 custom, 160 transfer)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: 128 custom, 64 transfer")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    for name in ("rounds", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be an integer >= 1; got {getattr(args, name)}")
    size = args.size or (32 if args.model == "custom" else 160)
    batch = args.batch_size or (128 if args.model == "custom" else 64)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, size, size, 3)).astype("uint8")
    y = rng.integers(0, 2, (batch, 1)).astype("float32")

    models = {policy: build(args.model, policy, size, seed=0) for policy in POLICIES}
    counts = {p: m.count_params() for p, m in models.items()}
    if len(set(counts.values())) != 1:
        raise AssertionError(f"the two builds differ in weights: {counts}")
    outputs = {p: np.asarray(m.predict_on_batch(x), "float32") for p, m in models.items()}
    output_diff = float(np.max(np.abs(outputs["float32"] - outputs["mixed_bfloat16"])))
    for model in models.values():  # warm-up: tracing and oneDNN's first calls
        for _ in range(2):
            model.train_on_batch(x, y)

    wall = {p: [] for p in POLICIES}
    cpu = {p: [] for p in POLICIES}
    for round_index in range(args.rounds):
        order = POLICIES if round_index % 2 == 0 else POLICIES[::-1]
        for policy in order:
            w, c = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                models[policy].train_on_batch(x, y)
            wall[policy].append((time.perf_counter() - w) / args.steps)
            cpu[policy].append((time.process_time() - c) / args.steps)

    def ratios(times):
        return [f / b for f, b in zip(times["float32"], times["mixed_bfloat16"], strict=True)]

    result = {
        "model": args.model, "size": size, "batch_size": batch, "rounds": args.rounds,
        "steps": args.steps, "weights": counts["float32"], "max_output_diff": output_diff,
        "ms_per_step": {p: 1000 * statistics.median(wall[p]) for p in POLICIES},
        "cpu_ms_per_step": {p: 1000 * statistics.median(cpu[p]) for p in POLICIES},
        "speedup_wall": statistics.median(ratios(wall)),
        "speedup_wall_range": [min(ratios(wall)), max(ratios(wall))],
        "speedup_cpu": statistics.median(ratios(cpu)),
        "cpus": os.cpu_count(),
    }
    print(f"{args.model} model, {size}x{size}, batch {batch}, {result['weights']:,} weights; "
          f"largest output difference float32 vs bfloat16: {output_diff:.2e}")
    for policy in POLICIES:
        print(f"  {policy:15s} {result['ms_per_step'][policy]:8.1f} ms/step wall "
              f"{result['cpu_ms_per_step'][policy]:8.1f} ms/step CPU")
    lo, hi = result["speedup_wall_range"]
    print(f"RATIO float32 / mixed_bfloat16 step time: {result['speedup_wall']:.2f}x wall "
          f"(rounds {lo:.2f}-{hi:.2f}), {result['speedup_cpu']:.2f}x CPU")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
