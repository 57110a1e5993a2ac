"""Scoring a trained model and drawing its figures."""

from __future__ import annotations

import pathlib
import zipfile

from .recipes import CLASS_NAMES
from .runs import UsageError, log, not_a_file


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

