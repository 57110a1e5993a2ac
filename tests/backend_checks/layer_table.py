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

    kwargs: dict[str, Any]
    input_shape: tuple[int, ...]
    checks: dict[str, Any] = dataclasses.field(default_factory=dict)
    runner: str | None = None


# Small images and few filters: every case runs in a few seconds on one CPU core.
LAYER_CASES: dict[str, LayerCase] = {
    "ConvBlock": LayerCase(
        {"filters": 4, "repeats": 2, "norm": "batch", "dropout": 0.25},
        (2, 9, 11, 3),
        {"training_differs": True},
    ),
    "ConvNeXtBlock": LayerCase(
        {"drop_path": 0.5, "layer_scale_init": 1.0, "seed": 4, "kernel_size": 3,
         "expansion": 2},
        (4, 7, 5, 4),
        {"training_differs": True},
    ),
    "DenseHead": LayerCase(
        {"num_classes": 3, "units": (6,), "dropout": 0.5, "norm": "batch",
         "pooling": "avgmax"},
        (2, 4, 4, 5),
        {"training_differs": True, "expected_output_shape": (2, 3),
         "mixed_output_dtype": "float32"},
    ),
    "FireBlock": LayerCase(
        {"squeeze": 3, "expand": (4, 5), "norm": "batch"},
        (2, 7, 9, 6),
        {"training_differs": True, "expected_output_shape": (2, 7, 9, 9)},
    ),
    "ImagePreprocessing": LayerCase(
        {"mode": "caffe"},
        (2, 5, 6, 3),
        {"input_range": (0.0, 255.0)},
    ),
    "InvertedResidual": LayerCase(
        {"filters": 8, "strides": 2, "se_ratio": 0.25, "activation": "swish",
         "padding": "mobilenet", "kernel_size": 5, "drop_path": 0.5},
        (2, 9, 11, 6),
        {"training_differs": True},
    ),
    "ResidualBlock": LayerCase(
        {"filters": 2, "variant": "bottleneck", "strides": 2, "drop_path": 0.3, "seed": 1},
        (4, 9, 11, 3),
        {"training_differs": True},
    ),
    "SqueezeExcite": LayerCase(
        {"squeeze_channels": 3, "gate": "hard_sigmoid", "divisor": 4},
        (2, 7, 9, 12),
    ),
    "StochasticDepth": LayerCase(
        {"rate": 0.5, "seed": 3},
        (4, 5, 5, 3),
        {"training_differs": True},
    ),
}

# Configurations that matter across backends beyond the representative one, by label
# "Layer[what]": they run on every backend like the entries above.
EXTRA_CASES: dict[str, tuple[str, LayerCase]] = {
    # "sync_batch" is TensorFlow's cross-replica batch norm; on JAX and PyTorch it must
    # still build (and a model saved with it must load there).
    "ConvBlock[norm=sync_batch]": (
        "ConvBlock",
        LayerCase({"filters": 4, "norm": "sync_batch"}, (2, 9, 11, 3),
                  {"training_differs": True}),
    ),
}


def cases_for(layers) -> dict[str, tuple[str, LayerCase | None]]:
    """label -> (layer name, case or None when the layer has no entry), extras last."""
    cases = {name: (name, LAYER_CASES.get(name)) for name in layers}
    cases.update({label: extra for label, extra in EXTRA_CASES.items() if extra[0] in layers})
    return cases


# (backend, label) -> reason. The layer's docstring must name the backend.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}
