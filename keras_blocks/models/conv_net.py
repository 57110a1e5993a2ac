"""Custom convnets stacked from blocks named in a short spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

import keras_blocks.blocks  # noqa: F401  (registers the built-in blocks by name)
from keras_blocks import _validation as check
from keras_blocks import registry
from keras_blocks.models import _checks

# The course's custom convnet base (Kaggle "Computer Vision", lesson "Custom Convnets"):
# three blocks of one 'same'-padded ReLU convolution and a 2x2 max pooling, 32/64/128
# filters, the first with a 5x5 window.
COURSE_CONV_NET = (
    {"name": "conv", "filters": 32, "kernel_size": 5},
    {"name": "conv", "filters": 64, "kernel_size": 3},
    {"name": "conv", "filters": 128, "kernel_size": 3},
)


def make_block_specs(filters, block="conv", depth=1, downsample=None, **shared) -> list[dict]:
    """Writes the spec of a staged network: one stage per entry of `filters`.

    Args:
        filters: the width of each stage, a sequence of ints >= 1 (for example
            `(32, 64, 128)`).
        block: the registered block name every entry uses (`"conv"`, `"residual"`,
            `"convnext"`, or a plugin's).
        depth: blocks per stage: an int >= 1 for every stage, or one int per stage.
        downsample: `None` (the blocks downsample on their own, as `ConvBlock`'s pooling
            does), or the `strides` (int or pair) given to the first block of every stage
            after the first, as ResNets do.
        **shared: arguments given to every block (`norm="batch"`, `activation="swish"`,
            `pool=None`, ...).

    Returns:
        A list of block dicts for [`build_conv_net`][keras_blocks.build_conv_net].

    Raises:
        ValueError: `filters`, `depth` or `downsample` is malformed; the message names it.

    Example:
        ```python
        from keras_blocks import build_conv_net, make_block_specs

        specs = make_block_specs((16, 32), block="residual", depth=2, downsample=2)
        base = build_conv_net(specs, input_shape=(32, 32, 3))
        base.output_shape  # (None, 16, 16, 32)
        ```
    """
    owner = "make_block_specs"
    if isinstance(filters, str) or not isinstance(filters, Sequence) or not filters:
        raise ValueError(
            f"{owner}: `filters` must be a non-empty sequence of integers >= 1, one per "
            f"stage; got {filters!r}."
        )
    widths = [check.positive_int(owner, f"filters[{i}]", f) for i, f in enumerate(filters)]
    if isinstance(depth, Sequence) and not isinstance(depth, str):
        if len(depth) != len(widths):
            raise ValueError(
                f"{owner}: `depth` as a sequence needs one entry per stage ({len(widths)}); "
                f"got {depth!r}."
            )
        depths = [check.positive_int(owner, f"depth[{i}]", d) for i, d in enumerate(depth)]
    else:
        depths = [check.positive_int(owner, "depth", depth)] * len(widths)
    if downsample is not None:
        downsample = check.int_tuple(owner, "downsample", downsample)
    if not isinstance(block, str):
        raise ValueError(f"{owner}: `block` must be a registered block name; got {block!r}.")
    registry.get_registry("block").get(block)  # unknown names fail here, listing valid ones
    specs = []
    for stage, (width, count) in enumerate(zip(widths, depths, strict=True)):
        for index in range(count):
            spec = {"name": block, "filters": width, **shared}
            if downsample is not None and stage > 0 and index == 0:
                spec["strides"] = downsample
            specs.append(spec)
    return specs


def build_conv_net(blocks, input_shape=None, *, defaults=None, name="conv_net"):
    """Stacks blocks into a convolutional base (no head), as a `keras.Sequential`.

    Each entry of `blocks` is resolved through the `"block"` registry, so built-in
    blocks and plugins are named the same way:

    - a dict `{"name": "conv", "filters": 32, ...}`: the registered block, built with
      the other keys as arguments;
    - a name such as `"convnext"`, for blocks whose arguments all have defaults;
    - a Keras layer (any layer: a block, `keras.layers.Dropout(0.2)`, ...), used as is;
    - a Keras serialization dict (with `"class_name"`).

    Args:
        blocks: a non-empty sequence of entries as above, in order.
        input_shape: `(height, width, channels)` (height and width may be `None`). With
            it, the model is built now and a block that cannot take its input fails
            here, naming its index; without it, the model builds on its first call.
        defaults: arguments given to every named or dict entry unless the entry sets
            them (for example `{"norm": "batch"}`).
        name: the model's name.

    Returns:
        A `keras.Sequential` whose layers are the blocks.

    Raises:
        ValueError: an entry is malformed, names an unknown block, has arguments its
            block rejects, or (with `input_shape`) cannot take its input; the message
            names the entry's index and the problem.

    Example:
        ```python
        from keras_blocks import build_conv_net

        base = build_conv_net(
            [
                {"name": "conv", "filters": 32, "kernel_size": 5},
                {"name": "conv", "filters": 64},
                {"name": "conv", "filters": 128},
            ],
            input_shape=(128, 128, 3),
        )
        base.output_shape  # (None, 16, 16, 128)
        ```
    """
    owner = "build_conv_net"
    if isinstance(blocks, str | Mapping) or not isinstance(blocks, Sequence) or not blocks:
        raise ValueError(
            f"{owner}: `blocks` must be a non-empty list of block entries (names, dicts with "
            f"a 'name' key, or layers); got {blocks!r}."
        )
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, Mapping) or "name" in defaults:
        raise ValueError(
            f"{owner}: `defaults` must be a dict of block arguments (without 'name'); "
            f"got {defaults!r}."
        )
    layers = [_create_block(owner, i, entry, defaults) for i, entry in enumerate(blocks)]
    if input_shape is None:
        return keras.Sequential(layers, name=name)
    input_shape = _checks.input_shape(owner, input_shape)
    # Build block by block so that a block that cannot take its input is named.
    x = keras.KerasTensor((None, *input_shape))
    for i, layer in enumerate(layers):
        try:
            x = layer(x)
        except ValueError as error:
            raise ValueError(
                f"{owner}: blocks[{i}] ({type(layer).__name__} {layer.name!r}) cannot take "
                f"its input of shape {tuple(x.shape)}: {error}"
            ) from error
    return keras.Sequential([keras.Input(shape=input_shape), *layers], name=name)


def course_conv_net(input_shape=(128, 128, 3), name="course_conv_net"):
    """The course's custom convnet base: three ConvBlocks with 32, 64 and 128 filters.

    Each block is one 'same'-padded ReLU convolution (5x5 in the first block, 3x3 after)
    and a 2x2 max pooling, exactly the course's
    `Conv2D(32, 5) → MaxPool2D → Conv2D(64, 3) → MaxPool2D → Conv2D(128, 3) → MaxPool2D`.
    The head (`Flatten`, `Dense(6)`, `Dense(1)` in the course) is not included: add one
    from `keras_blocks.heads`.

    Args:
        input_shape: `(height, width, channels)`; the course uses `(128, 128, 3)`.
        name: the model's name.

    Returns:
        A built `keras.Sequential` of three [`ConvBlock`][keras_blocks.ConvBlock]s,
        output `(height // 8, width // 8, 128)`.

    Example:
        ```python
        from keras_blocks import course_conv_net

        base = course_conv_net((64, 64, 3))
        base.output_shape  # (None, 8, 8, 128)
        ```
    """
    return build_conv_net([dict(spec) for spec in COURSE_CONV_NET], input_shape, name=name)


def _create_block(owner: str, index: int, entry: Any, defaults: Mapping) -> keras.layers.Layer:
    where = f"{owner}: blocks[{index}]"
    if isinstance(entry, keras.layers.Layer):
        return entry
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"{where} must be a block name, a dict with a 'name' key, or a keras Layer; got "
            f"{entry!r} (type {type(entry).__name__})."
        )
    if "class_name" in entry:
        spec = dict(entry)
    else:
        if "name" not in entry:
            raise ValueError(
                f"{where} = {dict(entry)!r} has no 'name' key; add one naming a registered "
                f"block ({', '.join(repr(n) for n in registry.available('block'))})."
            )
        spec = {**defaults, **entry}
    try:
        layer = registry.create("block", spec)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where} = {dict(entry)!r}: {error}") from error
    if not isinstance(layer, keras.layers.Layer):
        raise ValueError(
            f"{where}: block {entry.get('name', entry)!r} gave {layer!r}, which is not a "
            "keras Layer."
        )
    return layer

