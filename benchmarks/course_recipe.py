"""The course's own car-or-truck recipes, measured on the same data as the example.

The anchor for the car-or-truck example (`examples.car_or_truck`): what the course's code
scores on this data and how long it trains, on this machine, in the same session as ours.

- `course-custom`: the course's custom convnet (three blocks: Conv2D 32 5x5, Conv2D 64
  3x3, Conv2D 128 3x3, each then max pooling; head Flatten, Dense 6 relu, Dense 1
  sigmoid), Adam(epsilon=0.01), 64x64 inputs, 15 epochs, the course's pipeline
  (`image_dataset_from_directory(interpolation="nearest")`, `convert_to_float`,
  `cache`, `prefetch`).
- `course-transfer`: a frozen MobileNetV2 (the shared ImageNet weights) with the
  course's head (Flatten, Dense 6 relu, Dense 1 sigmoid), 96x96 inputs, 15 epochs. The
  course gives its base [0, 1] floats; MobileNetV2 expects [-1, 1], so we rescale (the
  charitable reading). The base is frozen and runs in inference mode and the course
  pipeline has no augmentation, so its outputs for a batch never change: we cache them
  after the first epoch, exactly where the course caches its images. Accuracy is
  identical to running the base every epoch; the time is lower than the course pays.
- `ours-custom`, `ours-transfer`: the example's recipes (`examples.car_or_truck`
  presets), trained in the same run for a side-by-side table.

Prints one line per run (validation accuracy at the last epoch, and the best epoch for
reference only: choosing the best epoch on the validation set and reporting it selects
on the reported set), wall seconds and process CPU seconds (on a shared machine CPU
seconds are the steadier measure). With `--seeds N` every recipe runs with N seeds,
interleaved (seed 1 of every recipe, then seed 2, ...), and a summary gives per recipe
the mean, standard deviation, minimum and maximum of the last-epoch accuracy, the mean
training time, and the ratio of our custom recipe's training time to the course's
custom recipe when both ran. Results go to `--output` as JSON.

    python -m benchmarks.course_recipe                      # all four, one seed
    python -m benchmarks.course_recipe --recipes ours-custom --seeds 3
    python -m benchmarks.course_recipe --recipes course-custom,course-transfer

(Run from the repository root: it imports the example package.)
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar10-car-truck"
DEFAULT_WEIGHTS = REPO.parent / "shared" / "weights" / "mobilenet_v2_1.0_no_top.weights.h5"
RECIPES = ("course-custom", "course-transfer", "ours-custom", "ours-transfer")


def course_datasets(data_dir, size):
    """The course's pipeline, verbatim apart from the folder and the image size."""
    import tensorflow as tf
    from keras.utils import image_dataset_from_directory

    def load(split, shuffle):
        return image_dataset_from_directory(
            str(data_dir / split),
            labels="inferred",
            label_mode="binary",
            image_size=[size, size],
            interpolation="nearest",
            batch_size=64,
            shuffle=shuffle,
        )

    def convert_to_float(image, label):
        return tf.image.convert_image_dtype(image, dtype=tf.float32), label

    autotune = tf.data.AUTOTUNE
    return tuple(
        load(split, shuffle).map(convert_to_float).cache().prefetch(buffer_size=autotune)
        for split, shuffle in (("train", True), ("valid", False))
    )


def course_head():
    from keras import layers

    return [
        layers.Flatten(),
        layers.Dense(units=6, activation="relu"),
        layers.Dense(units=1, activation="sigmoid"),
    ]


def run_course_custom(data_dir, epochs, seed):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    ds_train, ds_valid = course_datasets(data_dir, 64)
    model = keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            layers.Conv2D(filters=32, kernel_size=5, activation="relu", padding="same"),
            layers.MaxPool2D(),
            layers.Conv2D(filters=64, kernel_size=3, activation="relu", padding="same"),
            layers.MaxPool2D(),
            layers.Conv2D(filters=128, kernel_size=3, activation="relu", padding="same"),
            layers.MaxPool2D(),
            *course_head(),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(epsilon=0.01),
        loss="binary_crossentropy",
        metrics=["binary_accuracy"],
    )
    history = model.fit(ds_train, validation_data=ds_valid, epochs=epochs, verbose=2)
    return history.history["val_binary_accuracy"]


def run_course_transfer(data_dir, weights, epochs, seed):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    ds_train, ds_valid = course_datasets(data_dir, 96)
    base = keras.applications.MobileNetV2(
        include_top=False, weights=str(weights), input_shape=(96, 96, 3)
    )
    base.trainable = False

    def features(images, labels):
        return base(images * 2.0 - 1.0, training=False), labels

    # Frozen, inference-mode base and no augmentation: cache its outputs (see docstring).
    f_train = ds_train.map(features).cache().prefetch(tf.data.AUTOTUNE)
    f_valid = ds_valid.map(features).cache().prefetch(tf.data.AUTOTUNE)
    head = keras.Sequential([keras.Input(base.output_shape[1:]), *course_head()])
    head.compile(optimizer="adam", loss="binary_crossentropy", metrics=["binary_accuracy"])
    history = head.fit(f_train, validation_data=f_valid, epochs=epochs, verbose=2)
    return history.history["val_binary_accuracy"]


def run_ours(model_name, data_dir, weights, seed, preset):
    import tempfile

    from examples.car_or_truck import cli

    out = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-{model_name}-"))
    argv = [
        "train",
        "--model",
        model_name,
        "--data-dir",
        str(data_dir),
        "--preset",
        preset,
        "--seed",
        str(seed),
        "--output-dir",
        str(out),
        "--weights",
        str(weights),
    ]
    code = cli.main(argv)
    if code != 0:
        raise RuntimeError(f"examples.car_or_truck {' '.join(argv)} exited with {code}")
    history = json.loads((out / model_name / "history.json").read_text())
    metrics = json.loads((out / model_name / "metrics.json").read_text())
    print(f"{model_name}: outputs in {out / model_name}", flush=True)
    extra = {
        "train_seconds": metrics["train_seconds"],
        "flip_tta_accuracy": metrics["flip_tta_accuracy"],
        "tta_accuracy": metrics["tta_accuracy"],
        "checkpoint_accuracy": metrics["accuracy"],
    }
    return history["val_accuracy"], extra


def run_one(recipe, args, seed):
    """Trains one recipe with one seed; returns its result row."""
    print(f"== {recipe} seed {seed}", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    extra = {}
    if recipe == "course-custom":
        curve = run_course_custom(args.data_dir, args.epochs, seed)
    elif recipe == "course-transfer":
        curve = run_course_transfer(args.data_dir, args.weights, args.epochs, seed)
    else:
        curve, extra = run_ours(recipe.split("-")[1], args.data_dir, args.weights, seed,
                                args.preset)
    wall_s = time.perf_counter() - wall
    row = {
        "recipe": recipe,
        "seed": seed,
        "last_val_accuracy": float(curve[-1]),
        "best_val_accuracy": float(max(curve)),
        "epochs": len(curve),
        "wall_s": wall_s,
        # Ours: the example's own timing of fit alone; the course: the whole run.
        "train_s": float(extra.get("train_seconds", wall_s)),
        "cpu_s": time.process_time() - cpu,
        "val_accuracy": [float(v) for v in curve],
        **extra,  # ours: training seconds alone, flip-TTA accuracy of the checkpoint
    }
    print(
        f"RESULT {recipe:16s} seed {seed} val_acc last {row['last_val_accuracy']:.4f} best "
        f"{row['best_val_accuracy']:.4f} epochs {row['epochs']} wall {wall_s:.0f}s "
        f"cpu {row['cpu_s']:.0f}s"
        + (f" (training {extra['train_seconds']:.0f}s; flip TTA "
           f"{extra['flip_tta_accuracy']:.4f}; flip + shift TTA {extra['tta_accuracy']:.4f})"
           if extra else ""),
        flush=True,
    )
    return row


def summarize(results):
    """Per recipe: last-epoch accuracy mean, sd, min, max over seeds; mean training time."""
    recipes = {}
    for recipe in dict.fromkeys(row["recipe"] for row in results):
        rows = [row for row in results if row["recipe"] == recipe]
        last = [row["last_val_accuracy"] for row in rows]
        recipes[recipe] = {
            "runs": len(rows),
            "mean": statistics.fmean(last),
            "sd": statistics.stdev(last) if len(last) > 1 else 0.0,
            "min": min(last),
            "max": max(last),
            "train_s_mean": statistics.fmean(row["train_s"] for row in rows),
        }
        if all("tta_accuracy" in row for row in rows):
            # Beside the plain last-epoch figure, never instead of it.
            tta = [row["tta_accuracy"] for row in rows]
            recipes[recipe]["tta_mean"] = statistics.fmean(tta)
            recipes[recipe]["tta_sd"] = statistics.stdev(tta) if len(tta) > 1 else 0.0
    ratio = None
    if "ours-custom" in recipes and "course-custom" in recipes:
        ratio = recipes["ours-custom"]["train_s_mean"] / recipes["course-custom"]["train_s_mean"]
    return {"recipes": recipes, "custom_time_ratio": ratio}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=pathlib.Path,
        default=DEFAULT_DATA,
        help="dataset in the course layout (train/, valid/)",
    )
    parser.add_argument(
        "--weights",
        type=pathlib.Path,
        default=DEFAULT_WEIGHTS,
        help="MobileNetV2 no-top ImageNet weights file",
    )
    parser.add_argument(
        "--recipes",
        default=",".join(RECIPES),
        help=f"comma-separated subset of {', '.join(RECIPES)}",
    )
    parser.add_argument("--epochs", type=int, default=15, help="epochs of the course recipes")
    parser.add_argument("--preset", default="full", help="preset of our recipes")
    parser.add_argument("--seed", type=int, default=31415, help="the first seed (the course's)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="runs per recipe, with seeds --seed, --seed + 1, ...")
    parser.add_argument(
        "--output", type=pathlib.Path, default=None, help="write the results as JSON here"
    )
    args = parser.parse_args(argv)
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; choose from {', '.join(RECIPES)}")
    if not (args.data_dir / "train").is_dir() or not (args.data_dir / "valid").is_dir():
        parser.error(f"--data-dir {args.data_dir} needs train/ and valid/ subfolders")
    if any("transfer" in r for r in recipes) and not args.weights.is_file():
        parser.error(f"--weights {args.weights} does not exist")
    if args.seeds < 1:
        parser.error(f"--seeds must be an integer >= 1; got {args.seeds}")

    results = []
    for seed in range(args.seed, args.seed + args.seeds):
        for recipe in recipes:
            results.append(run_one(recipe, args, seed))
    print(f"\n{'recipe':16s} {'seed':>6s} {'last':>7s} {'best':>7s} {'train_s':>8s} "
          f"{'wall_s':>8s} {'cpu_s':>8s}")
    for row in results:
        print(
            f"{row['recipe']:16s} {row['seed']:6d} {row['last_val_accuracy']:7.4f} "
            f"{row['best_val_accuracy']:7.4f} {row['train_s']:8.0f} {row['wall_s']:8.0f} "
            f"{row['cpu_s']:8.0f}"
        )
    summary = summarize(results)
    print("\nlast-epoch validation accuracy over seeds (mean, sd, min-max) and training time:")
    for recipe, stats in summary["recipes"].items():
        print(
            f"SUMMARY {recipe:16s} n={stats['runs']} mean {stats['mean']:.4f} sd "
            f"{stats['sd']:.4f} range {stats['min']:.4f}-{stats['max']:.4f} "
            f"training {stats['train_s_mean']:.0f}s"
            + (f"; with test-time augmentation mean {stats['tta_mean']:.4f} sd "
               f"{stats['tta_sd']:.4f}" if "tta_mean" in stats else "")
        )
    if summary.get("custom_time_ratio") is not None:
        print(f"SUMMARY ours-custom / course-custom training time: "
              f"{summary['custom_time_ratio']:.2f}x")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"machine: {os.cpu_count()} CPUs, load average {load}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(
            {"results": results, "summary": summary, "load_average": load}, indent=2
        ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
