"""Pretrained bases: published feature extractors with their own preprocessing inside.

A *base* is the feature-extracting half of a classifier. `pretrained_base` builds one by
name from the "base" registry, so that raw RGB pixels in [0, 255] go in and the last
feature map comes out; the network's own `preprocess_input` is an
[`ImagePreprocessing`][keras_blocks.ImagePreprocessing] layer inside the model.
"""

from __future__ import annotations

import importlib
import numbers
import warnings
from collections.abc import Callable, Mapping

import keras

from keras_blocks import registry
from keras_blocks.models import _checks
from keras_blocks.models._pretrained import (
    LoadReport,  # noqa: F401  (public here)
    WeightsDownloadError,  # noqa: F401  (public here)
    download_weights,
    resolve_weights,
)
from keras_blocks.models.preprocessing import MODES, ImagePreprocessing

DEFAULT_INPUT_SHAPE = (224, 224, 3)


class BaseSpec:
    """How to build one named pretrained base; what the "base" registry holds.

    Calling the spec builds the base (the same as
    [`pretrained_base`][keras_blocks.pretrained_base] with this spec's name), so
    `keras_blocks.registry.create("base", "mobilenet_v2", weights=None)` works too.

    Args:
        name: the registered name.
        build: `build(input_shape, weights) -> keras.Model`, the network on
            *preprocessed* inputs, ending at its last feature map. `weights` is `None`,
            `"imagenet"` or the path of an existing file.
        preprocessing: the network's input convention, an
            [`ImagePreprocessing`][keras_blocks.ImagePreprocessing] mode (`"tf"`,
            `"torch"`, `"caffe"` or `"none"`).
        min_size: the smallest height and width the network accepts.
        description: one line for error messages and docs.
        features: the feature pyramid, `{stride: layer name}`: for each output stride (a
            power of two: 4, 8, 16, 32), the name of the layer of the built network whose
            output is that stage's output (by convention the last block of the stage).
            `None` (default): the base gives no pyramid.
            [`create_model(..., features=True)`][keras_blocks.create_model] reads it.

    Example:
        ```python
        import keras
        from keras_blocks.models.pretrained import BaseSpec, register_base

        def build(input_shape, weights):
            return keras.applications.DenseNet121(
                include_top=False, weights=weights, input_shape=input_shape)

        register_base(BaseSpec(
            "my_densenet", build, preprocessing="torch",
            features={4: "pool2_conv", 8: "pool3_conv", 16: "pool4_conv", 32: "relu"}))
        ```
    """

    def __init__(
        self,
        name: str,
        build: Callable[..., keras.Model],
        preprocessing: str = "tf",
        min_size: int = 32,
        description: str = "",
        features: Mapping[int, str] | None = None,
    ):
        if preprocessing not in MODES:
            raise ValueError(
                f"BaseSpec: `preprocessing` must be one of {', '.join(map(repr, MODES))}; "
                f"got {preprocessing!r}."
            )
        if not callable(build):
            raise ValueError(f"BaseSpec: `build` must be callable; got {build!r}.")
        self.name = name
        self.build = build
        self.preprocessing = preprocessing
        self.min_size = int(min_size)
        self.description = description
        self.features = _check_features(name, features)

    def __call__(self, weights="imagenet", input_shape=DEFAULT_INPUT_SHAPE, trainable=False,
                 name=None):
        return _build_base(self, weights, input_shape, trainable, name)

    def __repr__(self) -> str:
        return f"BaseSpec({self.name!r}, preprocessing={self.preprocessing!r})"


def _check_features(name, features):
    if features is None:
        return None
    ok = isinstance(features, Mapping) and len(features) > 0 and all(
        isinstance(stride, numbers.Integral) and not isinstance(stride, bool) and stride >= 2
        and stride & (stride - 1) == 0 and isinstance(layer, str) and layer
        for stride, layer in features.items()
    )
    if not ok:
        raise ValueError(
            f"BaseSpec({name!r}): `features` must be None or a non-empty dict "
            "{stride: layer name} with strides powers of two >= 2 (4, 8, 16, 32) and "
            f"non-empty layer names; got {features!r}."
        )
    return {int(stride): features[stride] for stride in sorted(features)}


def feature_key(stride: int) -> str:
    """The output name of the pyramid level at `stride`: `"P2"` for 4 ... `"P5"` for 32.

    `P<level>` with `stride = 2 ** level`, the naming of feature pyramid networks (and of
    keras-hub's `pyramid_outputs`).

    Example:
        ```python
        from keras_blocks.models.pretrained import feature_key

        feature_key(16)  # 'P4'
        ```
    """
    return f"P{int(stride).bit_length() - 1}"


def register_base(spec: BaseSpec, *, overwrite: bool = False) -> BaseSpec:
    """Registers a pretrained base under `spec.name` in the "base" registry.

    Args:
        spec: the [`BaseSpec`][keras_blocks.BaseSpec].
        overwrite: replace an existing base of the same name.

    Returns:
        The spec.

    Example:
        ```python
        import keras
        from keras_blocks.models.pretrained import BaseSpec, register_base

        register_base(BaseSpec(
            "xception",
            lambda input_shape, weights: keras.applications.Xception(
                include_top=False, weights=weights, input_shape=input_shape),
            preprocessing="tf", min_size=71))
        ```
    """
    registry.register("base", spec.name, spec, overwrite=overwrite)
    return spec


def pretrained_base(
    name: str,
    weights="imagenet",
    input_shape=DEFAULT_INPUT_SHAPE,
    trainable: bool = False,
    model_name: str | None = None,
) -> keras.Model:
    """A pretrained feature extractor that takes raw pixels in [0, 255].

    The model is `Input -> ImagePreprocessing(<the network's mode>) -> network`, where
    the network (a nested model) ends at its last feature map (no pooling, no top).
    Preprocessing travels with the model, so a saved classifier needs no outside code.

    Built-in names (see `keras_blocks.registry.available("base")`; plugins add more):

    | name | network | preprocessing |
    |---|---|---|
    | `"mobilenet_v2"` | `keras.applications.MobileNetV2` | `"tf"` ([-1, 1]) |
    | `"mobilenet_v3_small"` | `keras.applications.MobileNetV3Small` | built in |
    | `"vgg16"` | `keras.applications.VGG16` | `"caffe"` |
    | `"resnet50"` | `keras.applications.ResNet50` | `"caffe"` |
    | `"densenet121"` | `keras.applications.DenseNet121` | `"torch"` |
    | `"efficientnet_b0"` | `keras.applications.EfficientNetB0` | built in (rescaling) |
    | `"kb_mobilenet_v2"` | `keras_blocks.models.mobilenet_v2_base` | `"tf"` |
    | `"kb_vgg16"` | `keras_blocks.models.vgg16_base` | `"caffe"` |
    | `"kb_convnext_tiny"` | `keras_blocks.models.convnext_tiny_base` | `"torch"` |
    | `"squeezenet"` | `keras_blocks.models.squeezenet_base` | `"caffe"` |
    | `"kb_resnet50"` | `keras_blocks.models.resnet50_base` | `"caffe"` |

    Note: with a local weights file, `keras.applications.EfficientNetB0` leaves out
    the extra per-channel rescaling it adds for `weights="imagenet"` (a Keras
    behaviour); prefer `"imagenet"` for EfficientNet.

    Args:
        name: a registered base name (case-insensitive).
        weights: `"imagenet"` (downloads the published weights; needs internet),
            `None` (random initialization), or the path of a local weights file in the
            network's layout (for example `mobilenet_v2_1.0_no_top.weights.h5`).
        input_shape: `(height, width, 3)`; height and width may be `None`, else at
            least the network's minimum (32 for the built-ins).
        trainable: whether the base's weights train. Default `False`: the usual first
            phase of transfer learning (see
            [`unfreeze_top`][keras_blocks.unfreeze_top] for the second).
        model_name: the returned model's name; default `"pretrained_<name>"`.

    Returns:
        A `keras.Model` from `(batch, height, width, 3)` pixels to the feature map.

    Raises:
        ValueError: an unknown name (the message lists the valid ones), a bad
            `input_shape` or one too small, or a weights file that does not fit the
            network (the message names the file).
        FileNotFoundError: `weights` is a path that does not exist.
        WeightsDownloadError: `weights="imagenet"` and the download failed (no network,
            a proxy, a moved URL); the message says how to pass a local weights file
            instead (`weights="/path/to/file.h5"`). A subclass of `OSError`, importable
            from `keras_blocks.models.pretrained`.

    Example:
        ```python
        from keras_blocks import pretrained_base

        base = pretrained_base("mobilenet_v2", weights=None, input_shape=(96, 96, 3))
        base.output_shape  # (None, 3, 3, 1280)
        ```
    """
    factory = registry.get_registry("base").get(name)
    if isinstance(factory, BaseSpec):
        return _build_base(factory, weights, input_shape, trainable, model_name)
    # A plain factory registered by a plugin: it owns preprocessing and weights.
    weights = _resolve_weights(name, weights)
    _check_trainable(name, trainable)
    if weights == "imagenet":
        model = download_weights(f"pretrained_base({name!r})",
                                 lambda: factory(weights=weights, input_shape=input_shape))
    else:
        model = factory(weights=weights, input_shape=input_shape)
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"pretrained_base({name!r}): the registered factory {factory!r} must return a "
            f"keras.Model; got {type(model).__name__}."
        )
    model.trainable = trainable
    return model


def _check_trainable(name, trainable):
    if not isinstance(trainable, bool):
        raise ValueError(
            f"pretrained_base({name!r}): `trainable` must be True or False; got {trainable!r}."
        )


def _resolve_weights(name, weights):
    """`None`, `"imagenet"` (keras.applications downloads it) or an existing file's path."""
    return resolve_weights(f"pretrained_base({name!r})", weights)


def _check_input_shape(spec, input_shape, weights):
    owner = f"pretrained_base({spec.name!r})"
    shape = _checks.input_shape(owner, input_shape)
    if (weights is not None or spec.preprocessing in ("caffe", "torch")) and shape[2] != 3:
        raise ValueError(
            f"{owner}: `input_shape` must have 3 channels (RGB) for pretrained weights and "
            f"{spec.preprocessing!r} preprocessing; got {input_shape!r}."
        )
    small = [d for d in shape[:2] if d is not None and d < spec.min_size]
    if small:
        raise ValueError(
            f"{owner}: input_shape {shape} is too small: height and width must be at least "
            f"{spec.min_size} for this network (it downsamples its input many times)."
        )
    return shape


def _build_base(spec, weights, input_shape, trainable, model_name, features=False):
    weights = _resolve_weights(spec.name, weights)
    shape = _check_input_shape(spec, input_shape, weights)
    _check_trainable(spec.name, trainable)
    network = _build_network(spec, shape, weights)
    if features:
        network = _feature_network(spec, network)
    inputs = keras.Input(shape=shape, name="image")
    x = ImagePreprocessing(spec.preprocessing, name="preprocessing")(inputs)
    outputs = network(x)
    model = keras.Model(inputs, outputs, name=model_name or f"pretrained_{spec.name}")
    model.trainable = trainable
    if features:
        model.feature_info = tuple(
            {"key": key, "stride": stride, "channels": int(outputs[key].shape[-1]),
             "layer": spec.features[stride]}
            for stride in spec.features
            for key in [feature_key(stride)]
        )
    return model


def _feature_network(spec, network):
    """`network` cut at the layers of `spec.features`: outputs `{"P2": ..., ...}`."""
    outputs = {}
    for stride, layer_name in spec.features.items():
        try:
            layer = network.get_layer(layer_name)
        except ValueError as error:
            names = [layer.name for layer in network.layers]
            raise ValueError(
                f"base {spec.name!r}: its `features` name layer {layer_name!r} (stride "
                f"{stride}), which the built network {network.name!r} does not have; its "
                f"layers are {names[:12]}" + (" ..." if len(names) > 12 else "") + "."
            ) from error
        outputs[feature_key(stride)] = layer.output
    return keras.Model(network.inputs, outputs, name=f"{network.name}_features")


def _build_network(spec, shape, weights):
    owner = f"pretrained_base({spec.name!r})"
    if weights is None:
        return spec.build(shape, weights)
    if weights == "imagenet":
        # keras.applications downloads inside the constructor.
        return download_weights(owner, lambda: spec.build(shape, weights))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            network = spec.build(shape, weights)
        except (ValueError, KeyError, OSError, TypeError) as error:
            if weights in str(error):
                raise
            raise ValueError(
                f"{owner}: weights file {weights!r} does not fit this network: "
                f"{_first_line(error)}"
            ) from error
    # Keras warns, instead of failing, when parts of a file are missing: refuse that.
    skipped = [w for w in caught if "freshly-initialized" in str(w.message)]
    if skipped:
        raise ValueError(
            f"{owner}: weights file {weights!r} does not fit this network: "
            f"{_first_line(skipped[0].message)}"
        )
    for warning in caught:
        warnings.warn_explicit(
            warning.message, warning.category, warning.filename, warning.lineno
        )
    return network


def _first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --------------------------------------------------------------------------------------
# Built-in bases.


def _keras_application(constructor: str, **extra):
    def build(input_shape, weights):
        # Looked up at call time, so tests and users can patch keras.applications.
        make = getattr(keras.applications, constructor)
        if weights is None or weights == "imagenet":
            return make(include_top=False, weights=weights, input_shape=input_shape, **extra)
        network = make(include_top=False, weights=None, input_shape=input_shape, **extra)
        network.load_weights(weights)
        return network

    build.__name__ = f"build_{constructor}"
    return build


def _kb_mobilenet_v2(input_shape, weights):
    from keras_blocks.models.mobilenet_v2 import mobilenet_v2_base

    return mobilenet_v2_base(input_shape, weights=weights)


def _kb_vgg16(input_shape, weights):
    from keras_blocks.models.vgg16 import vgg16_base

    return vgg16_base(input_shape, weights=weights)


def _kb_convnext_tiny(input_shape, weights):
    from keras_blocks.models.convnext import convnext_tiny_base

    return convnext_tiny_base(input_shape, weights=weights)


def _kb_resnet50(input_shape, weights):
    from keras_blocks.models.resnet50 import resnet50_base

    return resnet50_base(input_shape, weights=weights)


def _squeezenet(input_shape, weights):
    from keras_blocks.models.squeezenet import squeezenet_base

    return squeezenet_base(input_shape, weights=weights)


# Feature pyramids, {stride: layer}: the last block of each stage (the convention of
# timm's `features_only`), so a keras_blocks family and its keras.applications twin give
# the same pyramid.
_RESNET50_FEATURES = {4: "conv2_block3", 8: "conv3_block4", 16: "conv4_block6",
                      32: "conv5_block3"}
_MOBILENET_V2_FEATURES = {4: "block_2", 8: "block_5", 16: "block_12", 32: "block_16"}
_VGG16_FEATURES = {4: "block2", 8: "block3", 16: "block4", 32: "block5"}

# One BaseSpec per line group; families append theirs here.
for _spec in (
    BaseSpec("mobilenet_v2", _keras_application("MobileNetV2"), "tf",
             description="keras.applications.MobileNetV2 (alpha 1.0)",
             features={4: "block_2_add", 8: "block_5_add", 16: "block_12_add",
                       32: "block_16_project_BN"}),
    BaseSpec("mobilenet_v3_small", _keras_application("MobileNetV3Small"), "none",
             description="keras.applications.MobileNetV3Small (preprocessing built in)"),
    BaseSpec("vgg16", _keras_application("VGG16"), "caffe",
             description="keras.applications.VGG16",
             features={s: f"{name}_pool" for s, name in _VGG16_FEATURES.items()}),
    BaseSpec("resnet50", _keras_application("ResNet50"), "caffe",
             description="keras.applications.ResNet50",
             features={s: f"{name}_out" for s, name in _RESNET50_FEATURES.items()}),
    BaseSpec("densenet121", _keras_application("DenseNet121"), "torch",
             description="keras.applications.DenseNet121"),
    BaseSpec("efficientnet_b0", _keras_application("EfficientNetB0"), "none",
             description="keras.applications.EfficientNetB0 (rescaling built in)"),
    BaseSpec("kb_mobilenet_v2", _kb_mobilenet_v2, "tf",
             description="keras_blocks.models.mobilenet_v2_base (InvertedResidual blocks)",
             features=_MOBILENET_V2_FEATURES),
    BaseSpec("kb_vgg16", _kb_vgg16, "caffe",
             description="keras_blocks.models.vgg16_base (ConvBlocks)",
             features=_VGG16_FEATURES),
    BaseSpec("kb_convnext_tiny", _kb_convnext_tiny, "torch",
             description="keras_blocks.models.convnext_tiny_base (ConvNeXtBlocks)",
             features={4: "stage_0_block_2", 8: "stage_1_block_2", 16: "stage_2_block_8",
                       32: "stage_3_block_2"}),
    # No stride-32 stage; valid paddings make the sizes a little under input / stride.
    BaseSpec("squeezenet", _squeezenet, "caffe",
             description="keras_blocks.models.squeezenet_base (FireBlocks, v1.1)",
             features={4: "fire3", 8: "fire5", 16: "fire9"}),
    BaseSpec("kb_resnet50", _kb_resnet50, "caffe",
             description="keras_blocks.models.resnet50_base (ResidualBlocks, v1)",
             features=_RESNET50_FEATURES),
):
    register_base(_spec)


def _kb_family(module_name, builder):
    """`build(input_shape, weights)` of `keras_blocks.models.<module_name>.<builder>`."""

    def build(input_shape, weights):
        module = importlib.import_module(f"keras_blocks.models.{module_name}")
        return getattr(module, builder)(input_shape, weights=weights)

    build.__name__ = f"build_{builder}"
    return build


# Families whose module holds FEATURES and PREPROCESSING ("none": they scale raw pixels).
for _module, _builder, _what in (
    ("efficientnet", "efficientnet_b0_base", "InvertedResidual + SqueezeExcite"),
    ("mobilenet_v3", "mobilenet_v3_small_base", "InvertedResidual, hard-sigmoid SE"),
    ("efficientnet_v2", "efficientnet_v2_b0_base", "fused and plain InvertedResidual"),
):
    _family = importlib.import_module(f"keras_blocks.models.{_module}")
    register_base(BaseSpec(
        "kb_" + _builder.removesuffix("_base"), _kb_family(_module, _builder),
        _family.PREPROCESSING, description=f"keras_blocks.models.{_builder} ({_what})",
        features=_family.FEATURES))
