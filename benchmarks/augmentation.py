"""Augmentation throughput inside tf.data: keras_blocks vs keras.layers, keras_cv and keras-aug.

128x128 RGB uint8 images (the real car/truck photos, upscaled; random pixels when
../shared is absent), batches of 64, `dataset.map(augment, num_parallel_calls=AUTOTUNE)`
on the CPU, all contenders in ONE run and measured interleaved (A, B, C, A, B, C, ...)
so that a busy machine slows them alike. Prints the median images/s over the repeats,
the ratios, and the process' peak memory.

1. the course stack: contrast 0.1, horizontal flip, rotation 0.1, translation 0.1,
   width stretch 0.15. Keras 3 has no RandomWidth: its stand-in is
   RandomZoom(height_factor=0, width_factor=0.15) (keras.layers and keras_cv.layers).
   Also shown: the same keras_blocks layers without fusion, and a hand-written
   fused affine + contrast pass in raw TensorFlow (the floor a layer library can reach).
   keras-aug (Keras 3, `pip install keras-aug==1.1.1`, a benchmark-only peer) has no
   width stretch either: its course stack is RandomFlip + one RandomAffine (rotation,
   translation, isotropic scale 0.85-1.15) + ColorJitter(contrast), on floats in [0, 1]
   as its layers expect.
2. RandAugment, 2 ops, magnitude 0.5: keras_blocks vs keras.layers vs
   keras_cv.layers (augmentations_per_image=2) vs keras-aug (magnitude 15 of its 31
   bins; it draws the ops once per batch, not per image), and keras_blocks with
   `per_batch=True`, factor (0.5, 0.5), against it like for like.

Contenders that are not installed are reported as unavailable; the rest still run.

    python benchmarks/augmentation.py [--repeats 5] [--batches 16]
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf

import keras_blocks.augment as kba

SIZE, BATCH = 128, 64
DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared/data/cifar10-car-truck"


def load_images(n=512):
    files = sorted((DATA / "train").glob("*/*.jpg"))[:: max(1, 8000 // n)][:n]
    if not files:
        print(f"note: {DATA} absent; using random pixels")
        return np.random.default_rng(0).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    images = [tf.io.decode_jpeg(tf.io.read_file(str(f)), channels=3) for f in files]
    images = tf.image.resize(tf.stack(images), (SIZE, SIZE), method="bilinear")
    return tf.cast(tf.round(images), tf.uint8).numpy()


def make_dataset(images, fn):
    return (tf.data.Dataset.from_tensor_slices(images).repeat()
            .batch(BATCH, drop_remainder=True)
            .map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(1))


def throughput(dataset, batches):
    """Images/s over `batches` batches of a FRESH iterator (after its first batch), so
    no contender profits from batches precomputed while another was measured."""
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    rate = batches * BATCH / (time.perf_counter() - start)
    del iterator
    return rate


# ------------------------------------------------------------------ contenders
def keras_blocks_course(fuse=True):
    layer = kba.Pipeline.from_preset("course", seed=1, fuse=fuse)
    return lambda x: layer(x, training=True)


def keras_course():
    layers = [
        keras.layers.RandomContrast(0.1, seed=1),
        keras.layers.RandomFlip("horizontal", seed=2),
        keras.layers.RandomRotation(0.1, seed=3),
        keras.layers.RandomTranslation(0.1, 0.1, seed=4),
        keras.layers.RandomZoom(height_factor=0.0, width_factor=0.15, seed=5),
    ]

    def fn(x):
        for layer in layers:
            x = layer(x, training=True)
        return x

    return fn


def keras_cv_course():
    import keras_cv

    layers = [
        keras_cv.layers.RandomContrast(value_range=(0, 255), factor=0.1, seed=1),
        keras_cv.layers.RandomFlip("horizontal", seed=2),
        keras_cv.layers.RandomRotation(0.1, seed=3),
        keras_cv.layers.RandomTranslation(0.1, 0.1, seed=4),
        keras_cv.layers.RandomZoom(height_factor=(0.0, 0.0), width_factor=0.15, seed=5),
    ]

    def fn(x):
        x = tf.cast(x, tf.float32)
        for layer in layers:
            x = layer(x, training=True)
        return x

    return fn


def hand_written_course():
    """Raw TensorFlow: per-image contrast, then one fused affine resampling."""

    def fn(x):
        x = tf.cast(x, tf.float32)
        n = tf.shape(x)[0]
        u = tf.random.uniform((n, 6))
        contrast = tf.reshape(0.9 + 0.2 * u[:, 0], (-1, 1, 1, 1))
        mean = tf.reduce_mean(x, axis=(1, 2), keepdims=True)
        x = tf.clip_by_value((x - mean) * contrast + mean, 0.0, 255.0)
        c = (SIZE - 1) / 2.0
        angle = (u[:, 1] - 0.5) * 0.4 * math.pi
        flip = tf.where(u[:, 2] < 0.5, -1.0, 1.0)
        stretch = 1.0 / (0.85 + 0.3 * u[:, 3])
        dx, dy = (u[:, 4] - 0.5) * 0.2 * SIZE, (u[:, 5] - 0.5) * 0.2 * SIZE
        cos, sin = tf.cos(angle), tf.sin(angle)
        a0, a1 = flip * cos * stretch, -sin * flip * stretch
        b0, b1 = sin, cos
        a2 = c - a0 * (c + dx) - a1 * (c + dy)
        b2 = c - b0 * (c + dx) - b1 * (c + dy)
        zeros = tf.zeros_like(a0)
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=[SIZE, SIZE], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT")

    return fn


def keras_aug_course():
    from keras_aug.layers.vision import ColorJitter, RandomAffine, RandomFlip

    layers = [
        ColorJitter(contrast=0.1, seed=1),
        RandomFlip("horizontal", seed=2),
        RandomAffine(degree=36.0, translate=0.1, scale=(0.85, 1.15), padding_mode="reflect",
                     seed=3),
    ]

    def fn(x):
        x = tf.cast(x, tf.float32) / 255.0
        for layer in layers:
            x = layer(x, training=True)
        return x

    return fn


def keras_aug_randaugment():
    from keras_aug.layers.vision import RandAugment

    layer = RandAugment(num_ops=2, magnitude=15, seed=1)
    return lambda x: layer(tf.cast(x, tf.float32) / 255.0, training=True)


def keras_blocks_randaugment():
    layer = kba.RandAugment(num_ops=2, factor=0.5, seed=1)
    return lambda x: layer(x, training=True)


def keras_blocks_randaugment_per_batch():
    """Like for like with keras-aug: ops drawn per batch, magnitude fixed at 0.5."""
    layer = kba.RandAugment(num_ops=2, factor=(0.5, 0.5), per_batch=True, seed=1)
    return lambda x: layer(x, training=True)


def keras_randaugment():
    layer = keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5, seed=1)
    return lambda x: layer(x, training=True)


def keras_cv_randaugment():
    import keras_cv

    layer = keras_cv.layers.RandAugment(value_range=(0, 255), augmentations_per_image=2,
                                        magnitude=0.5, seed=1)
    return lambda x: layer(tf.cast(x, tf.float32), training=True)


def run_group(title, contenders, images, repeats, batches, anchors):
    print(f"\n== {title} (batch {BATCH}, {SIZE}x{SIZE} RGB, tf.data, "
          f"{repeats} interleaved repeats of {batches} batches)")
    iterators = {}
    for name, factory in contenders.items():
        try:
            iterators[name] = make_dataset(images, factory())
            throughput(iterators[name], 1)  # warm up: trace, first allocations
        except Exception as error:  # e.g. keras-cv missing: say so, keep the rest
            print(f"  {name}: unavailable ({type(error).__name__}: {error})")
    samples = {name: [] for name in iterators}
    for _ in range(repeats):
        for name, iterator in iterators.items():
            samples[name].append(throughput(iterator, batches))
    medians = {name: statistics.median(v) for name, v in samples.items()}
    for name, median in medians.items():
        spread = f"[{min(samples[name]):7.0f} .. {max(samples[name]):7.0f}]"
        ratios = "  ".join(
            f"{median / medians[a]:5.2f}x {a}" for a in anchors if a in medians and a != name
        )
        print(f"  {name:34s} {median:7.0f} img/s {spread}  {ratios}")
    return medians


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--only", choices=("course", "randaugment"), default=None)
    args = parser.parse_args(argv)
    print(f"keras {keras.__version__}, tensorflow {tf.__version__}, backend "
          f"{keras.backend.backend()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}")
    images = load_images()
    results = {}
    if args.only in (None, "course"):
        results["course"] = run_group("course stack", {
            "keras.layers": keras_course,
            "keras_cv.layers": keras_cv_course,
            "keras-aug (flip + affine + contrast)": keras_aug_course,
            "keras_blocks Pipeline (fused)": keras_blocks_course,
            "keras_blocks Pipeline (fuse=False)": lambda: keras_blocks_course(fuse=False),
            "hand-written TF (fused)": hand_written_course,
        }, images, args.repeats, args.batches,
            ("keras.layers", "keras_cv.layers", "keras-aug (flip + affine + contrast)"))
    if args.only in (None, "randaugment"):
        results["randaugment"] = run_group("RandAugment", {
            "keras.layers.RandAugment": keras_randaugment,
            "keras_cv.layers.RandAugment": keras_cv_randaugment,
            "keras-aug RandAugment (ops per batch)": keras_aug_randaugment,
            "keras_blocks RandAugment": keras_blocks_randaugment,
            "keras_blocks RandAugment (per_batch)": keras_blocks_randaugment_per_batch,
        }, images, args.repeats, args.batches,
            ("keras.layers.RandAugment", "keras_cv.layers.RandAugment",
             "keras-aug RandAugment (ops per batch)"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (process RSS): {peak:.0f} MiB; load average at end "
          f"{os.getloadavg()[0]:.2f}")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
