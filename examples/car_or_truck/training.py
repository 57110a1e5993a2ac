"""The two models and how they train (one readable line per epoch)."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time

import keras

from .data import arrays, augmentation, pipelines
from .evaluation import classification_metrics, draw_figures, predict_probabilities, print_metrics
from .recipes import HEAD_LEARNING_RATE
from .runs import RunError, log, write_json


def custom_model(image_size, widths, seed, train=None, augment=True, erasing=0.0):
    """A small fast-CIFAR-style convnet from keras_blocks blocks, then a DenseHead (the
    example's augmentation first unless `augment=False`).

    Patch whitening (fitted to the training images when `train` is given), then one
    stage per width: `ConvBlock(repeats=2, pool_at="first")`, i.e. convolution, 2x2 max
    pooling, then batch norm and ReLU, and a second convolution at the pooled size.
    """
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
        whiten.adapt(keras.ops.cast(images, "float32") / 255.0 for images, _ in train)
    head = DenseHead(num_classes=1, pooling="max", name="head")
    return build_classifier(base, head,
                            augmentation=augmentation(seed, erasing) if augment else None,
                            input_shape=(image_size, image_size, 3), name="car_or_truck_custom")


def transfer_model(image_size, weights, seed, augment=True):
    """A pretrained MobileNetV2 base (preprocessing inside), then a DenseHead (the
    example's augmentation first unless `augment=False`)."""
    from keras_blocks import DenseHead, build_classifier

    head = DenseHead(num_classes=1, dropout=0.2, name="head")
    return build_classifier("mobilenet_v2", head,
                            augmentation=augmentation(seed) if augment else None,
                            input_shape=(image_size, image_size, 3), weights=weights,
                            name="car_or_truck_transfer")


def cosine(learning_rate, steps, warmup=0):
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            learning_rate * 0.1, max(1, steps - warmup), warmup_target=learning_rate,
            warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps))


class EpochLine(keras.callbacks.Callback):
    """Prints one summary line per epoch (with the time since `start`)."""

    def __init__(self, phase, start):
        super().__init__()
        self.phase, self.start = phase, start

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        log(f"{self.phase} epoch {epoch + 1}: loss {logs.get('loss', math.nan):.4f} "
            f"accuracy {logs.get('accuracy', math.nan):.4f} val_accuracy "
            f"{logs.get('val_accuracy', math.nan):.4f} ({time.time() - self.start:.0f}s)")


class DivergenceGuard(keras.callbacks.TerminateOnNaN):
    """`keras.callbacks.TerminateOnNaN` that remembers where: stops training at the
    first non-finite loss (per batch) or validation loss (per epoch), and records it in
    `stopped` as `(fit, epoch, step, name, value)` (`fit` counts the `model.fit` calls,
    2 being the fine-tuning phase of the transfer model; `step` is None at an epoch's
    end). Once stopped, later fits stop at their first step."""

    def __init__(self):
        super().__init__()
        self.stopped = None
        self.fit = 0
        self.epoch = 0

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


def train_custom(settings, train, valid, staging, verbose, guard=None):
    from keras_blocks import WeightEMA, compile_classifier

    model = custom_model(settings.image_size, settings.widths, settings.seed, train,
                         erasing=settings.erasing)
    steps = len(train) * settings.epochs
    optimizer = keras.optimizers.SGD(
        cosine(settings.learning_rate, steps, warmup=steps // 5),
        momentum=0.9, nesterov=True, weight_decay=5e-4)
    compile_classifier(model, optimizer,
                       loss=keras.losses.BinaryCrossentropy(
                           label_smoothing=settings.label_smoothing))
    # The average of the weights is validated each epoch and kept at the end (not chosen
    # by validation accuracy: it is the last epoch's average).
    ema = [] if settings.ema_decay is None else [WeightEMA(settings.ema_decay, warmup=True)]
    log(f"custom: {model.count_params():,} weights; training {settings.epochs} epochs "
        f"at {settings.image_size}x{settings.image_size}"
        + (f", weight EMA {settings.ema_decay}" if ema else ""))
    start = time.time()
    history = model.fit(
        train, validation_data=valid, epochs=settings.epochs, verbose=verbose,
        shuffle=False,  # the pipeline reshuffles each epoch; Keras warns if asked to
        callbacks=[*([guard] if guard else []), *ema, checkpoint(staging),
                   EpochLine("custom", start)])
    if ema and (guard is None or guard.stopped is None):
        # ModelCheckpoint saved the training weights; the model now holds the average.
        model.save(staging / "model.keras")
    return history.history, []


def train_transfer(settings, train, valid, staging, verbose, guard=None):
    from keras_blocks import fine_tune

    model = transfer_model(settings.image_size, settings.weights, settings.seed)
    steps = len(train) * settings.epochs
    what = "all layers" if settings.unfreeze is None else f"top {settings.unfreeze} blocks"
    log(f"transfer: MobileNetV2 base ({settings.weights_label}) at "
        f"{settings.image_size}x{settings.image_size}; phase 1: head on the frozen base, "
        f"{settings.head_epochs} epoch(s); phase 2: fine-tune {what}, "
        f"{settings.epochs} epoch(s)")
    start = time.time()
    histories = fine_tune(
        model, train, validation_data=valid,
        head_epochs=settings.head_epochs, fine_tune_epochs=settings.epochs,
        unfreeze=settings.unfreeze, unit="blocks",
        head_learning_rate=HEAD_LEARNING_RATE, fine_tune_learning_rate=settings.learning_rate,
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
    return merged, [settings.head_epochs] if settings.head_epochs else []


def checkpoint(staging):
    """Saves the model after every epoch, so model.keras is the last epoch's: choosing an
    epoch by validation accuracy would select on the set the run reports."""
    return keras.callbacks.ModelCheckpoint(staging / "model.keras", save_best_only=False)


def diverged(name, settings, stopped, previous):
    """The RunError for a run stopped by `DivergenceGuard`."""
    fit, epoch, step, key, value = stopped
    where = f"epoch {epoch}" + (f", step {step}" if step else "")
    rate = settings.learning_rate
    if name == "transfer":
        where = ("phase 1 (head), " if fit == 1 else "phase 2 (fine-tuning), ") + where
        rate = HEAD_LEARNING_RATE if fit == 1 else rate
    kept = (f"; {previous} still holds the previous run" if previous.exists() else "")
    return RunError(
        f"{name}: training diverged: the {'validation loss' if key == 'val_loss' else 'loss'} "
        f"became {value} at {where} (learning rate {rate:g}). Training stopped and nothing "
        f"of this run was kept{kept}. Try a lower --learning-rate.")


def run_training(name, settings, data_dir, synthetic, staging, args):
    """Trains one model under its dtype policy (the global policy is restored after)."""
    from keras_blocks import fast_precision

    policy = args.mixed_precision or settings.precision
    policy = fast_precision() if policy == "auto" else policy
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    if policy != "float32":
        log(f"mixed precision: {policy}")
    try:
        return _run_training(name, settings, data_dir, synthetic, staging, args, policy)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _run_training(name, settings, data_dir, synthetic, staging, args, policy):
    import numpy as np

    from keras_blocks import tta_views

    keras.utils.set_random_seed(settings.seed)
    staging.mkdir(parents=True)
    figures = staging / "figures"
    log(f"== {name}: building the input pipeline ({settings.image_size}px, batch "
        f"{settings.batch_size})")
    # Training time counts from here: the pipeline's build pass (decoding every image
    # once) is part of it, as it is of the course recipe's first epoch.
    wall, cpu = time.time(), time.process_time()
    train, valid = pipelines(data_dir, settings.image_size, settings.batch_size,
                             settings.seed, on_error=args.on_error)
    # One line per epoch (EpochLine) by default; Keras' progress bars with --verbose.
    verbose = 1 if args.verbose else 0
    trainer = train_custom if name == "custom" else train_transfer
    guard = DivergenceGuard()
    history, phase_starts = trainer(settings, train, valid, staging, verbose, guard)
    if guard.stopped is not None:
        raise diverged(name, settings, guard.stopped, args.output_dir / name)
    train_seconds, train_cpu = time.time() - wall, time.process_time() - cpu
    history = {k: [float(v) for v in vs] for k, vs in history.items()}
    log(f"== {name}: training took {train_seconds:.0f}s (process CPU {train_cpu:.0f}s); "
        "evaluating the last epoch")

    model = keras.saving.load_model(staging / "model.keras", safe_mode=True)
    images, labels = arrays(valid)
    # Each view predicted once: the photos, their mirror images, then both shifted one
    # pixel down-right and up-left (tta_views' order; what predict_tta averages).
    views = [np.asarray(predict_probabilities(model, view), "float64")
             for view in tta_views(images, flip=True, shift=1)]
    probabilities = views[0].astype("float32")
    metrics = classification_metrics(labels, probabilities)

    def tta_accuracy(count):
        averaged = (sum(views[:count]) / count).astype("float32")
        return float(np.mean((averaged > 0.5) == labels))

    print_metrics(metrics)
    val = history.get("val_accuracy", [])
    metrics.update({
        "model": name,
        "best_epoch": int(np.argmax(val)) + 1 if val else None,
        "epochs": len(history.get("loss", [])),
        # Test-time augmentation (keras_blocks.predict_tta), reported beside the plain
        # accuracy above, never instead of it: flips; flips and 1-pixel shifts (6 views).
        "flip_tta_accuracy": tta_accuracy(2),
        "tta_accuracy": tta_accuracy(6),
        "precision": policy,
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu,
        "data_dir": str(data_dir) if not synthetic else "synthetic",
        "synthetic_data": synthetic,
        "skipped_files": [str(path) for dataset in (train, valid)
                          for path, _ in getattr(dataset, "skipped_files", ())],
        "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k != "weights"},
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
                 settings.seed, f"{name} ({'synthetic data' if synthetic else 'validation'})")
    return metrics

