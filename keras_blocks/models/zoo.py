"""The model zoo: every registered family by name, whole or as a feature pyramid.

A family is a [`BaseSpec`][keras_blocks.BaseSpec] in the "base"
registry (the same entries [`pretrained_base`][keras_blocks.pretrained_base] builds), so
a plugin adds one with `register_base(BaseSpec(...))` and it shows up here.
"""

from __future__ import annotations

import keras

from keras_blocks import registry
from keras_blocks.models.pretrained import BaseSpec, _build_base


def list_models(features: bool = False) -> list[str]:
    """The names [`create_model`][keras_blocks.create_model] accepts, sorted.

    Args:
        features: only the families that declare a feature pyramid (`create_model(...,
            features=True)` works for them).

    Returns:
        The registered family names (every `BaseSpec` of the "base" registry, plugins'
        included).

    Example:
        ```python
        from keras_blocks import list_models

        "kb_resnet50" in list_models(features=True)  # True
        ```
    """
    names = []
    bases = registry.get_registry("base")
    registry.load_plugins()
    for name in bases.names():
        spec = bases.get(name)
        if isinstance(spec, BaseSpec) and (not features or spec.features):
            names.append(name)
    return names


def create_model(
    name: str,
    *,
    input_shape=(224, 224, 3),
    weights=None,
    features: bool = False,
    trainable: bool = True,
    model_name: str | None = None,
) -> keras.Model:
    """Builds a registered family by name, with its preprocessing inside.

    The model is `Input -> ImagePreprocessing(<the family's mode>) -> network`, built as
    [`pretrained_base`][keras_blocks.pretrained_base] builds it, so raw RGB pixels in
    [0, 255] go in. Also importable as `keras_blocks.models.create`.

    With `features=True` the network is cut at the family's stage outputs and the model
    returns a dict `{"P2": ..., "P3": ..., "P4": ..., "P5": ...}`: level `Pn` has output
    stride `2**n` (4, 8, 16, 32 for the keras_blocks families; SqueezeNet stops at P4).
    `model.feature_info` lists each level as
    `{"key": "P2", "stride": 4, "channels": 256, "layer": "conv2_block3"}` (the layer
    whose output it is). `feature_info` is not saved with the model; after
    `keras.saving.load_model` the keys and `model.output_shape` carry the same
    information (`model.output_shape` lists the levels in stride order).

    | family | blocks | channels at strides 4, 8, 16, 32 |
    |---|---|---|
    | `"kb_resnet50"` | `ConvBlock`, `ResidualBlock` | 256, 512, 1024, 2048 |
    | `"kb_mobilenet_v2"` | `ConvBlock`, `InvertedResidual` | 24, 32, 96, 320 |
    | `"kb_vgg16"` | `ConvBlock` | 128, 256, 512, 512 |
    | `"kb_convnext_tiny"` | `ConvBlock`, `ConvNeXtBlock` | 96, 192, 384, 768 |
    | `"squeezenet"` | `ConvBlock`, `FireBlock` | 128, 256, 512 (no stride 32) |

    `list_models()` gives every name, plugins' included.

    Args:
        name: a registered family (case-insensitive); see
            [`list_models`][keras_blocks.list_models].
        input_shape: `(height, width, 3)`; height and width may be `None`.
        weights: `None` (default: random initialization), `"imagenet"` (downloads the
            published weights), or the path of a weights file in the family's layout.
        features: return the feature pyramid instead of the last feature map.
        trainable: whether the weights train (default `True`).
        model_name: the model's name; default the family's name (plus `"_features"`).

    Returns:
        A `keras.Model` from `(batch, height, width, 3)` pixels to the last feature map,
        or, with `features=True`, to the dict of pyramid levels.

    Raises:
        ValueError: an unknown name (the message lists the valid ones), a name
            registered as a plain factory rather than a `BaseSpec`, `features=True` for a
            family without a pyramid, a bad `input_shape`, `trainable` or weights file.
        FileNotFoundError: `weights` is a path that does not exist.
        WeightsDownloadError: `weights="imagenet"` and the download failed.

    Example:
        ```python
        from keras_blocks import create_model

        model = create_model("kb_resnet50", input_shape=(64, 64, 3), features=True)
        {key: tuple(x.shape[1:]) for key, x in model.output.items()}
        # {'P2': (16, 16, 256), 'P3': (8, 8, 512), 'P4': (4, 4, 1024), 'P5': (2, 2, 2048)}
        [level["stride"] for level in model.feature_info]  # [4, 8, 16, 32]
        ```
    """
    owner = f"create_model({name!r})"
    if not isinstance(name, str) or name.strip().lower() not in list_models():
        raise ValueError(
            f"{owner}: unknown model {name!r}. Valid names: "
            f"{', '.join(repr(n) for n in list_models())} (register more with "
            "keras_blocks.models.pretrained.register_base(BaseSpec(...)))."
        )
    spec = registry.get_registry("base").get(name)
    if not isinstance(features, bool):
        raise ValueError(f"{owner}: `features` must be True or False; got {features!r}.")
    if features and not spec.features:
        raise ValueError(
            f"{owner}: this family declares no feature pyramid (its BaseSpec has "
            "features=None). Families with one: "
            f"{', '.join(repr(n) for n in list_models(features=True))}."
        )
    default = spec.name + ("_features" if features else "")
    return _build_base(spec, weights, input_shape, trainable, model_name or default,
                       features=features)


create = create_model
