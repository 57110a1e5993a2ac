"""Pipeline: chains augmentation layers, fusing consecutive geometric ones."""

from __future__ import annotations

import keras

from keras_blocks import registry
from keras_blocks.augment import affine
from keras_blocks.augment._base import AugmentationLayer, batch_size, image_size


def _resolve(spec, seed):
    if isinstance(spec, keras.layers.Layer):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        return keras.saving.deserialize_keras_object(spec)
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        if seed is not None and "seed" not in spec:
            spec = {**spec, "seed": seed}
        return registry.create("augmentation", spec)
    raise ValueError(
        "Pipeline: every entry of `layers` must be a Keras layer, a registered "
        f"augmentation name ({', '.join(registry.available('augmentation'))}) or a dict "
        f"{{'name': ..., **arguments}}; got {spec!r}."
    )


@keras.saving.register_keras_serializable(package="keras_blocks")
class Pipeline(AugmentationLayer):
    """Applies augmentation layers in order; consecutive geometric ones are fused.

    Runs of [`AffineLayer`][keras_blocks.AffineLayer]s (flip, rotation, translation,
    width, zoom, shear, resized crop) whose [`GeometricLayer`][keras_blocks.GeometricLayer]s
    share their `interpolation`, `fill_mode` and `fill_value` (a flip, which moves whole
    pixels, fits any) compose their per-sample matrices and resample ONCE: the same
    transforms as applying them one after the other, with one interpolation instead of
    several. A run of flips alone stays an exact pixel flip. Other layers (colour,
    erasing, MixUp/CutMix, keras-cv layers through
    [`KerasCVLayer`][keras_blocks.KerasCVLayer], any Keras layer that maps
    images to images) run in place.

    Inputs are images, `(images, labels)` or `{"images", "labels"}`; labels flow to the
    layers that mix them.

    Compared with `keras.layers.Pipeline(layers, name=None)`: the same `layers`
    argument, applied in the same order; `fuse` and `seed` are ours, and `layers` may
    also hold registered names and dicts. Keras' Pipeline resamples once per geometric
    layer.

    Args:
        layers: a list of layers, registered augmentation names (`"flip"`,
            `"rotation"`, ...) or dicts `{"name": ..., **arguments}`.
        fuse: compose consecutive geometric layers (default `True`); `False` resamples
            once per layer, for comparison.
        seed: int or `None`; layers given by name or dict without a seed get
            `seed + i` (i = position), so a preset is reproducible from one number.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Input shape:
        A batch `(batch, height, width, channels)` or one image `(height, width,
        channels)`, channels last, of any real dtype (`uint8` pixels are fine).

    Output shape:
        The input's shape, unless a layer in it changes the size (such as
        `RandomResizedCrop`); in the compute dtype (float32 by default).

    Call arguments:
        - `inputs`: the images; or `(images, labels)`, or a dict with `"images"` and
          `"labels"` (needed when the pipeline holds `MixUp` or `CutMix`); the output
          has the same structure.
        - `training`: augment when true (the default when the layer is called
          directly); with `False` (`model.predict`, `model.evaluate`) each layer
          does what it does at inference (most pass the images through).

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import Pipeline, RandomContrast, RandomFlip, RandomRotation

        augment = Pipeline([RandomContrast(0.1), RandomFlip("horizontal"),
                            RandomRotation(0.1)])
        images = np.random.randint(0, 256, (8, 32, 32, 3), dtype="uint8")
        augment(images).shape  # (8, 32, 32, 3)
        ```
    """

    def __init__(self, layers, fuse=True, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not isinstance(layers, list | tuple) or not layers:
            raise ValueError(f"Pipeline: `layers` must be a non-empty list; got {layers!r}.")
        if not isinstance(fuse, bool):
            raise ValueError(f"Pipeline: `fuse` must be True or False; got {fuse!r}.")
        self.fuse = fuse
        self.layers = [
            _resolve(spec, None if seed is None else seed + i) for i, spec in enumerate(layers)
        ]
        self.needs_labels = any(getattr(layer, "needs_labels", False) for layer in self.layers)

    @classmethod
    def from_preset(cls, name, **kwargs):
        """The named preset (`"course"`, `"light"`, `"medium"`, `"heavy"`, or any
        registered with `registry.register("preset", ...)`).

        Args:
            name: the preset's name.
            **kwargs: passed to the preset factory (`seed`, `value_range`, ...).

        Returns:
            A `Pipeline`.

        Raises:
            ValueError: unknown name; the message lists the valid ones.

        Example:
            ```python
            from keras_blocks.augment import Pipeline

            augment = Pipeline.from_preset("course", seed=0)
            ```
        """
        if not isinstance(name, str) or name not in registry.get_registry("preset"):
            registry.load_plugins()
        if not isinstance(name, str) or name not in registry.get_registry("preset"):
            raise ValueError(
                f"Pipeline.from_preset: unknown preset `name`={name!r}. Valid presets: "
                f"{', '.join(repr(n) for n in registry.available('preset'))}."
            )
        return registry.create("preset", name, **kwargs)

    def _augment_sublayers(self):
        return self.layers

    def _groups(self):
        """[(True, [geometric layers]) | (False, layer)], in order."""
        groups = []
        for layer in self.layers:
            geometric = isinstance(layer, affine.AffineLayer)
            if geometric and self.fuse and groups and groups[-1][0]:
                keys = {member.fuse_key for member in groups[-1][1]} | {layer.fuse_key}
                if len(keys - {None}) <= 1:
                    groups[-1][1].append(layer)
                    continue
            groups.append((True, [layer]) if geometric else (False, layer))
        return groups

    def build(self, input_shape):
        if isinstance(input_shape, dict):  # {"images", "labels"} or (images, labels)
            input_shape = input_shape["images"]
        elif input_shape and isinstance(input_shape[0], tuple | list):
            input_shape = input_shape[0]
        shape = tuple(input_shape)
        for layer in self.layers:
            if not isinstance(layer, AugmentationLayer) and not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.built = True

    def augment(self, b, images, labels, training):
        for geometric, item in self._groups():
            if geometric:
                images = self._warp_group(b, item, images, training)
            elif isinstance(item, AugmentationLayer):
                if item.needs_labels and labels is None:
                    raise ValueError(
                        f"Pipeline: {type(item).__name__} mixes images AND labels: call the "
                        "pipeline on (images, labels) or {'images': ..., 'labels': ...}."
                    )
                images, labels = item.augment(b, images, labels, training)
            else:
                images = item(images, training=training)
        return images, labels

    def _warp_group(self, b, layers, images, training):
        keyed = [layer for layer in layers if layer.fuse_key is not None]
        if not keyed:  # only layers that move whole pixels (flips): exact, no resampling
            for layer in layers:
                images, _ = layer.augment(b, images, None, training)
            return images
        n = batch_size(b, images)
        height, width = image_size(b, images)
        matrices = []
        for layer in layers:
            matrices.append(layer.sample_matrices(b, n, height, width, training))
            height, width = layer.output_image_size(height, width)
        matrix = affine.compose(b, matrices)
        if matrix is None and (height, width) == image_size(b, images):
            return images
        if matrix is None:
            matrix = affine.identity(b, n)
        return affine.warp(b, images, matrix, output_size=(height, width),
                           **keyed[0]._warp_kwargs())

    def output_image_size(self, height, width):
        for layer in self.layers:
            if isinstance(layer, AugmentationLayer):
                height, width = layer.output_image_size(height, width)
            else:
                shape = layer.compute_output_shape((None, height, width, None))
                height, width = shape[1], shape[2]
        return height, width

    def output_label_spec(self, labels_spec):
        for layer in self.layers:
            if isinstance(layer, AugmentationLayer):
                labels_spec = layer.output_label_spec(labels_spec)
        return labels_spec

    def get_config(self):
        config = super().get_config()
        config.update({
            "layers": [keras.saving.serialize_keras_object(layer) for layer in self.layers],
            "fuse": self.fuse,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layers"] = [keras.saving.deserialize_keras_object(c) for c in config["layers"]]
        return cls(**config)


registry.register("augmentation", "pipeline", Pipeline)
