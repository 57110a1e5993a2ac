"""Plots of a training run: learning curves, confusion matrix, prediction grid.

matplotlib is imported inside the functions, so importing keras_blocks stays light.
Every function returns the matplotlib `Figure` and, with `path`, also saves it (the
folder is created; the figure is closed after saving so loops do not leak memory).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

_ACCURACY_KEYS = (
    "binary_accuracy",
    "accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
)


def _history_dict(history, owner):
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history
    if not isinstance(history, Mapping) or not history:
        raise ValueError(
            f"{owner}: `history` must be a keras History or a non-empty dict of metric name "
            f"to per-epoch values; got {type(history).__name__}."
        )
    out = {}
    for key, values in history.items():
        if (
            key == "phase_starts"
            or isinstance(values, str)
            or not isinstance(values, Sequence | np.ndarray)
        ):
            continue  # metadata, not a curve
        out[key] = [float(v) for v in values]
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise ValueError(
            f"{owner}: every curve in `history` must have one value per epoch; got lengths "
            f"{ {k: len(v) for k, v in out.items()} }."
        )
    return out


def _finish(fig, path):
    if path is not None:
        import matplotlib.pyplot as plt

        path = pathlib.Path(os.fspath(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig


def plot_learning_curves(history, *, metric="auto", phase_starts=(), title=None, path=None):
    """Loss and accuracy per epoch, training vs. validation, as the course plots them.

    The course draws two charts from `pd.DataFrame(history.history)`: `loss` with
    `val_loss`, and `binary_accuracy` with `val_binary_accuracy`. This draws the same two
    side by side, marks the best validation epoch, and draws a dashed line where a new
    training phase starts (for example fine-tuning after training the head).

    Args:
        history: a `keras.callbacks.History` or a dict of metric name to per-epoch values
            (such as a saved `history.json`). Non-list entries are ignored.
        metric: the accuracy-like metric to draw; `"auto"` picks the first of
            `binary_accuracy`, `accuracy`, `categorical_accuracy`,
            `sparse_categorical_accuracy` present. `None` draws the loss only.
        phase_starts: epoch indices (0-based) where a new phase begins; default: the
            `"phase_starts"` entry of a `history` dict (as the car-or-truck example
            saves it), else none.
        title: a title over both charts.
        path: save the figure here (PNG, SVG, PDF: from the suffix).

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: `history` is empty or malformed, has no `loss`, or lacks `metric`.

    Example:
        ```python
        from keras_blocks import plot_learning_curves

        history = {"loss": [0.7, 0.5, 0.4], "val_loss": [0.68, 0.55, 0.5],
                   "binary_accuracy": [0.55, 0.75, 0.82],
                   "val_binary_accuracy": [0.6, 0.72, 0.8]}
        fig = plot_learning_curves(history, path="curves.png")
        ```
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    owner = "plot_learning_curves"
    curves = _history_dict(history, owner)
    if not phase_starts and isinstance(history, Mapping):
        phase_starts = history.get("phase_starts") or ()
    if "loss" not in curves:
        raise ValueError(f"{owner}: `history` has no 'loss' curve; keys: {sorted(curves)}.")
    if metric == "auto":
        metric = next((k for k in _ACCURACY_KEYS if k in curves), None)
    elif metric is not None and metric not in curves:
        raise ValueError(
            f"{owner}: `metric` {metric!r} is not in `history`; keys: {sorted(curves)}."
        )
    panels = [("loss", "Loss")] + (
        [(metric, metric.replace("_", " ").capitalize())] if metric else []
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    epochs = np.arange(1, len(curves["loss"]) + 1)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        ax.plot(epochs, curves[key], label="training", color="tab:blue")
        val = curves.get(f"val_{key}")
        if val is not None:
            ax.plot(epochs, val, label="validation", color="tab:orange")
            best = int(np.argmin(val) if key == "loss" else np.argmax(val))
            ax.scatter(
                [epochs[best]],
                [val[best]],
                color="tab:orange",
                zorder=3,
                label=f"best validation: {val[best]:.4g} (epoch {epochs[best]})",
            )
        for start in phase_starts:
            ax.axvline(start + 0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return _finish(fig, path)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts of (true class, predicted class) pairs as an integer matrix.

    Args:
        y_true: integer class indices, shape `(n,)`.
        y_pred: integer class indices, shape `(n,)`.
        num_classes: size of the matrix; `None` infers `max(label) + 1`.

    Returns:
        An `(num_classes, num_classes)` int64 array; rows are true classes, columns
        predicted classes.

    Raises:
        ValueError: shapes differ, labels are negative or not integers, or a label is
            `>= num_classes`.

    Example:
        ```python
        from keras_blocks import confusion_matrix

        confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1])  # [[1, 1], [0, 2]]
        ```
    """
    owner = "confusion_matrix"
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{owner}: `y_true` and `y_pred` must have the same length; got {y_true.shape[0]} "
            f"and {y_pred.shape[0]}."
        )
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.size and (not np.all(np.equal(np.mod(values, 1), 0)) or values.min() < 0):
            raise ValueError(f"{owner}: `{name}` must hold class indices (integers >= 0).")
    y_true, y_pred = y_true.astype(np.int64), y_pred.astype(np.int64)
    top = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    if num_classes is None:
        num_classes = max(top, 1)
    elif top > num_classes:
        raise ValueError(
            f"{owner}: a label is {top - 1} but `num_classes` is {num_classes}; labels must "
            f"be in [0, {num_classes})."
        )
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def plot_confusion_matrix(y_true, y_pred, class_names, *, normalize=False, title=None, path=None):
    """A confusion matrix as a labelled heat map (rows: true class; columns: predicted).

    Args:
        y_true: integer class indices.
        y_pred: integer class indices (for a sigmoid output, `probability > 0.5`).
        class_names: one name per class, in index order.
        normalize: `True` shows each row as fractions of its true class (recall on the
            diagonal); counts are printed either way.
        title: chart title; the default states the accuracy.
        path: save the figure here.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: see [`confusion_matrix`][keras_blocks.confusion_matrix]; also when a
            label has no name in `class_names`.

    Example:
        ```python
        from keras_blocks import plot_confusion_matrix

        fig = plot_confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], ["Car", "Truck"])
        ```
    """
    import matplotlib.pyplot as plt

    class_names = [str(c) for c in class_names]
    matrix = confusion_matrix(y_true, y_pred, num_classes=len(class_names))
    totals = matrix.sum(axis=1, keepdims=True)
    shown = matrix / np.maximum(totals, 1) if normalize else matrix
    size = max(3.5, 1.1 * len(class_names) + 1.5)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(shown, cmap="Blues", vmin=0)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45 if len(class_names) > 4 else 0)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = shown.max() if shown.size else 1
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            text = f"{matrix[i, j]}" + (f"\n{shown[i, j]:.1%}" if normalize else "")
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                color="white" if shown[i, j] > 0.6 * peak else "black",
            )
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(title or f"accuracy {accuracy:.2%} ({matrix.sum()} images)")
    fig.tight_layout()
    return _finish(fig, path)


def plot_predictions(
    images,
    y_true,
    probabilities,
    class_names,
    *,
    n=16,
    columns=4,
    mistakes_first=False,
    title=None,
    path=None,
):
    """A grid of images titled with the predicted class and its probability.

    Correct predictions are titled in green; mistakes in red, with a red frame and the
    true class, so errors stand out at a glance.

    Args:
        images: `(N, H, W, 3)` array, uint8 or float in [0, 255] or [0, 1].
        y_true: `(N,)` integer class indices.
        probabilities: `(N,)` sigmoid outputs (probability of class 1) or `(N, C)`
            softmax outputs.
        class_names: one name per class, in index order.
        n: how many images to draw (the first `n`, or fewer if fewer are given).
        columns: images per row.
        mistakes_first: put the mistakes first (useful to inspect errors).
        title: a title over the grid.
        path: save the figure here.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: lengths differ, images are not `(N, H, W, C)`, or `n`/`columns` < 1.

    Example:
        ```python
        import numpy as np
        from keras_blocks import plot_predictions

        images = np.random.randint(0, 255, (4, 32, 32, 3), "uint8")
        fig = plot_predictions(images, [0, 1, 1, 0], [0.1, 0.8, 0.3, 0.6], ["Car", "Truck"])
        ```
    """
    import matplotlib.pyplot as plt

    from keras_blocks import _validation as check

    owner = "plot_predictions"
    n = check.positive_int(owner, "n", n)
    columns = check.positive_int(owner, "columns", columns)
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{owner}: `images` must be (N, H, W, C); got shape {images.shape}.")
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim == 2 and probabilities.shape[1] == 1:
        probabilities = probabilities[:, 0]
    if not (len(images) == len(y_true) == len(probabilities)):
        raise ValueError(
            f"{owner}: `images`, `y_true` and `probabilities` must have the same length; got "
            f"{len(images)}, {len(y_true)} and {len(probabilities)}."
        )
    if probabilities.ndim == 1:
        predicted = (probabilities > 0.5).astype(np.int64)
        confidence = np.where(predicted == 1, probabilities, 1 - probabilities)
    else:
        predicted = probabilities.argmax(axis=1)
        confidence = probabilities.max(axis=1)
    order = np.arange(len(images))
    if mistakes_first:
        order = np.concatenate([order[predicted != y_true], order[predicted == y_true]])
    order = order[:n]
    rows = max(1, int(np.ceil(len(order) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    shown = images.astype(np.float32)
    if shown.max(initial=0) > 1.0:
        shown = shown / 255.0
    shown = np.clip(shown, 0, 1)
    names = [str(c) for c in class_names]
    for ax in axes.ravel():
        ax.axis("off")
    for ax, index in zip(axes.ravel(), order, strict=False):
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.imshow(shown[index].squeeze(), cmap="gray" if shown.shape[-1] == 1 else None)
        right = predicted[index] == y_true[index]
        label = f"{names[predicted[index]]} {confidence[index]:.0%}"
        if not right:
            label += f"\n(true: {names[y_true[index]]})"
        ax.set_title(label, fontsize=9, color="green" if right else "red")
        for spine in ax.spines.values():
            spine.set_edgecolor("green" if right else "red")
            spine.set_linewidth(1 if right else 3)
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return _finish(fig, path)
