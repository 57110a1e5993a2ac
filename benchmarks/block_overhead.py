"""Training-step time of networks built from keras_blocks vs. the same networks in plain Keras.

Two networks, each in two spellings with identical weights and data:

- "course convnet": the course's three-block base (`course_conv_net`: 32/64/128 filters,
  max pooling) with the course's head (Flatten, Dense(6, relu), Dense(1, sigmoid));
- "residual net": a small ResNet (a ConvBlock stem, then three ResidualBlock stages of
  16/32/64 filters, the last two with stride 2, global average pooling, Dense(1)).

The plain versions are written with `keras.layers` only. Weights are copied from the
keras_blocks model to the plain one and the outputs (inference and training mode) are
asserted equal before any timing. Steps are timed interleaved (plain, ours, ours, plain,
...) so that load from other processes falls on both alike; warm-up steps (tracing and
compilation) are excluded; the table shows medians and the ratio ours / plain.

Run:  python benchmarks/block_overhead.py            (defaults: 64 px, batch 32)
      python benchmarks/block_overhead.py --help
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import statistics
import sys
import time
from collections import Counter

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras import layers

from keras_blocks import ConvBlock, ResidualBlock, build_conv_net, course_conv_net

DATA_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / (
    "cifar10-car-truck"
)


# --------------------------------------------------------------------------------------
# The networks, twice.


def course_ours(size):
    base = course_conv_net((size, size, 3))
    return keras.Sequential(
        [base, keras.layers.Flatten(), keras.layers.Dense(6, activation="relu"),
         keras.layers.Dense(1, activation="sigmoid")],
        name="course_ours",
    )


def course_plain(size):
    """Returns the model and its weighted layers in execution order."""
    model = keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Conv2D(32, 5, activation="relu", padding="same"),
            layers.MaxPool2D(),
            layers.Conv2D(64, 3, activation="relu", padding="same"),
            layers.MaxPool2D(),
            layers.Conv2D(128, 3, activation="relu", padding="same"),
            layers.MaxPool2D(),
            layers.Flatten(),
            layers.Dense(6, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="course_plain",
    )
    return model, [layer for layer in model.layers if layer.weights]


RESIDUAL_STAGES = ((16, 1), (32, 2), (64, 2))  # (filters, strides)


def residual_ours(size):
    specs = [{"name": "conv", "filters": 16, "norm": "batch", "pool": None}]
    specs += [{"name": "residual", "filters": f, "strides": s} for f, s in RESIDUAL_STAGES]
    base = build_conv_net(specs, input_shape=(size, size, 3))
    return keras.Sequential(
        [base, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, activation="sigmoid")],
        name="residual_ours",
    )


def residual_plain(size):
    """Returns the model and its weighted layers in execution order (branch, shortcut)."""
    weighted = []

    def keep(layer):
        weighted.append(layer)
        return layer

    inputs = keras.Input((size, size, 3))
    x = keep(layers.Conv2D(16, 3, padding="same", use_bias=False))(inputs)
    x = layers.ReLU()(keep(layers.BatchNormalization())(x))
    channels = 16
    for filters, strides in RESIDUAL_STAGES:
        y = keep(layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False))(x)
        y = layers.ReLU()(keep(layers.BatchNormalization())(y))
        y = keep(layers.Conv2D(filters, 3, padding="same", use_bias=False))(y)
        y = keep(layers.BatchNormalization())(y)
        shortcut = x
        if strides != 1 or channels != filters:
            shortcut = keep(layers.Conv2D(filters, 1, strides=strides, use_bias=False))(x)
            shortcut = keep(layers.BatchNormalization())(shortcut)
        x = layers.ReLU()(layers.Add()([y, shortcut]))
        channels = filters
    x = layers.GlobalAveragePooling2D()(x)
    outputs = keep(layers.Dense(1, activation="sigmoid"))(x)
    return keras.Model(inputs, outputs, name="residual_plain"), weighted


# --------------------------------------------------------------------------------------
# Weight copying: both spellings list their weighted layers in the same order.


def weighted_layers(layer):
    """The layers holding weights, in execution order, looking inside keras_blocks blocks."""
    if isinstance(layer, ConvBlock):
        return [sub for pair in zip(layer.convs, layer.norms, strict=True) for sub in pair
                if sub is not None]
    if isinstance(layer, ResidualBlock):
        subs = [sub for pair in zip(layer.convs, layer.norms, strict=True) for sub in pair]
        if layer.projection is not None:
            subs += [layer.projection, layer.projection_norm]
        return [s for s in subs if s is not None]
    if isinstance(layer, keras.Model):
        return [w for sub in layer.layers for w in weighted_layers(sub)]
    return [layer] if layer.weights else []


def copy_weights(ours, plain_layers):
    source = weighted_layers(ours)
    if len(source) != len(plain_layers):
        raise AssertionError(f"{len(source)} weighted layers vs {len(plain_layers)} in plain")
    for a, b in zip(source, plain_layers, strict=True):
        values = a.get_weights()
        if [v.shape for v in values] != [tuple(w.shape) for w in b.weights]:
            raise AssertionError(f"weight shapes differ: {a.path} vs {b.path}")
        b.set_weights(values)


# --------------------------------------------------------------------------------------
# Data and timing.


def load_batch(size, batch_size, seed):
    rng = np.random.default_rng(seed)
    if DATA_DIR.exists():
        from PIL import Image

        files = sorted((DATA_DIR / "train" / "Car").glob("*.jpg"))[: batch_size // 2]
        files += sorted((DATA_DIR / "train" / "Truck").glob("*.jpg"))[: batch_size - len(files)]
        images = [np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f in files]
        x = np.stack(images).astype("float32") / 255.0
        y = np.array([0] * (batch_size // 2) + [1] * (batch_size - batch_size // 2), "float32")
        source = f"{len(files)} photos from {DATA_DIR}"
    else:
        x = rng.random((batch_size, size, size, 3), dtype="float32")
        y = rng.integers(0, 2, batch_size).astype("float32")
        source = "random images (../shared absent)"
    return x, y[:, None], source


def assert_same_outputs(ours, plain, x):
    for training in (False, True):
        a = keras.ops.convert_to_numpy(ours(x, training=training))
        b = keras.ops.convert_to_numpy(plain(x, training=training))
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5,
                                   err_msg=f"outputs differ (training={training})")


def compile_model(model, jit):
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="binary_crossentropy",
                  jit_compile=jit)


def time_steps(model, x, y, steps):
    """(wall seconds, process CPU seconds) of each of `steps` training steps."""
    times = []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        model.train_on_batch(x, y)  # returns the loss as a Python float: a full sync
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def training_graph_ops(model, x, y):
    """Op-type histogram of one traced forward + backward pass (what XLA receives)."""
    import tensorflow as tf  # the benchmark, not the library, looks at TF graphs

    loss_fn = keras.losses.BinaryCrossentropy()

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        return tape.gradient(loss, model.trainable_variables)

    graph = step.get_concrete_function(tf.TensorSpec(x.shape, tf.float32),
                                       tf.TensorSpec(y.shape, tf.float32)).graph
    return Counter(op.type for op in graph.get_operations())


def compare_graphs(ours, plain, x, y):
    """The op types whose counts differ between the two training graphs (empty: none)."""
    a, b = training_graph_ops(ours, x, y), training_graph_ops(plain, x, y)
    differing = {t: (a[t], b[t]) for t in sorted(set(a) | set(b)) if a[t] != b[t]}
    return sum(a.values()), sum(b.values()), differing


def _summarize(samples, rounds, steps, column):
    ours = [t[column] for t in samples["ours"]]
    plain = [t[column] for t in samples["plain"]]
    per_round = [
        statistics.median(ours[r * steps:(r + 1) * steps])
        / statistics.median(plain[r * steps:(r + 1) * steps])
        for r in range(rounds)
    ]
    return {
        "plain_ms": 1e3 * statistics.median(plain),
        "ours_ms": 1e3 * statistics.median(ours),
        "ratio": statistics.median(ours) / statistics.median(plain),
        "paired": statistics.median(per_round),
        "quartiles": statistics.quantiles(per_round, n=4) if rounds > 1 else [],
    }


def benchmark(name, make_ours, make_plain, args, x, y):
    keras.utils.set_random_seed(args.seed)
    ours = make_ours(args.image_size)
    plain, plain_layers = make_plain(args.image_size)
    copy_weights(ours, plain_layers)
    assert ours.count_params() == plain.count_params()
    assert_same_outputs(ours, plain, x)
    graphs = compare_graphs(ours, plain, x, y)
    for model in (ours, plain):
        compile_model(model, args.jit)
        time_steps(model, x, y, args.warmup)
    samples = {"plain": [], "ours": []}
    models = {"plain": plain, "ours": ours}
    for round_index in range(args.rounds):
        order = ("plain", "ours") if round_index % 2 == 0 else ("ours", "plain")
        for key in order:
            samples[key].extend(time_steps(models[key], x, y, args.steps))
    return {
        "network": name,
        "params": ours.count_params(),
        "wall": _summarize(samples, args.rounds, args.steps, 0),
        "cpu": _summarize(samples, args.rounds, args.steps, 1),
        "graphs": graphs,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=64, help="square input size (px)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per model per round")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model")
    parser.add_argument("--jit", choices=("auto", "true", "false"), default="auto",
                        help="Model.compile(jit_compile=...)")
    parser.add_argument("--only", choices=("course", "residual"), default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.jit = {"auto": "auto", "true": True, "false": False}[args.jit]

    x, y, source = load_batch(args.image_size, args.batch_size, args.seed)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"data: {source}; batch {args.batch_size} x {args.image_size}px; "
          f"jit_compile={args.jit}; {args.rounds} rounds x {args.steps} steps per model, "
          f"{args.warmup} warm-up steps excluded")
    networks = [("course convnet", course_ours, course_plain),
                ("residual net", residual_ours, residual_plain)]
    if args.only:
        networks = [n for n in networks if n[0].startswith(args.only)]
    results = [benchmark(name, o, p, args, x, y) for name, o, p in networks]

    print()
    print(f"{'network':<16}{'clock':<6}{'params':>9}{'plain ms/step':>15}{'ours ms/step':>14}"
          f"{'ratio':>8}{'paired':>8}   per-round ratio quartiles")
    for r in results:
        for clock in ("wall", "cpu"):
            m = r[clock]
            spread = " ".join(f"{v:.3f}" for v in m["quartiles"])
            print(f"{r['network']:<16}{clock:<6}{r['params']:>9,}{m['plain_ms']:>15.2f}"
                  f"{m['ours_ms']:>14.2f}{m['ratio']:>8.3f}{m['paired']:>8.3f}   {spread}")
    print("ratio: median step time ours / plain; paired: median over rounds of the ratio "
          "within a round (robust to load drifting between rounds); cpu: process CPU time "
          "per step (all threads), less sensitive to other processes than wall time.")
    for r in results:
        ops_ours, ops_plain, differing = r["graphs"]
        verdict = "identical op counts" if not differing else f"differing op types {differing}"
        print(f"{r['network']}: traced training graph ops ours {ops_ours}, plain {ops_plain}: "
              f"{verdict}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process (both spellings of every network): {peak_mib:.0f} MiB; "
          f"load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
