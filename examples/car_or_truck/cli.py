"""The command line: `python -m examples.car_or_truck train | evaluate | predict`.

Flags are checked as they are read (a bad value exits with status 2 and one line naming
the flag); keras is imported only once a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pathlib
import shutil
import signal
import sys
import tempfile

from . import __doc__ as PACKAGE_DOC
from .data import (
    arrays,
    check_dataset,
    default_weights,
    image_files,
    pipeline,
    resolve_weights,
)
from .evaluation import (
    classification_metrics,
    load_trained,
    predict_probabilities,
    print_metrics,
)
from .recipes import CLASS_NAMES, MODELS, PRESETS, SHARED_DATA, SYNTHETIC_IMAGES_PER_CLASS
from .runs import (
    Interrupts,
    RunError,
    Terminated,
    UsageError,
    log,
    note,
    start_tensorflow_quietly,
    swap_into_place,
    tf_message,
    write_json,
)


def integer(low, high=None):
    what = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {what}; got {value}")
        return value

    parse.__name__ = what
    return parse


def positive_number(text):
    """A finite float > 0 (learning rates): refuses nan, inf, 0 and negatives."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a finite number > 0 (for example 0.01); got {text!r}")
    return value


def folder_name(text):
    if not text or text in (".", "..") or "/" in text or os.sep in text:
        raise argparse.ArgumentTypeError(
            f"must be the name of a folder inside --data-dir (such as valid); got {text!r}")
    return text


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (usage is one `--help` away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def command_train(args):
    import keras_blocks  # noqa: F401  (registers the layers for loading)
    from keras_blocks import make_synthetic_car_truck
    from keras_blocks.models.pretrained import WeightsDownloadError

    from .training import run_training

    # The numeric flags were checked by their argparse types; now the paths.
    models = list(MODELS) if args.model == "both" else [args.model]
    preset = PRESETS[args.preset]
    weights = resolve_weights(args.weights) if "transfer" in models else None
    if args.data_dir is not None:
        data_dir, synthetic = check_dataset(args.data_dir), False
    elif SHARED_DATA.is_dir() and not args.synthetic:
        data_dir, synthetic = check_dataset(SHARED_DATA), False
    else:
        data_dir, synthetic = None, True
    output_dir = args.output_dir
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"--output-dir {output_dir} exists and is not a directory")
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--output-dir {output_dir}: cannot create {output_dir.parent} "
                         f"({error.strerror or error})") from error
    if not os.access(output_dir.parent, os.W_OK | os.X_OK):
        raise UsageError(f"--output-dir {output_dir}: {output_dir.parent} is not writable")

    # Everything is validated: from here on, work in a staging folder, removed however
    # the run ends (an error, a diverged loss, SIGTERM or Ctrl-C).
    staging = None
    try:
        with INTERRUPTS.deferred():
            staging = pathlib.Path(
                tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
        if synthetic:
            n = SYNTHETIC_IMAGES_PER_CLASS[args.preset]
            why = ("--synthetic given" if args.synthetic else
                   f"no --data-dir given and {SHARED_DATA} is absent")
            log(f"NOTE: {why}: training on SYNTHETIC images ({n} drawn cars and {n} drawn trucks, "
                "keras_blocks.make_synthetic_car_truck). Accuracy on them says nothing "
                "about real photos; pass --data-dir for a real dataset.")
            data_dir = make_synthetic_car_truck(staging / "synthetic-data", n_per_class=n,
                                                image_size=32, seed=args.seed)
        else:
            log(f"data: {data_dir} (train/ for training, valid/ for validation)")
        summary = {}
        for name in models:
            overrides = {key: getattr(args, key) for key in
                         ("image_size", "epochs", "batch_size", "learning_rate")
                         if getattr(args, key) is not None}
            if name == "transfer":
                if args.head_epochs is not None:
                    overrides["head_epochs"] = args.head_epochs
                overrides["weights"] = weights
                overrides["weights_label"] = (
                    "random weights" if weights is None else
                    "ImageNet download" if weights == "imagenet" else weights)
            settings = dataclasses.replace(preset[name], seed=args.seed, **overrides)
            try:
                summary[name] = run_training(name, settings, data_dir, synthetic,
                                             staging / name, args)
            except WeightsDownloadError as error:
                reason = str(error.__cause__ or error).strip().splitlines()[0]
                raise RunError(
                    f"--weights imagenet: the MobileNetV2 ImageNet weights could not be "
                    f"downloaded ({reason}). Download them where there is network access "
                    "(keras.applications.MobileNetV2(include_top=False) keeps them in "
                    "~/.keras/models/) and pass the file: --weights /path/to/file.h5; or "
                    "--weights none for random weights.") from error
        # Success: move each model's folder into place, replacing an older run's by
        # renames only (no signal can cut the swap in half).
        with INTERRUPTS.deferred():
            swap_into_place(staging, output_dir,
                            [*models, *(["synthetic-data"] if synthetic else [])])
    finally:
        if staging is not None:
            with INTERRUPTS.deferred():
                shutil.rmtree(staging, ignore_errors=True)
    for name, metrics in summary.items():
        log(f"{name}: validation accuracy {metrics['accuracy']:.4f} (last epoch, "
            f"{metrics['epochs']}; {metrics['tta_accuracy']:.4f} with test-time "
            f"augmentation), {metrics['train_seconds']:.0f}s of training -> "
            f"{output_dir / name}")
    return 0


def command_evaluate(args):
    if args.output is not None and args.output.is_dir():
        raise UsageError(f"--output {args.output}: a directory (give the path of a .json file)")
    model = load_trained(args.model)
    data_dir = pathlib.Path(args.data_dir)
    if (data_dir / args.split).is_dir():
        check_dataset(data_dir, splits=(args.split,))
        folder = data_dir / args.split
    else:  # a folder of class subfolders
        if not data_dir.is_dir():
            raise UsageError(f"--data-dir {data_dir}: no such directory")
        missing = [n for n in CLASS_NAMES if not (data_dir / n).is_dir()]
        if missing:
            raise UsageError(
                f"--data-dir {data_dir}: expected {args.split}/{{Car,Truck}} or Car/ and "
                f"Truck/ folders; {', '.join(missing)} missing")
        folder = data_dir
    size = model.input_shape[1:3]
    # Raw uint8 pixels, as in training: the model scales them itself.
    dataset = pipeline(folder, on_error=args.on_error, image_size=tuple(size),
                       batch_size=args.batch_size, shuffle=False, label_mode="binary",
                       class_names=list(CLASS_NAMES), value_range=(0, 255),
                       output_dtype="uint8")
    images, labels = arrays(dataset)
    probabilities = predict_probabilities(model, images)
    metrics = classification_metrics(labels, probabilities)
    metrics["probabilities"] = [round(float(p), 6) for p in probabilities]
    metrics["skipped_files"] = [str(path) for path, _ in getattr(dataset, "skipped_files", ())]
    log(f"{args.model} on {folder}:")
    print_metrics(metrics)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.output, metrics)
    return 0


def command_predict(args):
    import numpy as np
    import tensorflow as tf

    # The decoder and resize that make_pipeline uses in training (its defaults: bilinear,
    # no crop, rounded to uint8), so a photo is seen here as it was seen in training.
    from keras_blocks.data.sources import decode_image

    model = load_trained(args.model)
    files = image_files(args.paths)
    height, width = model.input_shape[1:3]
    skipped = 0
    for start in range(0, len(files), args.batch_size):
        chunk, batch = [], []
        for path in files[start:start + args.batch_size]:
            try:
                image = decode_image(tf.io.read_file(str(path)), (height, width),
                                     "bilinear", False)
            except tf.errors.OpError as error:  # corrupt, unreadable, vanished
                message = f"PATH {path}: not a readable image ({tf_message(error)})"
                if args.on_error == "raise":
                    raise UsageError(message + "; --on-error skip leaves such files out") \
                        from None
                note(f"skipped {message}")
                skipped += 1
                continue
            chunk.append(path)
            batch.append(image.numpy())
        if not batch:
            continue
        probabilities = predict_probabilities(model, np.stack(batch).astype("float32"))
        for path, p in zip(chunk, probabilities, strict=True):
            index = int(p > 0.5)
            print(f"{path}\t{CLASS_NAMES[index]}\t{p if index else 1 - p:.4f}")
    if skipped:
        note(f"skipped {skipped} of {len(files)} file(s) that are not readable images")
        if skipped == len(files):
            raise UsageError(f"none of the {len(files)} file(s) is a readable image")
    return 0


def _describe(preset):
    custom, transfer = preset["custom"], preset["transfer"]
    widths = "-".join(str(w) for w in custom.widths)
    return (f"custom: widths {widths}, {custom.epochs} epochs at {custom.image_size}px; "
            f"transfer: {transfer.head_epochs} + {transfer.epochs} epochs at "
            f"{transfer.image_size}px")


def build_parser():
    parser = Parser(
        prog="python -m examples.car_or_truck",
        description=PACKAGE_DOC.split("\n\n")[0] + " Commands: train, evaluate, predict "
        "(`python -m examples.car_or_truck COMMAND --help` explains each).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(PACKAGE_DOC.split("\n\n")[1:-1]),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train", help="train the custom and/or transfer model",
        description="Train, evaluate on valid/, and save the model, history, metrics and "
        "figures under OUTPUT_DIR/<model>/.")
    train.add_argument("--model", choices=("custom", "transfer", "both"), default="custom",
                       help="custom: whitening + pool-first ConvBlock stages, from "
                       "scratch; transfer: pretrained MobileNetV2 + head, two phases; both: "
                       "one after the other (default: custom)")
    train.add_argument("--preset", choices=sorted(PRESETS), default="quick",
                       help="quick: a few minutes on 2 CPU cores (default); full: the "
                       f"accuracy recipe ({_describe(PRESETS['full'])}). Options below "
                       "override single settings")
    train.add_argument("--data-dir", type=pathlib.Path, default=None,
                       help="dataset in the course layout (train/{Car,Truck}, "
                       f"valid/{{Car,Truck}}); default: {SHARED_DATA} when present, "
                       "otherwise synthetic images")
    train.add_argument("--synthetic", action="store_true",
                       help="train on generated images even when the shared dataset exists")
    train.add_argument("--weights", default=None,
                       help="transfer model's base weights: 'imagenet' (download), 'none' "
                       "(random) or a file path; default: the shared MobileNetV2 file when "
                       "present, else 'imagenet'")
    train.add_argument("--image-size", type=integer(32), default=None,
                       help="side of the square model input in pixels, >= 32 (default: "
                       "preset; 32 custom, 192 transfer for full)")
    train.add_argument("--epochs", type=integer(1), default=None,
                       help="training epochs (transfer: fine-tuning epochs of phase 2)")
    train.add_argument("--head-epochs", type=integer(0), default=None,
                       help="transfer only: epochs of phase 1 (head on the frozen base), "
                       ">= 0")
    train.add_argument("--batch-size", type=integer(1), default=None,
                       help="batch size, >= 1")
    train.add_argument("--learning-rate", type=positive_number, default=None,
                       help="peak learning rate, a finite number > 0 (custom: SGD; "
                       "transfer: Adam, phase 2)")
    train.add_argument("--seed", type=integer(0, 2**32 - 1), default=0,
                       help="seed of weights, shuffling, augmentation and synthetic data")
    train.add_argument("--output-dir", type=pathlib.Path,
                       default=pathlib.Path("runs/car_or_truck"),
                       help="where <model>/ folders go (default: runs/car_or_truck)")
    train.add_argument("--mixed-precision",
                       choices=("float32", "mixed_float16", "mixed_bfloat16", "auto"),
                       default=None, help="train under this Keras dtype policy (float16 on "
                       "GPUs; bfloat16 on CPUs with bfloat16 instructions and TPUs; auto: "
                       "keras_blocks.fast_precision picks); default: the preset's "
                       "(auto for the full custom recipe, float32 otherwise)")
    train.add_argument("--verbose", action="store_true",
                       help="Keras progress bars per step (default: one line per epoch)")
    add_on_error(train)

    evaluate = sub.add_parser(
        "evaluate", help="accuracy, per-class precision/recall, confusion matrix",
        description="Score a saved model on a dataset in the course layout.")
    evaluate.add_argument("model", type=pathlib.Path, help="a model.keras written by train")
    evaluate.add_argument("--data-dir", type=pathlib.Path, required=True,
                          help="the course layout (scores SPLIT/) or a folder of Car/ and "
                          "Truck/ folders")
    evaluate.add_argument("--split", type=folder_name, default="valid",
                          help="split to score (default: valid)")
    evaluate.add_argument("--batch-size", type=integer(1), default=128,
                          help="batch size, >= 1 (default: 128)")
    evaluate.add_argument("--output", type=pathlib.Path, default=None,
                          help="also write the metrics as JSON here")
    add_on_error(evaluate)

    predict = sub.add_parser(
        "predict", help="class and probability for images or folders of images",
        description="Print PATH, class and probability, one line per image.")
    predict.add_argument("model", type=pathlib.Path, help="a model.keras written by train")
    predict.add_argument("paths", nargs="+", metavar="PATH",
                         help="image files or folders (searched recursively)")
    predict.add_argument("--batch-size", type=integer(1), default=64,
                         help="batch size, >= 1 (default: 64)")
    add_on_error(predict)
    return parser


def add_on_error(parser):
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                        help="an image file that cannot be decoded: raise (stop, naming the "
                        "file; the default) or skip (leave it out, listing it on stderr)")


INTERRUPTS = Interrupts()


def main(argv=None):
    """Runs a command; returns the exit status: 0 done, 1 a run that could not finish,
    2 a bad argument or input file, 128 + the signal's number after SIGTERM or SIGINT.
    Argument errors found by argparse exit (`SystemExit`) with status 2."""
    args = build_parser().parse_args(argv)
    if args.command == "train" and args.weights is None:
        args.weights = default_weights()
    if "tensorflow" not in sys.modules:
        start_tensorflow_quietly()
    commands = {"train": command_train, "evaluate": command_evaluate,
                "predict": command_predict}
    prefix = f"car_or_truck {args.command}: error:"
    try:
        with INTERRUPTS:
            return commands[args.command](args)
    except UsageError as error:
        print(f"{prefix} {error}", file=sys.stderr)
        return 2
    except RunError as error:
        print(f"{prefix} {error}", file=sys.stderr)
        return 1
    except Terminated as stop:
        name = signal.Signals(stop.signum).name
        kept = ("; nothing of this run was kept (an earlier run's files are untouched)"
                if args.command == "train" else "")
        print(f"car_or_truck {args.command}: stopped by {name}{kept}", file=sys.stderr)
        return 128 + stop.signum

