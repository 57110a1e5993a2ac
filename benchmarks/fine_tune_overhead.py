"""The fine-tuning step of a keras_blocks `Classifier` against the plain Keras recipe.

Phase 2 of transfer learning (the car-or-truck transfer recipe): MobileNetV2 with its
batch normalization in inference mode, everything else trainable, a one-class head.
Two spellings of the same network, with the same weights, batch and image size:

- "ours": `build_classifier("mobilenet_v2", DenseHead(num_classes=1, dropout=0.2))`,
  then `model.unfreeze_top(None)` (the `Classifier` / `fine_tune` path: the base wrapped
  in `InferenceMode`, preprocessing inside the base);
- "plain": the recipe a Keras user writes by hand: `mobilenet_v2.preprocess_input`,
  `keras.applications.MobileNetV2(include_top=False)` with every `BatchNormalization`
  layer set `trainable=False` (Keras 3 then runs it in inference mode), global average
  pooling, dropout, `Dense(1)`, sigmoid.

Before any timing the script asserts that both have the same trainable weights (count
and shapes), the same outputs and the same gradients (relative difference at most 1e-5
of the largest value) on one batch. Then it times `train_on_batch` in interleaved
rounds (plain, ours, ours, plain, ...; each round `--steps` steps of each after the
warm-up), by wall time and by process CPU time, and prints the median of the per-round
ratios ours / plain and their range. On 2 cores a round-to-round spread of +-30% is
common; the median of paired rounds can still see a 5% difference with enough rounds.

Run:  python -m benchmarks.fine_tune_overhead                 (160 px, batch 64, 8 rounds)
      python -m benchmarks.fine_tune_overhead --size 96 --rounds 4 --steps 2   (quick)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from keras_blocks import DenseHead, build_classifier


def ours_model(size):
    model = build_classifier(
        "mobilenet_v2", DenseHead(num_classes=1, dropout=0.2, name="head"),
        input_shape=(size, size, 3), weights=None, name="ours")
    model.unfreeze_top(None)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    return model


def plain_model(size):
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Lambda(keras.applications.mobilenet_v2.preprocess_input)(inputs)
    base = keras.applications.MobileNetV2(include_top=False, weights=None,
                                          input_shape=(size, size, 3))
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.Dense(1)(x)
    outputs = keras.layers.Activation("sigmoid")(x)
    model = keras.Model(inputs, outputs, name="plain")
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=keras.losses.BinaryCrossentropy(), metrics=["accuracy"])
    return model, base


def copy_weights(ours, plain, plain_base):
    """Gives `plain` the weights of `ours` (the same keras.applications network inside)."""
    network = [layer for layer in ours.base.layers if isinstance(layer, keras.Model)]
    assert len(network) == 1, [layer.name for layer in ours.base.layers]
    plain_base.set_weights(network[0].get_weights())
    dense = next(layer for layer in plain.layers if isinstance(layer, keras.layers.Dense))
    dense.set_weights([w.numpy() if hasattr(w, "numpy") else np.asarray(w)
                       for w in ours.head.weights])


def _relative(a, b):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def gradients(model, images, labels, head_layer):
    """Loss gradients (training=False: batch norm is in inference mode in both anyway,
    and dropout would draw different masks) as NumPy arrays, by weight: the
    keras.applications layer and variable name, or "head/kernel" and "head/bias"."""
    import tensorflow as tf

    loss_fn = keras.losses.BinaryCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images, training=False))
    weights = model.trainable_weights
    head = {id(w) for w in head_layer.weights}
    keys = [("head/" + w.name) if id(w) in head else "/".join(w.path.split("/")[-2:])
            for w in weights]
    assert len(set(keys)) == len(keys), "weight keys are not unique"
    return {k: g.numpy() for k, g in zip(keys, tape.gradient(loss, weights), strict=True)}


def assert_same(ours, plain, images, labels, tolerance=1e-5):
    """Same trainable weights, outputs and gradients; returns the largest differences."""
    plain_head = next(layer for layer in plain.layers if isinstance(layer, keras.layers.Dense))
    g_ours = gradients(ours, images, labels, ours.head)
    g_plain = gradients(plain, images, labels, plain_head)
    assert sorted(g_ours) == sorted(g_plain), sorted(set(g_ours) ^ set(g_plain))
    assert len(ours.non_trainable_weights) == len(plain.non_trainable_weights)
    output = _relative(ours.predict(images, verbose=0), plain.predict(images, verbose=0))
    gradient = max(_relative(g_ours[k], g_plain[k]) for k in g_ours)
    assert output <= tolerance, f"outputs differ: relative {output:.2e}"
    assert gradient <= tolerance, f"gradients differ: relative {gradient:.2e}"
    return output, gradient


def time_steps(model, images, labels, steps):
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=160, help="image size (default 160)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=3, help="steps per model per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the figures as JSON to this file")
    args = parser.parse_args(argv)
    for flag in ("size", "batch_size", "rounds", "steps"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")

    keras.utils.set_random_seed(args.seed)
    ours = ours_model(args.size)
    plain, plain_base = plain_model(args.size)
    copy_weights(ours, plain, plain_base)
    rng = np.random.default_rng(args.seed)
    images = rng.integers(0, 256, (args.batch_size, args.size, args.size, 3)).astype("float32")
    labels = rng.integers(0, 2, (args.batch_size, 1)).astype("float32")
    output, gradient = assert_same(ours, plain, images[:8], labels[:8])
    print(f"same network: {len(ours.trainable_weights)} trainable weights each; outputs "
          f"differ by {output:.1e}, gradients by {gradient:.1e} (relative)")

    for model in (plain, ours):
        time_steps(model, images, labels, args.warmup)
    rows = {"ours": [], "plain": []}
    for round_ in range(args.rounds):
        order = ("plain", "ours") if round_ % 2 == 0 else ("ours", "plain")
        for name in order:
            rows[name].append(time_steps({"ours": ours, "plain": plain}[name],
                                         images, labels, args.steps))
    results = {"size": args.size, "batch_size": args.batch_size, "rounds": args.rounds,
               "steps": args.steps, "output_difference": output,
               "gradient_difference": gradient, "cpus": os.cpu_count()}
    print(f"\nMobileNetV2 fine-tuning step, {args.size} px, batch {args.batch_size}, "
          f"{args.rounds} interleaved rounds of {args.steps} steps each")
    print(f"{'':<6} {'plain s/step':>13} {'ours s/step':>12} {'ratio (median)':>15} "
          f"{'ratio range':>14}")
    for index, measure in enumerate(("wall", "cpu")):
        plain_t = [r[index] / args.steps for r in rows["plain"]]
        ours_t = [r[index] / args.steps for r in rows["ours"]]
        ratios = [o / p for o, p in zip(ours_t, plain_t, strict=True)]
        median = statistics.median(ratios)
        print(f"{measure:<6} {statistics.median(plain_t):>13.3f} "
              f"{statistics.median(ours_t):>12.3f} {median:>15.3f} "
              f"{min(ratios):>6.2f}-{max(ratios):.2f}")
        results[measure] = {"plain_s_per_step": statistics.median(plain_t),
                            "ours_s_per_step": statistics.median(ours_t),
                            "ratio_median": median, "ratios": ratios}
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
