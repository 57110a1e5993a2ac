"""One representative configuration of every public keras_blocks layer, for every backend.

`tests/test_backends.py` discovers the public layers from `keras_blocks.__all__` (every
name that is a subclass of `keras.layers.Layer`) and requires an entry here for each one,
so a new layer cannot escape the backend checks silently: add it to `LAYER_CASES` with a
small configuration that exercises its main code path (normalization, dropout,
randomness), and the arguments `tests.layer_checks.run_layer_checks` needs.

A layer that cannot run on a backend goes in `EXPECTED_FAILURES` with the reason, and
its class docstring must name that backend and say why. The test checks both ways: a
listed layer that passes fails the test (remove the entry), and so does an unlisted one
that fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """How to check one layer: constructor arguments, input shape, and checker options.

    `checks` are keyword arguments of `run_layer_checks` (`training_differs`,
    `input_range`, `mixed_output_dtype`, ...). `runner`, when set, names a function in
    `tests.backend_checks.special_cases` used instead of `run_layer_checks`, for layers
    whose call takes more than an image batch (labels for MixUp/CutMix, for example).
    """

    kwargs: dict[str, Any] | Callable[[], dict[str, Any]]
    input_shape: tuple[int, ...]
    checks: dict[str, Any] = dataclasses.field(default_factory=dict)
    runner: str | None = None


def _inference_mode_kwargs():
    from keras_blocks import ConvBlock

    # Batch norm and dropout inside: InferenceMode must keep both in inference mode.
    return {"layer": ConvBlock(3, norm="batch", dropout=0.5)}


def _counts(weights: tuple[int, int], seed_generators: int) -> dict[str, Any]:
    """The weight and seed-generator counts `run_layer_checks` asserts (counted by hand)."""
    return {"expected_weights": weights, "expected_seed_generators": seed_generators}


# Small images and few filters: every case runs in a few seconds on one CPU core.
LAYER_CASES: dict[str, LayerCase] = {
    "ConvBlock": LayerCase(
        {"filters": 4, "repeats": 2, "norm": "batch", "dropout": 0.25},
        (2, 9, 11, 3),
        {"training_differs": True, **_counts((6, 4), 1)},
    ),
    "ConvNeXtBlock": LayerCase(
        {"drop_path": 0.5, "layer_scale_init": 1.0, "seed": 4, "kernel_size": 3,
         "expansion": 2},
        (4, 7, 5, 4),
        {"training_differs": True, **_counts((9, 0), 1)},
    ),
    "DenseHead": LayerCase(
        {"num_classes": 3, "units": (6,), "dropout": 0.5, "norm": "batch",
         "pooling": "avgmax"},
        (2, 4, 4, 5),
        {"training_differs": True, "expected_output_shape": (2, 3),
         "mixed_output_dtype": "float32", **_counts((5, 2), 2)},
    ),
    "PatchWhitening": LayerCase(
        {"patch_size": 2},
        (2, 7, 9, 3),
        {"expected_output_shape": (2, 6, 8, 24), **_counts((0, 2), 0)},
    ),
    "FireBlock": LayerCase(
        {"squeeze": 3, "expand": (4, 5), "norm": "batch"},
        (2, 7, 9, 6),
        {"training_differs": True, "expected_output_shape": (2, 7, 9, 9),
         **_counts((9, 6), 0)},
    ),
    "ImagePreprocessing": LayerCase(
        {"mode": "caffe"},
        (2, 5, 6, 3),
        {"input_range": (0.0, 255.0), **_counts((0, 0), 0)},
    ),
    "InvertedResidual": LayerCase(
        {"filters": 8, "strides": 2, "se_ratio": 0.25, "activation": "swish",
         "padding": "mobilenet", "kernel_size": 5, "drop_path": 0.5},
        (2, 9, 11, 6),
        # No residual (stride 2): drop_path makes no generator.
        {"training_differs": True, **_counts((13, 6), 0)},
    ),
    "ResidualBlock": LayerCase(
        {"filters": 2, "variant": "bottleneck", "strides": 2, "drop_path": 0.3, "seed": 1},
        (4, 9, 11, 3),
        {"training_differs": True, **_counts((12, 8), 1)},
    ),
    "SqueezeExcite": LayerCase(
        {"squeeze_channels": 3, "gate": "hard_sigmoid", "divisor": 4},
        (2, 7, 9, 12),
        _counts((4, 0), 0),
    ),
    "InferenceMode": LayerCase(
        _inference_mode_kwargs,
        (2, 6, 6, 3),
        {"mixed_output_dtype": "float32", **_counts((3, 2), 1)},
    ),
    # Augmentation: arguments that surely change a small batch in training.
    **{
        name: LayerCase(kwargs, (3, 13, 17, 3), {"training_differs": True,
                                                "input_range": value_range,
                                                **_counts((0, 0), seeds)})
        for name, kwargs, value_range, seeds in [
            ("RandomFlip", {"mode": "horizontal_and_vertical", "probability": 1.0, "seed": 3},
             (0.0, 1.0), 1),
            ("RandomRotation", {"factor": (0.05, 0.2), "seed": 1}, (0.0, 1.0), 1),
            ("RandomTranslation", {"height_factor": (0.1, 0.2), "width_factor": 0.1,
                                   "seed": 1}, (0.0, 1.0), 1),
            ("RandomWidth", {"factor": (0.2, 0.3), "fill_mode": "constant", "seed": 1},
             (0.0, 1.0), 1),
            ("RandomZoom", {"height_factor": (0.2, 0.3), "width_factor": (-0.3, -0.2),
                            "seed": 1}, (0.0, 1.0), 1),
            ("RandomShear", {"x_factor": (0.2, 0.3), "y_factor": 0.1,
                             "interpolation": "nearest", "seed": 1}, (0.0, 1.0), 1),
            ("RandomContrast", {"factor": (0.3, 0.5), "value_range": (0, 1), "seed": 1},
             (0.0, 1.0), 1),
            ("RandomBrightness", {"factor": (0.1, 0.2), "value_range": (0, 1), "seed": 1},
             (0.0, 0.5), 1),
            ("RandomErasing", {"probability": 1.0, "scale": (0.2, 0.4), "value_range": (0, 1),
                               "seed": 1}, (0.5, 1.0), 1),
            ("RandAugment", {"num_ops": 2, "factor": (0.5, 0.9), "seed": 2},
             (0.0, 255.0), 1),
            ("Pipeline", {"layers": [{"name": "flip", "mode": "horizontal", "probability": 1.0},
                                     {"name": "rotation", "factor": 0.2},
                                     {"name": "contrast", "factor": 0.3,
                                      "value_range": (0, 1)}],
                          "seed": 0}, (0.0, 1.0), 4),  # its own + one per layer
            ("KerasCVLayer", {"layer": "RandomSharpness",
                              "arguments": {"factor": 0.5, "value_range": (0, 1)}},
             (0.0, 1.0), 1),
        ]
    },
    "RandomResizedCrop": LayerCase(
        {"height": 9, "width": 11, "seed": 0},
        (2, 15, 13, 3),
        {"training_differs": True, "expected_output_shape": (2, 9, 11, 3),
         **_counts((0, 0), 1)},
    ),
    "MixUp": LayerCase({"alpha": 0.4, "seed": 0}, (4, 6, 7, 3), runner="mixing_layer"),
    "CutMix": LayerCase({"alpha": 1.0, "seed": 0}, (4, 6, 7, 3), runner="mixing_layer"),
    "StochasticDepth": LayerCase(
        {"rate": 0.5, "seed": 3},
        (4, 5, 5, 3),
        {"training_differs": True, **_counts((0, 0), 1)},
    ),
}

# Public base classes: not layers to use on their own; every concrete subclass above is
# checked. (name -> why it has no case)
BASE_CLASSES: dict[str, str] = {
    "AugmentationLayer": "base class of the augmentation layers",
    "AffineLayer": "base class of the augmentation layers that sample an affine matrix",
    "GeometricLayer": "base class of the geometric (affine) augmentation layers",
}

# Public models: layers too, but whole networks with their own backend check.
MODELS: dict[str, str] = {
    "Classifier": "trained, saved and loaded on every backend by "
                  "tests/backend_checks/classifier.py",
}

# Configurations that matter across backends beyond the representative one, by label
# "Layer[what]": they run on every backend like the entries above.
EXTRA_CASES: dict[str, tuple[str, LayerCase]] = {
    # "sync_batch" is TensorFlow's cross-replica batch norm; on JAX and PyTorch it must
    # still build (and a model saved with it must load there).
    "ConvBlock[norm=sync_batch]": (
        "ConvBlock",
        LayerCase({"filters": 4, "norm": "sync_batch"}, (2, 9, 11, 3),
                  {"training_differs": True, **_counts((3, 2), 0)}),
    ),
}


def cases_for(layers) -> dict[str, tuple[str, LayerCase | None]]:
    """label -> (layer name, case or None when the layer has no entry), extras last."""
    cases = {name: (name, LAYER_CASES.get(name)) for name in layers
             if name not in BASE_CLASSES and name not in MODELS}
    cases.update({label: extra for label, extra in EXTRA_CASES.items() if extra[0] in layers})
    return cases


# (backend, label) -> reason. The layer's docstring must name the backend.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {
    ("jax", "KerasCVLayer"): (
        "keras-cv computes with TensorFlow ops, which jax.jit cannot trace: the "
        "jit_compile=True training step fails"
    ),
}
