"""The training time of car-or-truck transfer recipes, estimated from step times.

Issue 20 asks for a transfer recipe that trains in at most half the time of the old
full recipe (MobileNetV2 at 160 px, 1 head epoch, 12 fine-tuning epochs of every block,
batch 64, 8,000 training and 2,000 validation images). Running that recipe takes 30-80
minutes on 2 CPU cores, so this script estimates each recipe's training time from the
three steps it repeats, measured in the same run:

- t1: a phase-1 `train_on_batch` step (the base frozen, the head training);
- t2: a phase-2 `train_on_batch` step (`unfreeze_top(unfreeze, unit="blocks")`);
- tv: a validation `test_on_batch` step (the phase-2 model; inference costs the same
  whichever weights train).

Each recipe's models are built as the example builds them
(`examples.car_or_truck.training.transfer_model`, augmentation included) and compiled
as `fine_tune` compiles them (phase 1: the base frozen, Adam at the head's learning
rate; phase 2: `unfreeze_top`, then Adam on the warmed-up cosine schedule), with the
example's loss. The two phases are two model objects, so nothing recompiles while timed.
Batches are random uint8 images of the recipe's size, as the example's pipeline feeds.
After one untimed warm-up step of each kind (graph tracing), the rounds interleave the
recipes (order reversed every other round), `--steps` steps of each kind per round, by
wall time and process CPU time. The estimate, from medians over rounds, is

    head_epochs * ceil(train / batch) * t1 + epochs * ceil(train / batch) * t2
        + (head_epochs + epochs) * ceil(valid / batch) * tv

What it leaves out: the input pipeline (decoding, caching, shuffling), per-epoch
overheads (callbacks, checkpoints, metric resets), model building and graph tracing,
the smaller last validation batch (counted as a full one), evaluation and figures
after training. The absolute minutes are therefore a lower bound of a real run; the
figure to quote is the ratio to the anchor (the first recipe), the median of the
per-round ratios of estimated times, with their range. On a shared 2-core machine
expect +-30% from round to round; more rounds narrow the median.

Recipes are `NAME=size:head_epochs:epochs:unfreeze` (`unfreeze` a block count or
`all`). The anchor `old=160:1:12:all` always comes first; a `--recipe old=...`
replaces it.

Run:  python -m benchmarks.transfer_budget --recipe new=128:1:6:all
      python -m benchmarks.transfer_budget --recipe new=128:1:6:all \\
          --rounds 3 --steps 2                      (quicker, noisier)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

ANCHOR = "old=160:1:12:all"
RECIPE_FORM = "NAME=size:head_epochs:epochs:unfreeze (unfreeze a block count or 'all')"
FINE_TUNE_LEARNING_RATE = 3e-4  # the full transfer recipe's; it does not change timing


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    size: int
    head_epochs: int
    epochs: int
    unfreeze: int | None  # None: every block


def parse_recipe(value):
    """`NAME=size:head_epochs:epochs:unfreeze` as a `Recipe`; ValueError naming `value`."""
    def bad(why):
        return ValueError(f"--recipe {value!r}: {why}; expected {RECIPE_FORM}, "
                          "for example new=128:1:6:all")

    name, sep, spec = value.partition("=")
    name = name.strip()
    if not sep or not name:
        raise bad("no NAME= before the settings")
    parts = spec.split(":")
    if len(parts) != 4:
        raise bad(f"{len(parts)} field(s) after '=', not 4")
    fields = {}
    for field, text, minimum in zip(("size", "head_epochs", "epochs"), parts[:3],
                                    (32, 0, 0), strict=True):
        try:
            number = int(text)
        except ValueError:
            raise bad(f"{field} {text!r} is not an integer") from None
        if number < minimum:
            raise bad(f"{field} {number} is below {minimum}")
        fields[field] = number
    if fields["head_epochs"] + fields["epochs"] == 0:
        raise bad("head_epochs and epochs are both 0")
    unfreeze = parts[3].strip()
    if unfreeze.lower() == "all":
        fields["unfreeze"] = None
    else:
        try:
            fields["unfreeze"] = int(unfreeze)
        except ValueError:
            raise bad(f"unfreeze {unfreeze!r} is neither an integer nor 'all'") from None
        if fields["unfreeze"] < 0:
            raise bad(f"unfreeze {fields['unfreeze']} is negative")
    return Recipe(name=name, **fields)


def recipe_list(values):
    """The anchor first (replaced by a recipe named like it), then the others in order."""
    anchor = parse_recipe(ANCHOR)
    recipes = [anchor]
    for value in values:
        recipe = parse_recipe(value)
        if recipe.name == anchor.name:
            recipes[0] = recipe
        elif any(r.name == recipe.name for r in recipes):
            raise ValueError(f"--recipe {value!r}: the name {recipe.name!r} is given "
                             "twice; give each recipe its own NAME")
        else:
            recipes.append(recipe)
    return recipes


def phase_models(recipe, weights, seed, batches_per_epoch):
    """The example's classifier twice: compiled for phase 1 and for phase 2."""
    from examples.car_or_truck.recipes import HEAD_LEARNING_RATE
    from examples.car_or_truck.training import cosine, transfer_model
    from keras_blocks import compile_classifier
    from keras_blocks.models.tuning import set_trainable

    def loss():
        return keras.losses.BinaryCrossentropy(label_smoothing=0.1)

    head = transfer_model(recipe.size, weights, seed, augment=True)
    set_trainable(head.base, False)
    compile_classifier(head, keras.optimizers.Adam(HEAD_LEARNING_RATE), loss=loss())

    tune = transfer_model(recipe.size, weights, seed, augment=True)
    set_trainable(tune.base, False)
    tune.unfreeze_top(recipe.unfreeze, unit="blocks")
    steps = max(1, batches_per_epoch * recipe.epochs)
    compile_classifier(
        tune, keras.optimizers.Adam(cosine(FINE_TUNE_LEARNING_RATE, steps,
                                           warmup=steps // 10)),
        loss=loss())
    return head, tune


def time_calls(call, steps):
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        call()
    return ((time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps)


def estimate(recipe, t1, t2, tv, train_batches, valid_batches):
    """Seconds of training: the formula in the module docstring."""
    return (recipe.head_epochs * train_batches * t1 + recipe.epochs * train_batches * t2
            + (recipe.head_epochs + recipe.epochs) * valid_batches * tv)


def _weights(value):
    return None if value in (None, "none") else value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", action="append", default=[], metavar="SPEC",
                        help=f"{RECIPE_FORM}; repeatable (the anchor {ANCHOR} comes first)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=4,
                        help="timed steps of each kind per recipe per round")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-images", type=int, default=8000)
    parser.add_argument("--valid-images", type=int, default=2000)
    parser.add_argument("--weights", default="none",
                        help="'none' (default; timing does not depend on the values) or "
                             "the path of a MobileNetV2 no-top weights file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the figures as JSON to this file")
    args = parser.parse_args(argv)
    for flag in ("rounds", "steps", "batch_size", "train_images", "valid_images"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1; "
                         f"got {getattr(args, flag)}")
    try:
        recipes = recipe_list(args.recipe)
    except ValueError as error:
        parser.error(str(error))

    if keras.backend.backend() == "tensorflow":
        # Several models each trace their own step: TensorFlow's retracing warning is
        # about a loop re-creating one function, which is not what happens here.
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    train_batches = math.ceil(args.train_images / args.batch_size)
    valid_batches = math.ceil(args.valid_images / args.batch_size)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    labels = rng.integers(0, 2, (args.batch_size, 1)).astype("float32")
    calls, trainable = {}, {}
    for recipe in recipes:
        head, tune = phase_models(recipe, _weights(args.weights), args.seed, train_batches)
        images = rng.integers(0, 256, (args.batch_size, recipe.size, recipe.size, 3),
                              dtype="uint8")
        trainable[recipe.name] = {"phase_1": len(head.trainable_weights),
                                  "phase_2": len(tune.trainable_weights)}
        calls[recipe.name] = {
            "t1": lambda m=head, x=images: m.train_on_batch(x, labels),
            "t2": lambda m=tune, x=images: m.train_on_batch(x, labels),
            "tv": lambda m=tune, x=images: m.test_on_batch(x, labels),
        }
        for call in calls[recipe.name].values():
            call()  # warm-up: traces the graph, builds the optimizer; not timed

    # times[name][kind] = [(wall, cpu) per round], seconds per step
    times = {r.name: {kind: [] for kind in ("t1", "t2", "tv")} for r in recipes}
    for round_ in range(args.rounds):
        order = recipes if round_ % 2 == 0 else recipes[::-1]
        for recipe in order:
            for kind, call in calls[recipe.name].items():
                times[recipe.name][kind].append(time_calls(call, args.steps))

    anchor = recipes[0]
    results = {
        "batch_size": args.batch_size, "train_images": args.train_images,
        "valid_images": args.valid_images, "train_batches": train_batches,
        "valid_batches": valid_batches, "rounds": args.rounds, "steps": args.steps,
        "anchor": anchor.name, "cpus": os.cpu_count(), "backend": keras.backend.backend(),
        "recipes": {},
    }
    print(f"\nTransfer recipes, batch {args.batch_size}, {args.train_images} training / "
          f"{args.valid_images} validation images; {args.rounds} interleaved rounds of "
          f"{args.steps} steps; anchor {anchor.name!r}")
    print("Estimated time: training and validation steps only (no pipeline or epoch "
          "overheads); quote the ratio.")
    header = (f"{'recipe':<10} {'spec':<16} {'t1 ms':>8} {'t2 ms':>8} {'tv ms':>8} "
              f"{'est. min':>9} {'ratio':>7} {'range':>11}")
    for index, measure in enumerate(("wall", "cpu")):
        print(f"\n{measure} time\n{header}")
        per_round = {
            r.name: [estimate(r, *(times[r.name][k][i][index] for k in ("t1", "t2", "tv")),
                              train_batches, valid_batches) for i in range(args.rounds)]
            for r in recipes
        }
        for recipe in recipes:
            medians = {k: statistics.median(t[index] for t in times[recipe.name][k])
                       for k in ("t1", "t2", "tv")}
            seconds = estimate(recipe, medians["t1"], medians["t2"], medians["tv"],
                               train_batches, valid_batches)
            ratios = [s / a for s, a in zip(per_round[recipe.name], per_round[anchor.name],
                                            strict=True)]
            ratio = statistics.median(ratios)
            spec = (f"{recipe.size}:{recipe.head_epochs}:{recipe.epochs}:"
                    f"{'all' if recipe.unfreeze is None else recipe.unfreeze}")
            print(f"{recipe.name:<10} {spec:<16} {medians['t1'] * 1e3:>8.1f} "
                  f"{medians['t2'] * 1e3:>8.1f} {medians['tv'] * 1e3:>8.1f} "
                  f"{seconds / 60:>9.1f} {ratio:>7.3f} "
                  f"{min(ratios):>5.2f}-{max(ratios):.2f}")
            entry = results["recipes"].setdefault(recipe.name, {
                **dataclasses.asdict(recipe), "spec": spec,
                "trainable_weights": trainable[recipe.name]})
            entry[measure] = {
                **{f"{k}_s_per_step": v for k, v in medians.items()},
                "estimated_s": seconds, "ratio_median": ratio, "ratios": ratios,
                "rounds": {k: [t[index] for t in times[recipe.name][k]]
                           for k in ("t1", "t2", "tv")},
            }
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
