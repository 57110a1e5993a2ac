"""What a convolutional base "sees": the feature maps of a few of its layers."""

from __future__ import annotations

import numpy as np

from keras_blocks.viz.training import _finish

# Layers whose outputs say little on their own (or repeat the previous layer's).
_SKIPPED = (
    "InputLayer",
    "BatchNormalization",
    "ZeroPadding2D",
    "Rescaling",
    "Normalization",
    "Dropout",
    "SpatialDropout2D",
    "Activation",
    "ReLU",
)


def feature_layers(model, n_layers=4):
    """Picks `n_layers` layers of `model` worth drawing: evenly spread, the last included.

    Candidates are the layers (in order) whose output is a 4-D feature map, except
    inputs, normalizations, padding, rescaling, dropout and bare activations; augmentation
    layers (`Random*`) are skipped too.

    Args:
        model: a built functional or Sequential `keras.Model` (a convolutional base).
        n_layers: how many layers to pick (int >= 1).

    Returns:
        A list of layer names.

    Raises:
        ValueError: the model has no layer with a 4-D output, or `n_layers` < 1.

    Example:
        ```python
        from keras_blocks import course_conv_net, feature_layers

        feature_layers(course_conv_net((64, 64, 3)), n_layers=2)
        ```
    """
    from keras_blocks import _validation as check

    n_layers = check.positive_int("feature_layers", "n_layers", n_layers)
    candidates = []
    for layer in model.layers:
        name = type(layer).__name__
        if name in _SKIPPED or name.startswith("Random"):
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4:
            candidates.append(layer.name)
    if not candidates:
        raise ValueError(
            f"feature_layers: model {model.name!r} has no layer with a 4-D (feature map) "
            "output; pass the convolutional base, not the whole classifier."
        )
    # 1x1 maps (the end of a deep base on small images) show nothing: prefer larger ones.
    larger = [name for name in candidates if min(model.get_layer(name).output.shape[1:3]) != 1]
    candidates = larger or candidates
    if len(candidates) <= n_layers:
        return candidates
    picks = np.linspace(0, len(candidates) - 1, n_layers).round().astype(int)
    return [candidates[i] for i in sorted(set(picks))]


def plot_feature_maps(
    model, image, layer_names=None, *, n_layers=4, channels=8, title=None, path=None
):
    """Draws the input image and, per chosen layer, its first `channels` feature maps.

    One row per layer: the channels with the strongest mean activation for this image,
    each normalized to its own range (the course's "what the base sees" pictures).

    Args:
        model: a built functional or Sequential `keras.Model`, typically the
            convolutional base of a classifier (a pretrained base or a custom convnet).
        image: one image `(H, W, C)` (or a batch of one) as the model expects it.
        layer_names: names of the layers to draw; `None` picks `n_layers` with
            [`feature_layers`][keras_blocks.feature_layers].
        n_layers: how many layers to pick when `layer_names` is `None`.
        channels: feature maps drawn per layer (int >= 1).
        title: a title over the figure.
        path: save the figure here.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: an unknown layer name (the message lists the model's layers), or an
            image that is not `(H, W, C)` or `(1, H, W, C)`.

    Example:
        ```python
        import numpy as np
        from keras_blocks import course_conv_net, plot_feature_maps

        base = course_conv_net((64, 64, 3))
        image = np.random.uniform(0, 255, (64, 64, 3)).astype("float32")
        fig = plot_feature_maps(base, image, channels=4, path="features.png")
        ```
    """
    import keras
    import matplotlib.pyplot as plt

    from keras_blocks import _validation as check

    owner = "plot_feature_maps"
    channels = check.positive_int(owner, "channels", channels)
    image = np.asarray(image)
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3:
        raise ValueError(f"{owner}: `image` must be (H, W, C) or (1, H, W, C); got {image.shape}.")
    batch = image[None].astype("float32")
    if layer_names is None:
        model, batch = _descend(model, batch)
        layer_names = feature_layers(model, n_layers)
    known = [layer.name for layer in model.layers]
    missing = [name for name in layer_names if name not in known]
    if missing:
        raise ValueError(
            f"{owner}: `layer_names` {missing} are not layers of {model.name!r}; its layers "
            f"are {known}."
        )
    inputs = model.inputs if hasattr(model, "inputs") and model.inputs else None
    if inputs is None:
        raise ValueError(f"{owner}: `model` {model.name!r} must be built (call it once).")
    if isinstance(model, keras.Sequential):
        # Run the chain: a Sequential's layers may have been called on other tensors
        # first (builders often do), so their `.output` need not belong to this model.
        found, x = {}, batch
        for layer in model.layers:
            x = layer(x, training=False)
            found[layer.name] = x
        outputs = [found[n] for n in layer_names]
    else:
        extractor = keras.Model(inputs, [model.get_layer(n).output for n in layer_names])
        outputs = extractor(batch, training=False)
        if not isinstance(outputs, list | tuple):
            outputs = [outputs]
    maps = [keras.ops.convert_to_numpy(o)[0].astype(np.float32) for o in outputs]

    fig, axes = plt.subplots(
        len(maps), channels + 1, figsize=(1.6 * (channels + 1), 1.7 * len(maps)), squeeze=False
    )
    shown = image.astype(np.float32)
    low, high = shown.min(), shown.max()
    shown = (shown - low) / (high - low) if high > low else np.zeros_like(shown)
    for row, (name, fmap) in enumerate(zip(layer_names, maps, strict=True)):
        for ax in axes[row]:
            ax.axis("off")
        axes[row, 0].imshow(shown.squeeze(), cmap="gray" if shown.shape[-1] == 1 else None)
        axes[row, 0].set_title(
            f"{name}\n{fmap.shape[0]}x{fmap.shape[1]}x{fmap.shape[2]}", fontsize=7
        )
        strongest = np.argsort(-fmap.mean(axis=(0, 1)))[:channels]
        for col, c in enumerate(strongest, start=1):
            channel = fmap[..., c]
            span = channel.max() - channel.min()
            axes[row, col].imshow(
                (channel - channel.min()) / span if span > 0 else channel * 0,
                cmap="magma",
                vmin=0,
                vmax=1,
            )
            axes[row, col].set_title(f"#{c}", fontsize=7)
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return _finish(fig, path)


def _descend(model, batch):
    """Steps into a wrapped network: `Input -> preprocessing -> network` becomes `network`.

    Pretrained bases wrap the real network (one nested model) behind preprocessing
    layers; its layers are the interesting ones. The layers in front of it are applied
    to `batch` so that the nested network gets the input it expects.
    """
    import keras

    while True:
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        nested = [layer for layer in layers if isinstance(layer, keras.Model)]
        if len(nested) != 1 or len(layers) > 4:
            return model, batch
        for layer in layers:
            if layer is nested[0]:
                break
            batch = layer(batch, training=False)
        model = nested[0]
