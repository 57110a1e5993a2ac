"""Car or truck? The course's image classifier, assembled from keras_blocks.

Two models answer the course's question, "is this a picture of a car or of a truck?":

- `custom`: a small ResNet-style convnet stacked from keras_blocks blocks (ConvBlock,
  ResidualBlock) with a DenseHead, trained from scratch at the photos' native 32x32;
- `transfer`: a pretrained MobileNetV2 base (ImageNet weights) with a DenseHead,
  trained in two phases: the head on the frozen base, then the whole base fine-tuned
  with a lower learning rate (batch normalization kept in inference mode).

Input goes through `keras_blocks.make_pipeline` (decode and resize once, cache uint8,
reshuffle every epoch), augmentation through keras_blocks layers inside the model.

Commands:

    python examples/car_or_truck.py train                      # quick custom run
    python examples/car_or_truck.py train --model both --preset full
    python examples/car_or_truck.py evaluate runs/car_or_truck/custom/model.keras \\
        --data-dir ../shared/data/cifar10-car-truck
    python examples/car_or_truck.py predict runs/car_or_truck/custom/model.keras photo.jpg

Data: `--data-dir` takes any folder in the course layout (train/{Car,Truck},
valid/{Car,Truck}). Without it, ../shared/data/cifar10-car-truck (beside the repository)
is used when present; otherwise a small synthetic car/truck dataset is rendered
(`keras_blocks.make_synthetic_car_truck`), and the run says so before training.

Each trained model leaves, in OUTPUT_DIR/<model>/: model.keras (best epoch by validation
accuracy; loads with safe_mode=True once keras_blocks is imported), history.json,
metrics.json and figures/ (learning curves, confusion matrix, prediction grid, augmented
samples, feature maps). Files are written to a temporary folder and moved into place only
when the run succeeds, so a failed or interrupted run leaves nothing half-written.

Bad input: a bad flag value, path or file is reported in one line naming it (exit status
2); a run whose loss stops being finite is stopped, keeps the previous run's files and
exits with status 1; SIGTERM or Ctrl-C removes the staging folder (exit status 143 or
130). See "What happens with bad input" in docs/examples/car-or-truck.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pathlib
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data" / "cifar10-car-truck"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_no_top.weights.h5"
CLASS_NAMES = ("Car", "Truck")
MODELS = ("custom", "transfer")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

# Recipes. "quick" finishes in a few minutes on 2 CPU cores (the default); "full" is the
# measured accuracy recipe (see docs/examples/car-or-truck.md for its numbers).
PRESETS = {
    "quick": {
        "custom": {"image_size": 32, "epochs": 3, "widths": (16, 48, 48), "batch_size": 128,
                   "learning_rate": 0.1, "label_smoothing": 0.1},
        "transfer": {"image_size": 64, "head_epochs": 1, "epochs": 1, "batch_size": 64,
                     "learning_rate": 3e-4, "unfreeze": 4},
    },
    "full": {
        # Sized to train in under 20 minutes on 2 CPU cores (about 39 s an epoch).
        "custom": {"image_size": 32, "epochs": 30, "widths": (48, 128, 128), "batch_size": 128,
                   "learning_rate": 0.1, "label_smoothing": 0.1},
        # ImageNet features need the objects near their ImageNet scale: upscale 5x.
        "transfer": {"image_size": 160, "head_epochs": 1, "epochs": 12, "batch_size": 64,
                     "learning_rate": 3e-4, "unfreeze": None},
    },
}
SYNTHETIC_IMAGES_PER_CLASS = {"quick": 300, "full": 1500}
HEAD_LEARNING_RATE = 1e-3  # phase 1 of transfer learning


class UsageError(Exception):
    """A bad command line or input file: reported as one clear line, exit status 2."""


class RunError(Exception):
    """A run that cannot finish (it diverged, weights could not be downloaded): one
    clear line, exit status 1. Nothing of the run is kept; an older run stays."""


class Terminated(BaseException):
    """SIGTERM or SIGINT, raised in the main thread so that cleanups run."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


# --------------------------------------------------------------------------- helpers


def log(message):
    print(f"[car_or_truck] {message}", flush=True)


def note(message):
    print(f"[car_or_truck] note: {message}", file=sys.stderr, flush=True)


# Argument types: argparse reports their message after the flag's name, as in
# "argument --batch-size: must be an integer >= 1; got 0".


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


def write_json(path, data):
    """Strict JSON: NaN and infinities become null (json.dumps would write `NaN`)."""

    def finite(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        return value

    pathlib.Path(path).write_text(json.dumps(finite(data), indent=1, allow_nan=False))


def tf_message(error):
    """A TensorFlow error's message without the op prefix and the trailing ` name: `."""
    text = getattr(error, "message", None) or str(error)
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:\w+\](\s*name:.*)?$", "", text.strip())
    return text.strip() or type(error).__name__


def not_a_file(path):
    """Why `path`, which exists as a name, is not a readable file (or None)."""
    if path.is_symlink() and not path.exists():
        return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
    if path.is_dir():
        return "a directory, not an image file"
    if not path.is_file():
        return "not a regular file"
    return None


# --------------------------------------------------------------------------- signals and files


class Interrupts:
    """While active, SIGTERM and SIGINT raise `Terminated`, so that `finally` blocks
    remove the staging folder; inside `deferred()` they wait until the block ends (a
    swap of folders is never cut in half)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.deferring = False
        self.pending = None
        self.previous = {}

    def handle(self, signum, frame):
        if self.deferring:
            self.pending = signum
            return
        raise Terminated(signum)

    def __enter__(self):
        self.pending = None
        try:
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self.handle)
        except ValueError:  # not the main thread: leave the handlers alone
            pass
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()
        return False

    @contextlib.contextmanager
    def deferred(self):
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise Terminated(signum)


def remove(path):
    path = pathlib.Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def swap_into_place(staging, output_dir, names, rename=os.rename):
    """Moves `staging/<name>` to `output_dir/<name>` for each name, by renames only.

    Each existing `output_dir/<name>` is first renamed to a hidden backup beside it,
    then the new folder is renamed into place; backups are deleted only once every
    name is in place. If a rename fails, the renames done so far are undone in reverse
    order, so `output_dir` holds the old run, whole. (A process killed with SIGKILL in
    between leaves at most a `.<name>.previous-*` backup, the old run, whole.)
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    done, backups = [], []
    try:
        for name in names:
            target = output_dir / name
            if target.exists() or target.is_symlink():
                backup = output_dir / f".{name}.previous-{staging.name.lstrip('.')}"
                rename(target, backup)
                done.append((target, backup))
                backups.append(backup)
            rename(staging / name, target)
            done.append((staging / name, target))
    except BaseException as error:
        failed = []
        for source, destination in reversed(done):
            try:
                rename(destination, source)
            except OSError:
                failed.append(f"{destination} -> {source}")
        if failed:
            raise RunError(
                f"moving the new run into {output_dir} failed ({error!r}) and could not be "
                f"fully undone; move these back by hand (the .{{name}}.previous-* folders "
                f"hold the previous run, whole): {'; '.join(failed)}") from error
        raise
    for backup in backups:
        remove(backup)


def check_dataset(directory, splits=("train", "valid")):
    """The course layout: each split holds one non-empty folder per class."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise UsageError(f"--data-dir {directory}: no such directory")
    for split in splits:
        for name in CLASS_NAMES:
            folder = directory / split / name
            if not folder.is_dir():
                raise UsageError(
                    f"--data-dir {directory}: expected the course layout "
                    f"{'/'.join(splits)} x {'/'.join(CLASS_NAMES)} (train/Car, train/Truck, "
                    f"valid/Car, valid/Truck); {folder} is missing"
                )
            if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
                raise UsageError(f"--data-dir {directory}: {folder} holds no images")
    return directory


def resolve_weights(value):
    if value in ("imagenet", "none"):
        return None if value == "none" else "imagenet"
    path = pathlib.Path(value)
    if not path.is_file():
        raise UsageError(
            f"--weights {value}: no such file (give 'imagenet', 'none' or the path of a "
            "MobileNetV2 no-top weights file)"
        )
    return str(path)


def default_weights():
    return str(SHARED_WEIGHTS) if SHARED_WEIGHTS.is_file() else "imagenet"


def pipeline(folder, on_error="raise", **kwargs):
    """`make_pipeline(folder, ...)`, its data errors as one line naming the folder.

    The flags were validated before, so a `ValueError` here is about the files (a
    corrupt image, an empty class folder...). Skipped files are listed on stderr.
    """
    import warnings

    from keras_blocks import make_pipeline

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = make_pipeline(folder, on_error=on_error, **kwargs)
    except ValueError as error:
        message = str(error)
        if on_error == "raise" and ("on_error" in message or "decode" in message):
            message += " On the command line: --on-error skip."
        raise UsageError(f"data in {folder}: {message}") from error
    for warning in caught:
        if "skipped" in str(warning.message):
            note(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return dataset


def pipelines(data_dir, image_size, batch_size, seed, on_error="raise"):
    """Train and validation datasets of (uint8-valued float images, 0/1 labels)."""
    # Pixels stay in [0, 255]: both models scale them inside (the pretrained base with
    # its own preprocessing), so a saved model takes raw images.
    common = {"image_size": (image_size, image_size), "batch_size": batch_size,
              "label_mode": "binary", "class_names": list(CLASS_NAMES),
              "value_range": (0, 255), "on_error": on_error}
    train = pipeline(data_dir / "train", shuffle=True, seed=seed, **common)
    valid = pipeline(data_dir / "valid", shuffle=False, **common)
    return train, valid


def arrays(dataset, limit=None):
    """(images, labels) as NumPy arrays from a batched dataset."""
    import numpy as np

    images, labels = [], []
    count = 0
    for x, y in dataset:
        images.append(np.asarray(x))
        labels.append(np.asarray(y).reshape(-1))
        count += len(images[-1])
        if limit is not None and count >= limit:
            break
    images, labels = np.concatenate(images), np.concatenate(labels).astype("int64")
    return (images[:limit], labels[:limit]) if limit else (images, labels)


def augmentation(seed):
    """The augmentation inside the model: horizontal flips and shifts up to 1/8 of the
    side, fused into one resampling pass (active in training only)."""
    from keras_blocks import augment

    return augment.Pipeline(
        [augment.RandomFlip("horizontal"),
         augment.RandomTranslation(0.125, 0.125, fill_mode="reflect")],
        seed=seed, name="augmentation")


# --------------------------------------------------------------------------- models


def custom_model(image_size, widths, seed, train=None):
    """A small fast-CIFAR-style convnet from keras_blocks blocks, then a DenseHead.

    Patch whitening (fitted to the training images when `train` is given), then one
    stage per width: `ConvBlock(repeats=2, pool_at="first")`, i.e. convolution, 2x2 max
    pooling, then batch norm and ReLU, and a second convolution at the pooled size.
    """
    import keras

    from keras_blocks import DenseHead, PatchWhitening, build_classifier, build_conv_net

    whiten = PatchWhitening(patch_size=2, name="whiten")
    stage = {"name": "conv", "repeats": 2, "pool_at": "first", "norm": "batch",
             "norm_momentum": 0.9}
    base = build_conv_net(
        [keras.layers.Rescaling(1 / 255.0, name="scale_pixels"), whiten,
         keras.layers.ReLU(name="whiten_relu"),
         *({**stage, "filters": width} for width in widths)],
        input_shape=(image_size, image_size, 3),
        name="custom_base",
    )
    if train is not None:
        # The whitening filters come from the training photos' 2x2 patches, in the
        # [0, 1] scale the layer sees.
        whiten.adapt(images / 255.0 for images, _ in train)
    head = DenseHead(num_classes=1, pooling="max", name="head")
    return build_classifier(base, head, augmentation=augmentation(seed),
                            input_shape=(image_size, image_size, 3), name="car_or_truck_custom")


def transfer_model(image_size, weights, seed):
    """A pretrained MobileNetV2 base (preprocessing inside), then a DenseHead."""
    from keras_blocks import DenseHead, build_classifier

    head = DenseHead(num_classes=1, dropout=0.2, name="head")
    return build_classifier("mobilenet_v2", head, augmentation=augmentation(seed),
                            input_shape=(image_size, image_size, 3), weights=weights,
                            name="car_or_truck_transfer")


def cosine(learning_rate, steps, warmup=0):
    import keras

    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            learning_rate * 0.1, max(1, steps - warmup), warmup_target=learning_rate,
            warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps))


class EpochLine:
    """A keras callback printing one summary line per epoch (with elapsed time)."""

    def __new__(cls, phase, start):
        import keras

        class _EpochLine(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                log(f"{phase} epoch {epoch + 1}: loss {logs.get('loss', math.nan):.4f} "
                    f"accuracy {logs.get('accuracy', math.nan):.4f} val_accuracy "
                    f"{logs.get('val_accuracy', math.nan):.4f} ({time.time() - start:.0f}s)")

        return _EpochLine()


class DivergenceGuard:
    """`keras.callbacks.TerminateOnNaN` that remembers where: stops training at the
    first non-finite loss (per batch) or validation loss (per epoch), and records it in
    `stopped` as `(fit, epoch, step, name, value)` (`fit` counts the `model.fit` calls,
    2 being the fine-tuning phase of the transfer model; `step` is None at an epoch's
    end). Once stopped, later fits stop at their first step."""

    def __new__(cls):
        import keras

        class _DivergenceGuard(keras.callbacks.TerminateOnNaN):
            stopped = None
            fit = 0
            epoch = 0

            def on_train_begin(self, logs=None):
                self.fit += 1

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_batch_end(self, batch, logs=None):
                self._check((logs or {}).get("loss"), "loss", batch + 1)

            def on_epoch_end(self, epoch, logs=None):
                for key in ("loss", "val_loss"):
                    self._check((logs or {}).get(key), key, None)

            def _check(self, value, name, step):
                if self.stopped is None and value is not None:
                    value = float(value)
                    if not math.isfinite(value):
                        self.stopped = (self.fit, self.epoch + 1, step, name, value)
                if self.stopped is not None:
                    self.model.stop_training = True

        return _DivergenceGuard()


def train_custom(settings, train, valid, staging, verbose, guard=None):
    import keras

    from keras_blocks import compile_classifier

    model = custom_model(settings["image_size"], settings["widths"], settings["seed"], train)
    steps = len(train) * settings["epochs"]
    optimizer = keras.optimizers.SGD(
        cosine(settings["learning_rate"], steps, warmup=steps // 5),
        momentum=0.9, nesterov=True, weight_decay=5e-4)
    compile_classifier(model, optimizer,
                       loss=keras.losses.BinaryCrossentropy(
                           label_smoothing=settings["label_smoothing"]))
    log(f"custom: {model.count_params():,} weights; training {settings['epochs']} epochs "
        f"at {settings['image_size']}x{settings['image_size']}")
    start = time.time()
    history = model.fit(
        train, validation_data=valid, epochs=settings["epochs"], verbose=verbose,
        callbacks=[*([guard] if guard else []), checkpoint(staging), EpochLine("custom", start)])
    return history.history, []


def train_transfer(settings, train, valid, staging, verbose, guard=None):
    import keras

    from keras_blocks import fine_tune

    model = transfer_model(settings["image_size"], settings["weights"], settings["seed"])
    steps = len(train) * settings["epochs"]
    what = "all layers" if settings["unfreeze"] is None else f"top {settings['unfreeze']} blocks"
    log(f"transfer: MobileNetV2 base ({settings['weights_label']}) at "
        f"{settings['image_size']}x{settings['image_size']}; phase 1: head on the frozen base, "
        f"{settings['head_epochs']} epoch(s); phase 2: fine-tune {what}, "
        f"{settings['epochs']} epoch(s)")
    start = time.time()
    histories = fine_tune(
        model, train, validation_data=valid,
        head_epochs=settings["head_epochs"], fine_tune_epochs=settings["epochs"],
        unfreeze=settings["unfreeze"], unit="blocks",
        head_learning_rate=HEAD_LEARNING_RATE, fine_tune_learning_rate=settings["learning_rate"],
        # Phase 1 (the head's learning rate) is constant; phase 2 warms up over its first
        # tenth (a full-rate start knocks the pretrained features about), then decays to
        # zero along a cosine.
        optimizer=lambda lr: keras.optimizers.Adam(lr if lr == HEAD_LEARNING_RATE
                                                   else cosine(lr, steps, warmup=steps // 10)),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=0.1),
        callbacks=[*([guard] if guard else []), checkpoint(staging),
                   EpochLine("transfer", start)],
        verbose=verbose)
    merged = {}
    for key in histories.head.history.keys() | histories.fine_tune.history.keys():
        merged[key] = list(histories.head.history.get(key, [])) + list(
            histories.fine_tune.history.get(key, []))
    return merged, [settings["head_epochs"]] if settings["head_epochs"] else []


def checkpoint(staging):
    import keras

    return keras.callbacks.ModelCheckpoint(
        staging / "model.keras", monitor="val_accuracy", mode="max", save_best_only=True)


# --------------------------------------------------------------------------- evaluation


def predict_probabilities(model, images, batch_size=256):
    import numpy as np

    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0)).reshape(-1)


def classification_metrics(labels, probabilities):
    """Accuracy, per-class precision/recall and the confusion matrix."""
    import numpy as np

    from keras_blocks import confusion_matrix

    predicted = (probabilities > 0.5).astype("int64")
    matrix = confusion_matrix(labels, predicted, num_classes=len(CLASS_NAMES))
    per_class = {}
    for index, name in enumerate(CLASS_NAMES):
        tp = int(matrix[index, index])
        predicted_as = int(matrix[:, index].sum())
        actual = int(matrix[index].sum())
        per_class[name] = {
            "precision": tp / predicted_as if predicted_as else 0.0,
            "recall": tp / actual if actual else 0.0,
            "support": actual,
        }
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "images": len(labels),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "class_names": list(CLASS_NAMES),
    }


def print_metrics(metrics):
    log(f"accuracy {metrics['accuracy']:.4f} on {metrics['images']} images")
    for name, row in metrics["per_class"].items():
        log(f"  {name:6s} precision {row['precision']:.4f}  recall {row['recall']:.4f}  "
            f"({row['support']} images)")
    matrix = metrics["confusion_matrix"]
    log("  confusion matrix (rows: true, columns: predicted " + ", ".join(CLASS_NAMES) + ")")
    for name, row in zip(CLASS_NAMES, matrix, strict=True):
        log(f"  {name:6s} " + " ".join(f"{v:6d}" for v in row))


def draw_figures(model, history, phase_starts, images, labels, probabilities, figures, seed,
                 title):
    import numpy as np

    from keras_blocks import (
        find_base,
        plot_confusion_matrix,
        plot_feature_maps,
        plot_learning_curves,
        plot_predictions,
        show_augmentations,
    )

    plot_learning_curves(history, phase_starts=phase_starts, title=title,
                         path=figures / "learning_curves.png")
    plot_confusion_matrix(labels, (probabilities > 0.5).astype("int64"), CLASS_NAMES,
                          normalize=True, title=f"{title}: validation",
                          path=figures / "confusion_matrix.png")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), size=min(24, len(images)), replace=False)
    plot_predictions(images[pick], labels[pick], probabilities[pick], CLASS_NAMES, n=24,
                     columns=6, title=f"{title}: validation predictions (mistakes in red)",
                     path=figures / "predictions.png")
    wrong = np.flatnonzero((probabilities > 0.5).astype("int64") != labels)
    if len(wrong):
        plot_predictions(images[wrong], labels[wrong], probabilities[wrong], CLASS_NAMES, n=24,
                         columns=6, title=f"{title}: validation mistakes",
                         path=figures / "mistakes.png")
    # build_classifier's graph: image -> augmentation -> base -> head.
    augmenter, base = model.get_layer("augmentation"), find_base(model)
    show_augmentations(augmenter, images[pick[0]], n=16, path=figures / "augmented.png")
    plot_feature_maps(base, images[pick[0]], title=f"{title}: what the base sees",
                      path=figures / "feature_maps.png")


# --------------------------------------------------------------------------- commands


def command_train(args):
    import keras

    import keras_blocks  # noqa: F401  (registers the layers for loading)
    from keras_blocks import make_synthetic_car_truck
    from keras_blocks.models.pretrained import WeightsDownloadError

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
        if args.mixed_precision:
            keras.mixed_precision.set_global_policy(args.mixed_precision)
            log(f"mixed precision: {args.mixed_precision}")
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
            settings = dict(preset[name])
            for key in ("image_size", "epochs", "batch_size", "learning_rate"):
                value = getattr(args, key)
                if value is not None:
                    settings[key] = value
            if name == "transfer":
                if args.head_epochs is not None:
                    settings["head_epochs"] = args.head_epochs
                settings["weights"] = weights
                settings["weights_label"] = (
                    "random weights" if weights is None else
                    "ImageNet download" if weights == "imagenet" else weights)
            settings["seed"] = args.seed
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
        log(f"{name}: validation accuracy {metrics['accuracy']:.4f} (best epoch "
            f"{metrics['best_epoch']}), {metrics['train_seconds']:.0f}s of training -> "
            f"{output_dir / name}")
    return 0


def diverged(name, settings, stopped, previous):
    """The RunError for a run stopped by `DivergenceGuard`."""
    fit, epoch, step, key, value = stopped
    where = f"epoch {epoch}" + (f", step {step}" if step else "")
    rate = settings["learning_rate"]
    if name == "transfer":
        where = ("phase 1 (head), " if fit == 1 else "phase 2 (fine-tuning), ") + where
        rate = HEAD_LEARNING_RATE if fit == 1 else rate
    kept = (f"; {previous} still holds the previous run" if previous.exists() else "")
    return RunError(
        f"{name}: training diverged: the {'validation loss' if key == 'val_loss' else 'loss'} "
        f"became {value} at {where} (learning rate {rate:g}). Training stopped and nothing "
        f"of this run was kept{kept}. Try a lower --learning-rate.")


def run_training(name, settings, data_dir, synthetic, staging, args):
    import keras
    import numpy as np

    keras.utils.set_random_seed(settings["seed"])
    staging.mkdir(parents=True)
    figures = staging / "figures"
    log(f"== {name}: building the input pipeline ({settings['image_size']}px, batch "
        f"{settings['batch_size']})")
    train, valid = pipelines(data_dir, settings["image_size"], settings["batch_size"],
                             settings["seed"], on_error=args.on_error)
    verbose = 1 if args.verbose else 2
    wall, cpu = time.time(), time.process_time()
    trainer = train_custom if name == "custom" else train_transfer
    guard = DivergenceGuard()
    history, phase_starts = trainer(settings, train, valid, staging, verbose, guard)
    if guard.stopped is not None:
        raise diverged(name, settings, guard.stopped, args.output_dir / name)
    train_seconds, train_cpu = time.time() - wall, time.process_time() - cpu
    history = {k: [float(v) for v in vs] for k, vs in history.items()}
    log(f"== {name}: training took {train_seconds:.0f}s (process CPU {train_cpu:.0f}s); "
        "evaluating the best checkpoint")

    model = keras.saving.load_model(staging / "model.keras", safe_mode=True)
    images, labels = arrays(valid)
    probabilities = predict_probabilities(model, images)
    flipped = predict_probabilities(model, images[:, :, ::-1])
    metrics = classification_metrics(labels, probabilities)
    print_metrics(metrics)
    val = history.get("val_accuracy", [])
    metrics.update({
        "model": name,
        "best_epoch": int(np.argmax(val)) + 1 if val else None,
        "epochs": len(history.get("loss", [])),
        "flip_tta_accuracy": float(np.mean(((probabilities + flipped) / 2 > 0.5) == labels)),
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu,
        "data_dir": str(data_dir) if not synthetic else "synthetic",
        "synthetic_data": synthetic,
        "skipped_files": [str(path) for dataset in (train, valid)
                          for path, _ in getattr(dataset, "skipped_files", ())],
        "settings": {k: v for k, v in settings.items() if k != "weights"},
        "preset": args.preset,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg")
                    else None,
                    "backend": keras.backend.backend(), "keras": keras.__version__},
    })
    write_json(staging / "history.json", {**history, "phase_starts": phase_starts})
    write_json(staging / "metrics.json", metrics)
    log(f"== {name}: drawing figures")
    draw_figures(model, history, phase_starts, images, labels, probabilities, figures,
                 settings["seed"], f"{name} ({'synthetic data' if synthetic else 'validation'})")
    return metrics


def load_trained(path):
    """A model saved by `train`, or a UsageError naming the file and what is wrong."""
    import keras

    import keras_blocks  # noqa: F401  (registers the layers for safe loading)

    path = pathlib.Path(path)
    why = not_a_file(path) if path.exists() or path.is_symlink() else "no such file"
    if why is None and path.stat().st_size == 0:
        why = "not a valid Keras model: the file is empty"
    if why is None and path.suffix == ".keras" and not zipfile.is_zipfile(path):
        why = ("not a valid Keras model: a .keras file is a zip archive and this one is not "
               "(truncated, or another kind of file)")
    if why is not None:
        raise UsageError(f"MODEL {path}: {why} (give a model.keras written by `train`)")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # a corrupt or foreign file: say which
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise UsageError(f"MODEL {path}: not a valid Keras model ({reason})") from error
    shape = getattr(model, "input_shape", None)
    if (not isinstance(shape, tuple) or len(shape) != 4 or None in shape[1:]
            or tuple(model.output_shape[1:]) != (1,)):
        raise UsageError(
            f"MODEL {path}: not a car-or-truck model (expected input (None, height, width, 3) "
            f"and output (None, 1); it has {shape} and {model.output_shape})")
    return model


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
    dataset = pipeline(folder, on_error=args.on_error, image_size=tuple(size),
                       batch_size=args.batch_size, shuffle=False, label_mode="binary",
                       class_names=list(CLASS_NAMES))
    images, labels = arrays(dataset)
    metrics = classification_metrics(labels, predict_probabilities(model, images))
    metrics["skipped_files"] = [str(path) for path, _ in getattr(dataset, "skipped_files", ())]
    log(f"{args.model} on {folder}:")
    print_metrics(metrics)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.output, metrics)
    return 0


def image_files(paths):
    """The image files named by PATH arguments (folders searched recursively, without
    following links to folders). Names with an image suffix that are not files (a
    folder called x.jpg, a broken link) are left out with a note."""
    files = []
    for given in paths:
        path = pathlib.Path(given)
        if path.is_dir():
            found = []
            for candidate in sorted(path.rglob("*")):
                if candidate.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                why = not_a_file(candidate)
                if why is None:
                    found.append(candidate)
                else:
                    note(f"skipped {candidate}: {why}")
            if not found:
                raise UsageError(f"PATH {path}: the folder holds no image files "
                                 f"({', '.join(IMAGE_SUFFIXES)})")
            files += found
        elif path.exists() or path.is_symlink():
            why = not_a_file(path)
            if why is not None:
                raise UsageError(f"PATH {path}: {why}")
            files.append(path)
        else:
            raise UsageError(f"PATH {path}: no such file or directory")
    return files


def command_predict(args):
    import numpy as np
    import tensorflow as tf

    model = load_trained(args.model)
    files = image_files(args.paths)
    height, width = model.input_shape[1:3]
    skipped = 0
    for start in range(0, len(files), args.batch_size):
        chunk, batch = [], []
        for path in files[start:start + args.batch_size]:
            try:
                image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3,
                                           expand_animations=False)
            except tf.errors.OpError as error:  # corrupt, unreadable, vanished
                message = f"PATH {path}: not a readable image ({tf_message(error)})"
                if args.on_error == "raise":
                    raise UsageError(message + "; --on-error skip leaves such files out") \
                        from None
                note(f"skipped {message}")
                skipped += 1
                continue
            chunk.append(path)
            batch.append(tf.image.resize(image, (height, width)).numpy())
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


# --------------------------------------------------------------------------- CLI


def build_parser():
    parser = Parser(
        prog="car_or_truck.py",
        description=__doc__.split("\n\n")[0] + " Commands: train, evaluate, predict "
        "(`car_or_truck.py COMMAND --help` explains each).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train", help="train the custom and/or transfer model",
        description="Train, evaluate on valid/, and save the model, history, metrics and "
        "figures under OUTPUT_DIR/<model>/.")
    train.add_argument("--model", choices=("custom", "transfer", "both"), default="custom",
                       help="custom: ResNet-style convnet from keras_blocks blocks, from "
                       "scratch; transfer: pretrained MobileNetV2 + head, two phases; both: "
                       "one after the other (default: custom)")
    train.add_argument("--preset", choices=sorted(PRESETS), default="quick",
                       help="quick: a few minutes on 2 CPU cores (default); full: the "
                       "accuracy recipe (custom: widths 48-128-128, 30 epochs at 32px; "
                       "transfer: 1+8 epochs at 160px). Options below override single settings")
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
                       "preset; 32 custom, 160 transfer for full)")
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
    train.add_argument("--mixed-precision", choices=("mixed_float16", "mixed_bfloat16"),
                       default=None, help="train under this Keras dtype policy (float16 on "
                       "GPUs; bfloat16 on recent CPUs and TPUs); default: float32")
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
    commands = {"train": command_train, "evaluate": command_evaluate,
                "predict": command_predict}
    prefix = f"car_or_truck.py {args.command}: error:"
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
        print(f"car_or_truck.py {args.command}: stopped by {name}{kept}", file=sys.stderr)
        return 128 + stop.signum


if __name__ == "__main__":
    sys.exit(main())
