"""make_pipeline against the course's recipe and the hand-written element-wise recipe.

Every recipe reads the same directory, resizes to the same size with the same
interpolation, batches, converts to float32 and prefetches; each run iterates the
dataset (no model, so this times the input pipeline alone) for one first epoch and
several later epochs. Each run is a fresh subprocess, so its peak memory (RSS) is its
own; runs are interleaved (course, element-wise, ours, course, ...) because the machine
may be shared, and the table gives medians over the repeats.

Recipes:
- course: `image_dataset_from_directory` + `map(convert_to_float)` + `cache()` +
  `prefetch` (the course's code; caches float32 batches, replays the same order).
- elementwise: parallel map decoding to uint8, `cache()` of the elements,
  `shuffle(reshuffle_each_iteration=True)`, batch, map to float32, prefetch.
- make_pipeline: `keras_blocks.make_pipeline` (its build pass counts in the first epoch)
  called with its defaults (`cache_at="auto"`: here the cache at the output size, so
  later epochs only gather and convert; float32 batches).
- make_pipeline_source: the same with `cache_at="source"`: the 32x32 photos cached at
  their own size (16x less memory at 128x128) and upscaled per batch every epoch.
- make_pipeline_target: the same with `cache_at="target"` (what `"auto"` picks here).
- make_pipeline_uint8 / make_pipeline_uint8_source / make_pipeline_uint8_target:
  `make_pipeline(..., output_dtype="uint8")` with the default, source-size and
  target-size cache: uint8 batches straight from the cache (the model casts and scales
  them, as fast loaders such as FFCV, DALI and timm's prefetcher do on the device).
- decode_only: a parallel map that only reads and decodes the same JPEGs (no resize;
  one pixel of each is batched, so Python pulls 64 results at a time): the limit for
  any first epoch, which must decode every file once.
- float32_floor / uint8_floor: no data at all, a parallel map that only fills float32
  (uint8) batches of the output shape: the most any pipeline that hands out float32
  (uint8) batches can reach here.

TensorFlow's default CPU allocator hands large buffers back to the operating system
when they are freed, so every new float32 batch pays page faults (here about 60% of the
float32 floor's CPU time is the kernel's). `--allocator bfc` runs every recipe with
`TF_CPU_ALLOCATOR_USE_BFC=true` (TensorFlow's arena allocator, which keeps and reuses
them); `--allocator both` runs every recipe under both, interleaved, and the table
marks the BFC rows.

    python benchmarks/pipeline.py --data ../shared/data/cifar10-car-truck/train
    python benchmarks/pipeline.py --allocator both --repeats 3 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

RECIPES = ("course", "elementwise", "make_pipeline", "make_pipeline_source",
           "make_pipeline_target", "make_pipeline_uint8", "make_pipeline_uint8_source",
           "make_pipeline_uint8_target", "decode_only", "float32_floor", "uint8_floor")
# The default run leaves out the explicit target-size recipes (`"auto"` picks that cache
# for this data set, so they repeat `make_pipeline` and `make_pipeline_uint8`).
DEFAULT_RECIPES = tuple(r for r in RECIPES if not r.endswith("_target"))


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _worker(recipe: str, data: str, size: int, batch: int, epochs: int, interpolation: str):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from keras_blocks import make_pipeline

    autotune = tf.data.AUTOTUNE
    tf.constant(0)  # initialize the runtime before the baseline memory reading
    baseline = _rss_bytes()
    start, cpu_start = time.perf_counter(), time.process_time()  # the build counts
    if recipe == "course":
        ds = tf.keras.utils.image_dataset_from_directory(
            data,
            labels="inferred",
            label_mode="binary",
            image_size=[size, size],
            interpolation=interpolation,
            batch_size=batch,
            shuffle=True,
            verbose=False,
        )

        def convert_to_float(image, label):
            return tf.image.convert_image_dtype(image, dtype=tf.float32), label

        ds = ds.map(convert_to_float).cache().prefetch(buffer_size=autotune)
        cache_bytes = None  # measured below: the float32 batches the cache holds
    elif recipe == "elementwise":
        files = sorted(str(p) for p in pathlib.Path(data).glob("*/*"))
        classes = sorted({pathlib.Path(p).parent.name for p in files})
        labels = [classes.index(pathlib.Path(p).parent.name) for p in files]

        def load(path, label):
            image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
            image = tf.image.resize(image, [size, size], method=interpolation)
            return tf.saturate_cast(tf.round(image), tf.uint8), label

        ds = tf.data.Dataset.from_tensor_slices((files, labels))
        ds = ds.map(load, num_parallel_calls=autotune).cache()
        ds = ds.shuffle(len(files), reshuffle_each_iteration=True).batch(batch)
        ds = ds.map(
            lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=autotune
        ).prefetch(autotune)
        cache_bytes = len(files) * size * size * 3
    elif recipe.startswith("make_pipeline"):
        extra = {"output_dtype": "uint8"} if "uint8" in recipe else {}
        for cache_at in ("source", "target"):
            if recipe.endswith("_" + cache_at):
                extra["cache_at"] = cache_at
        ds = make_pipeline(
            data, image_size=size, batch_size=batch, interpolation=interpolation,
            verbose=0, **extra,
        )
        cache_bytes = ds.cache_bytes
    elif recipe == "decode_only":
        files = sorted(str(p) for p in pathlib.Path(data).glob("*/*"))

        def decode(path):
            image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
            # One pixel stands for the image, so that batching works for any image size
            # and Python's loop below pulls 64 results at a time, not one.
            return image[0, 0], tf.constant(0)

        ds = tf.data.Dataset.from_tensor_slices(files).map(
            decode, num_parallel_calls=autotune).batch(batch).prefetch(autotune)
        cache_bytes = 0
    else:
        n = len(list(pathlib.Path(data).glob("*/*")))
        dtype = tf.uint8 if recipe == "uint8_floor" else tf.float32

        def fill(i):
            rows = tf.cast(tf.minimum(tf.constant(batch, tf.int64), n - i), tf.int32)
            return tf.fill([rows, size, size, 3], tf.cast(i % 256, dtype)), tf.fill([rows], i)

        ds = tf.data.Dataset.range(0, n, batch).map(
            fill,
            num_parallel_calls=autotune,
        ).prefetch(autotune)
        cache_bytes = 0

    seconds, cpu, firsts, count, float_bytes = [], [], [], 0, 0
    for _ in range(epochs):
        count, float_bytes, first = 0, 0, None
        for images, labels in ds:
            if first is None:
                first = labels.numpy().ravel()[:32].tolist()
            count += int(images.shape[0])
            float_bytes += images.shape.num_elements() * images.dtype.size
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
        firsts.append(first)
        start, cpu_start = time.perf_counter(), time.process_time()
    if cache_bytes is None:
        cache_bytes = float_bytes
    return {
        "recipe": recipe,
        "images": count,
        "first": count / seconds[0],
        "later": count / statistics.median(seconds[1:]),
        "first_cpu_us": 1e6 * cpu[0] / count,
        # CPU seconds (all threads) per image: steadier than wall time on a shared machine
        "later_cpu_us": 1e6 * statistics.median(cpu[1:]) / count,
        "reshuffled": any(f != firsts[1] for f in firsts[2:]) if epochs > 2 else None,
        "cache_bytes": cache_bytes,
        "peak_rss_bytes": _peak_rss_bytes(),
        "rss_growth_bytes": _peak_rss_bytes() - baseline,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    repo = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument(
        "--data", default=str(repo.parent / "shared/data/cifar10-car-truck/train")
    )
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4, help="1 first + later epochs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--interpolation", default="nearest", help="the course uses nearest")
    parser.add_argument(
        "--recipes", nargs="+", default=list(DEFAULT_RECIPES), choices=RECIPES
    )
    parser.add_argument(
        "--allocator",
        choices=("default", "bfc", "both"),
        default="default",
        help="TensorFlow's CPU allocator for every recipe (bfc: TF_CPU_ALLOCATOR_USE_BFC=true; "
        "both: each recipe under each, interleaved)",
    )
    parser.add_argument("--worker", choices=RECIPES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = _worker(
            args.worker, args.data, args.size, args.batch, args.epochs, args.interpolation
        )
        print("RESULT " + json.dumps(result))
        return

    allocators = ("default", "bfc") if args.allocator == "both" else (args.allocator,)
    runs = [(r, a) for r in args.recipes for a in allocators]
    label = {(r, a): r + (" [bfc]" if a == "bfc" and len(allocators) > 1 else "")
             for r, a in runs}
    results = {label[run]: [] for run in runs}
    for repeat in range(args.repeats):
        for recipe, allocator in runs:  # interleaved: anchor, ours, anchor, ours, ...
            command = [
                sys.executable,
                __file__,
                "--worker", recipe,
                "--data", args.data,
                "--size", str(args.size),
                "--batch", str(args.batch),
                "--epochs", str(args.epochs),
                "--interpolation", args.interpolation,
            ]  # fmt: skip
            env = dict(os.environ)
            env["TF_CPU_ALLOCATOR_USE_BFC"] = "true" if allocator == "bfc" else "false"
            out = subprocess.run(
                command, capture_output=True, text=True, check=True, cwd=repo, env=env
            ).stdout
            row = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[7:])
            results[label[recipe, allocator]].append(row)
            print(
                f"repeat {repeat + 1}/{args.repeats} {label[recipe, allocator]:<26} "
                f"first {row['first']:8.0f} "
                f"later {row['later']:8.0f} img/s  peak RSS {row['peak_rss_bytes'] / 2**20:6.0f}"
                " MiB",
                flush=True,
            )

    def med(recipe, key):
        return statistics.median(r[key] for r in results[recipe])

    print(
        f"\n{args.data}: {results[label[runs[0]]][0]['images']} images, "
        f"{args.size}x{args.size}, batch {args.batch}, interpolation {args.interpolation}, "
        f"{args.epochs} epochs per run, medians of {args.repeats} interleaved runs, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"{args.allocator} CPU allocator"
    )
    header = (
        f"{'recipe':<28}{'first epoch':>13}{'later epochs':>14}{'reshuffled':>12}"
        f"{'CPU us/img first':>18}{'later':>7}{'cache MiB':>11}{'peak RSS MiB':>14}"
    )
    print(header + "\n" + "-" * len(header))
    for recipe in results:
        print(
            f"{recipe:<28}{med(recipe, 'first'):>9,.0f} i/s{med(recipe, 'later'):>10,.0f} i/s"
            f"{'yes' if results[recipe][0]['reshuffled'] else 'no':>12}"
            f"{med(recipe, 'first_cpu_us'):>18,.0f}{med(recipe, 'later_cpu_us'):>7,.0f}"
            f"{med(recipe, 'cache_bytes') / 2**20:>11,.0f}"
            f"{med(recipe, 'peak_rss_bytes') / 2**20:>14,.0f}"
        )
    for suffix in ("", " [bfc]"):
        print_ratios(results, med, suffix)


# (ours, anchor, epoch, goal): the comparisons the summary prints, each measured in the
# same run. Goals: the first epoch (build included) >= 3x the course recipe and >= 0.6x
# the decode-only limit; later epochs in uint8 >= 3x the element-wise float32 recipe and
# >= 0.8x the uint8 floor; the default call never slower than the element-wise recipe.
RATIOS = (
    ("make_pipeline", "course", "first", 1.0),
    ("make_pipeline", "elementwise", "first", 1.0),
    ("make_pipeline", "elementwise", "later", 1.0),
    ("make_pipeline", "decode_only", "first", None),
    ("make_pipeline_source", "elementwise", "first", None),
    ("make_pipeline_source", "elementwise", "later", None),
    ("make_pipeline_target", "elementwise", "first", None),
    ("make_pipeline_target", "elementwise", "later", None),
    ("make_pipeline_uint8", "course", "first", 3.0),
    ("make_pipeline_uint8", "decode_only", "first", 0.6),
    ("make_pipeline_uint8", "elementwise", "later", 3.0),
    ("make_pipeline_uint8", "uint8_floor", "later", 0.8),
    ("make_pipeline_uint8_source", "course", "first", 3.0),
    ("make_pipeline_uint8_source", "decode_only", "first", 0.6),
    ("make_pipeline_uint8_source", "elementwise", "later", 3.0),
    ("make_pipeline_uint8_source", "uint8_floor", "later", 0.8),
    ("make_pipeline_uint8_target", "course", "first", 3.0),
    ("make_pipeline_uint8_target", "decode_only", "first", 0.6),
    ("make_pipeline_uint8_target", "elementwise", "later", 3.0),
    ("make_pipeline_uint8_target", "uint8_floor", "later", 0.8),
    ("elementwise", "float32_floor", "later", None),
)


def print_ratios(results, med, suffix=""):
    lines = []
    for ours, anchor, epoch, goal in RATIOS:
        if ours + suffix not in results or anchor + suffix not in results:
            continue
        ratio = med(ours + suffix, epoch) / med(anchor + suffix, epoch)
        verdict = ("" if goal is None else
                   f" (goal >= {goal:g}: {'met' if ratio >= goal else 'NOT met'})")
        lines.append(f"  {ours:<26} vs {anchor:<14} {epoch:<5} epoch {ratio:6.2f}x{verdict}")
    if lines:
        print(f"\nratios, same run{' (BFC allocator)' if suffix else ''}:")
        print("\n".join(lines))

if __name__ == "__main__":
    main()
