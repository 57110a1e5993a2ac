"""Training throughput (images/s) of the car-or-truck models, GPU-ready.

The two models of the car-or-truck example (`examples.car_or_truck.training`, the same
builder functions):

- `custom`: the convnet stacked from keras_blocks blocks (`PatchWhitening`, then
  `ConvBlock(pool_at="first")` stages of `--widths`), trained from scratch;
- `transfer`: MobileNetV2 base with a DenseHead (`--transfer-phase head`: base frozen,
  the first phase of transfer learning; `finetune`: the whole base trains).

Each model is timed in three settings, built side by side and timed interleaved
(anchor, mixed, mixed+XLA, anchor, ...) so that load from other processes falls on all
alike:

- `float32` (the anchor): float32 weights and compute, no XLA;
- `mixed`: `--precision` (default `mixed_float16` on a GPU, `mixed_bfloat16` elsewhere),
  no XLA;
- `mixed+xla`: the same with `jit_compile=True`.

Every repeat runs `fit` for `--steps` steps on batches of `--batch-size`; the warm-up
runs (tracing, XLA compilation) are excluded. The table shows the median images/s over
the repeats, the ratio to the anchor, and peak memory (GPU memory on a GPU, the
process's peak resident memory otherwise).

Data: `--data synthetic` (default) feeds random pixels from a repeated in-memory batch,
which measures the model and the host-to-device copy; `--data DIR` reads a folder in the
course layout (DIR/train/{Car,Truck}) through `make_pipeline` (cache in memory), which
also measures the input pipeline.

Run it from the repository root as a module (it imports the example package). On a GPU
(the defaults are for one):

    python -m benchmarks.gpu_training                       # both models, 128 px, batch 256

On a CPU, small settings check that everything runs (the numbers mean little):

    python -m benchmarks.gpu_training --image-size 32 --batch-size 16 --steps 3 \\
        --repeats 2 --warmup 1
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from examples.car_or_truck import data as example_data
from examples.car_or_truck import training as example_training

REPO = pathlib.Path(__file__).resolve().parents[1]
SETTINGS = ("float32", "mixed", "mixed+xla")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    parser.add_argument("--model", choices=("custom", "transfer", "both"), default="both")
    parser.add_argument("--image-size", type=int, default=128, help="square input side")
    parser.add_argument("--batch-size", type=int, default=256, help="images per step")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per setting")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed steps first (tracing, XLA compilation)")
    parser.add_argument("--precision", default="auto",
                        choices=("auto", "mixed_float16", "mixed_bfloat16"),
                        help="mixed policy; auto: float16 on a GPU, bfloat16 elsewhere")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated subset of {', '.join(SETTINGS)}")
    parser.add_argument("--widths", default="48,128,128",
                        help="custom model's stage widths, comma-separated (default: the "
                        "example's full preset)")
    parser.add_argument("--transfer-phase", choices=("head", "finetune"), default="head",
                        help="transfer model: frozen base (head) or all layers train")
    parser.add_argument("--weights", default=None,
                        help="transfer base weights: a local file, 'imagenet', or none "
                             "(random; the speed is the same)")
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic' or a folder with train/{Car,Truck}")
    parser.add_argument("--augmentation", choices=("model", "pipeline", "none"),
                        default="model",
                        help="where the example's augmentation runs: inside the model (as "
                             "the example trains), in the tf.data pipeline, or not at all")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in args.settings if s not in SETTINGS]
    if unknown or not args.settings:
        parser.error(f"--settings: unknown {unknown}; choose from {', '.join(SETTINGS)}")
    raw_widths = args.widths
    try:
        args.widths = tuple(int(w) for w in raw_widths.split(","))
    except ValueError:
        args.widths = ()
    if not args.widths or min(args.widths) < 1:
        parser.error(f"--widths: {raw_widths!r} is not a comma-separated list of integers >= 1")
    for name in ("image_size", "batch_size", "steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 1:
        parser.error("--warmup must be >= 1 (the first run traces and compiles)")
    if args.data != "synthetic" and not (pathlib.Path(args.data) / "train").is_dir():
        parser.error(f"--data: {args.data!r} has no train/ folder (expected "
                     "DIR/train/{Car,Truck})")
    return args


def describe_device():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None, f"CPU only ({platform.processor() or platform.machine()}, "\
                     f"{os.cpu_count()} cores): no GPU visible"
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get("device_name", gpus[0].name)
    capability = details.get("compute_capability")
    return gpus, f"{len(gpus)} x {name}" + (f" (compute capability {capability})"
                                           if capability else "")


def make_dataset(args):
    """An endless dataset of (images, labels) batches of raw [0, 255] pixels."""
    import numpy as np
    import tensorflow as tf

    augment = None
    if args.augmentation == "pipeline":
        layers = example_data.augmentation(args.seed)  # a layer or a list of layers
        if not isinstance(layers, list | tuple):
            layers = [layers]

        def augment(images):
            for layer in layers:
                images = layer(images, training=True)
            return images

    if args.data == "synthetic":
        rng = np.random.default_rng(args.seed)
        images = rng.integers(0, 256, (args.batch_size, args.image_size, args.image_size, 3))
        labels = rng.integers(0, 2, (args.batch_size, 1)).astype("float32")
        dataset = tf.data.Dataset.from_tensors((images.astype("float32"), labels)).repeat()
        if augment is not None:
            dataset = dataset.map(lambda x, y: (augment(x), y))
        return dataset.prefetch(tf.data.AUTOTUNE)
    from keras_blocks import make_pipeline

    return make_pipeline(pathlib.Path(args.data) / "train", image_size=args.image_size,
                         batch_size=args.batch_size, seed=args.seed, drop_remainder=True,
                         value_range=(0.0, 255.0), augment=augment).repeat()


def build(model_name, setting, args, policy):
    import keras

    from keras_blocks import compile_classifier

    keras.config.set_dtype_policy("float32" if setting == "float32" else policy)
    try:
        keras.utils.set_random_seed(args.seed)
        size = args.image_size
        if model_name == "custom":
            model = example_training.custom_model(size, args.widths, args.seed,
                                                  augment=args.augmentation == "model")
        else:
            weights = None if args.weights in (None, "none") else args.weights
            model = example_training.transfer_model(size, weights, args.seed,
                                                    augment=args.augmentation == "model")
            if args.transfer_phase == "finetune":
                for layer in model.layers:
                    layer.trainable = True
        compile_classifier(model, optimizer="adam", learning_rate=1e-3,
                           jit_compile=setting == "mixed+xla")
    finally:
        keras.config.set_dtype_policy("float32")
    return model


def peak_memory_mb(gpus):
    import tensorflow as tf

    if gpus:
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def reset_peak(gpus):
    import tensorflow as tf

    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")


def no_jit_layers(model):
    """Names of the layers that make Keras turn `jit_compile=True` off for the model."""
    return sorted({type(layer).__name__ for layer in model._flatten_layers()
                   if not getattr(layer, "supports_jit", True)})


def time_fit(model, dataset, steps):
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return time.perf_counter() - start


def run(args):
    import keras

    gpus, device = describe_device()
    policy = args.precision
    if policy == "auto":
        policy = "mixed_float16" if gpus else "mixed_bfloat16"
    print(f"device: {device}")
    if not gpus:
        print("note: no GPU here; these CPU figures only show that the run works. Run it "
              "on a GPU machine to record the GPU figures.")
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, mixed policy "
          f"{policy}, image {args.image_size}x{args.image_size}, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats (after {args.warmup} warm-up steps), "
          f"data: {args.data}, augmentation: {args.augmentation}")
    names = ("custom", "transfer") if args.model == "both" else (args.model,)
    rows = []
    for name in names:
        # The custom model scales pixels itself; the transfer model's preprocessing is
        # inside it: both take raw [0, 255] pixels.
        dataset = make_dataset(args)
        models = {s: build(name, s, args, policy) for s in args.settings}
        trainable = sum(int(w.numpy().size) for w in models[args.settings[0]].trainable_weights)
        peaks = {}
        for setting, model in models.items():
            reset_peak(gpus)
            time_fit(model, dataset, args.warmup)
            peaks[setting] = peak_memory_mb(gpus)
        seconds = {s: [] for s in models}
        for _ in range(args.repeats):
            for setting, model in models.items():  # interleaved
                reset_peak(gpus)
                seconds[setting].append(time_fit(model, dataset, args.steps))
                peaks[setting] = max(peaks[setting], peak_memory_mb(gpus))
        for setting in models:
            rates = [args.steps * args.batch_size / s for s in seconds[setting]]
            rows.append({"model": name, "setting": setting, "median": statistics.median(rates),
                         "low": min(rates), "high": max(rates), "peak_mb": peaks[setting],
                         "trainable": trainable, "xla": bool(models[setting].jit_compile),
                         "no_jit": no_jit_layers(models[setting])})
        del models
        keras.backend.clear_session()
    print_table(rows, args, gpus)
    return rows


def print_table(rows, args, gpus):
    memory = "peak GPU MiB" if gpus else "peak RSS MiB"
    header = (f"{'model':<9} {'setting':<10} {'images/s (median)':>18} {'min..max':>17} "
              f"{'vs float32':>10} {memory:>13} {'XLA':>4}")
    print()
    print(header)
    print("-" * len(header))
    anchors = {r["model"]: r["median"] for r in rows if r["setting"] == "float32"}
    for r in rows:
        anchor = anchors.get(r["model"])
        ratio = f"{r['median'] / anchor:.2f}x" if anchor else "-"
        spread = f"{r['low']:.1f}..{r['high']:.1f}"
        print(f"{r['model']:<9} {r['setting']:<10} {r['median']:>18.1f} {spread:>17} "
              f"{ratio:>10} {r['peak_mb']:>13.0f} {'on' if r['xla'] else 'off':>4}")
    print()
    for r in rows:
        if r["setting"] == "mixed+xla" and not r["xla"]:
            print(f"{r['model']}: jit_compile=True was turned off by Keras: "
                  f"{', '.join(r['no_jit']) or 'the platform'} cannot be compiled with XLA "
                  "on this backend (try --augmentation pipeline)")
    for name in dict.fromkeys(r["model"] for r in rows):
        trainable = next(r["trainable"] for r in rows if r["model"] == name)
        print(f"{name}: {trainable:,} trainable weights")
    if not gpus:
        print("(peak RSS is the whole process's, shared by all settings)")


def main(argv=None):
    args = parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
