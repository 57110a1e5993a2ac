"""CPU cost of the per-batch step of a cached epoch: where the later-epoch time goes.

`make_pipeline` caches small uniform images (the course's 32x32 photos) as `uint8` at
their own size and, per batch, gathers the batch, upscales it and converts it to float32.
This script times that step and its alternatives on random `uint8` pixels (no files),
as CPU microseconds per image (all threads; steadier than wall time on a shared
machine), interleaved over the repeats, medians printed:

- floor: only fill float32 batches of the output shape (the anchor: no variant can
  beat it, it is the cost of producing the output);
- 32px cache, nearest as a broadcast in uint8, then one dequantize (what make_pipeline
  does for whole-number factors);
- the same with a cast and multiply instead of the fused dequantize;
- dequantize the small batch first, then broadcast float32;
- `tf.image.resize(method="nearest")` on uint8, then dequantize;
- `tf.repeat` twice in uint8, then dequantize;
- a 128px `uint8` cache (16x the memory): gather, dequantize.

    python benchmarks/pipeline_transforms.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--source", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    from keras_blocks.data import sources

    n, s, size = args.images, args.source, args.size
    factor = size // s
    rng = np.random.default_rng(0)
    small = tf.convert_to_tensor(rng.integers(0, 256, (n, s, s, 3), np.uint8))
    big = sources.resize_batch(small, (size, size), "nearest")

    def deq(x):
        return tf.quantization.dequantize(
            tf.bitcast(x, tf.quint8), 0.0, 1.0, mode="MIN_COMBINED"
        )

    def nearest(x):
        return sources.resize_batch(x, (size, size), "nearest")

    variants = {
        "floor (fill float32)": lambda i: tf.fill([tf.shape(i)[0], size, size, 3], 1.0),
        "32px: broadcast u8, dequantize": lambda i: deq(nearest(tf.gather(small, i))),
        "32px: broadcast u8, cast * 1/255": lambda i: tf.cast(
            nearest(tf.gather(small, i)), tf.float32
        )
        * (1 / 255),
        "32px: dequantize, broadcast f32": lambda i: nearest(deq(tf.gather(small, i))),
        "32px: resize nearest u8, dequantize": lambda i: deq(
            tf.image.resize(tf.gather(small, i), (size, size), method="nearest")
        ),
        "32px: repeat u8 twice, dequantize": lambda i: deq(
            tf.repeat(tf.repeat(tf.gather(small, i), factor, 1), factor, 2)
        ),
        "128px cache: gather, dequantize": lambda i: deq(tf.gather(big, i)),
    }
    order = tf.data.Dataset.range(n).shuffle(n, seed=0).batch(args.batch)
    datasets = {
        name: order.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        for name, fn in variants.items()
    }
    for ds in datasets.values():  # trace and warm up outside the timings
        for _ in ds.take(2):
            pass
    times = {name: [] for name in datasets}
    for _ in range(args.repeats):
        for name, ds in datasets.items():  # interleaved
            start = time.process_time()
            for _ in ds:
                pass
            times[name].append(1e6 * (time.process_time() - start) / n)
    floor = statistics.median(times["floor (fill float32)"])
    print(
        f"{n} images {s}x{s} -> {size}x{size}, batch {args.batch}, medians of "
        f"{args.repeats} interleaved repeats, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(f"{'per-batch step':<40}{'CPU us/img':>12}{'x floor':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<40}{median:>12.0f}{median / floor:>9.2f}")


if __name__ == "__main__":
    main()
