"""What every keras_blocks augmentation layer shares.

* Inputs: one image `(H, W, C)`, a batch `(B, H, W, C)`, a tuple `(images, labels)` or
  a dict `{"images": ..., "labels": ...}` (the keras-cv format). Labels pass through
  untouched except in the layers that mix them (MixUp, CutMix).
* Per-sample random parameters are drawn for the whole batch in one call; the image
  work is batched too (no per-image `map_fn`, no Python loop over images).
* Backends: the math is written against `self.backend`, the Keras backend ops (the
  functions `keras.ops` dispatches to). In a model they are the active backend's ops;
  inside a `tf.data` pipeline (a TensorFlow graph) running under the JAX or PyTorch
  backend they switch to the TensorFlow ops, exactly as Keras' own preprocessing
  layers do, so `dataset.map(layer)` works on every backend.
* Output: images in the layer's compute dtype (float32 by default), values kept in
  the input's `value_range`. At inference (`training=False`) a layer is the identity
  apart from that cast.
* Bad input: argument errors are raised when a layer is made; shape and dtype errors
  when it is called. Checks that need the VALUES of a batch (labels in range, pixels
  in `value_range`) go through `check_values`: eagerly they raise a `ValueError` at
  once, inside a TensorFlow graph (`tf.data`, a `tf.function` train step) they fail the
  step with an `InvalidArgumentError` carrying the same message, and where nothing can
  raise (a traced JAX function, an XLA-compiled step) they are skipped.
"""

from __future__ import annotations

import keras

from keras_blocks import _keras_compat as compat
from keras_blocks import _validation as check

_STRUCT_KEYS = ("images", "labels")


def check_seed(owner: str, seed):
    """`seed` as None or an int, else `ValueError`."""
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(f"{owner}: `seed` must be None or an integer; got {seed!r}.")
    return seed


def check_bool(owner: str, name: str, value):
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: `{name}` must be True or False; got {value!r}.")
    return value


def open_low_factor(owner, name, value, *, limit=-1.0, max_value=None, symmetric=True):
    """A factor pair whose low end must stay strictly above `limit` (a scale of 0)."""
    pair = check.factor_pair(owner, name, value, max_value=max_value, symmetric=symmetric)
    if pair[0] <= limit:
        raise ValueError(
            f"{owner}: `{name}` must lie within ({limit}, {max_value}]; got {value!r} "
            f"(range {pair}); {limit} would scale the image to nothing."
        )
    return pair


def split_inputs(owner: str, inputs):
    """`(images, labels, kind)` from an image, a batch, a tuple or a dict."""
    if isinstance(inputs, dict):
        unknown = sorted(set(inputs) - set(_STRUCT_KEYS))
        if "images" not in inputs or unknown:
            raise ValueError(
                f"{owner}: a dict input needs the key 'images' and may have 'labels'; got "
                f"keys {sorted(inputs)}. Other keys (boxes, masks) are not transformed, "
                "so they are refused rather than silently left stale."
            )
        return inputs["images"], inputs.get("labels"), "dict"
    if isinstance(inputs, tuple | list):
        if len(inputs) != 2:
            raise ValueError(
                f"{owner}: a tuple input must be (images, labels); got {len(inputs)} items."
            )
        return inputs[0], inputs[1], "tuple"
    return inputs, None, "tensor"


def join_outputs(images, labels, kind):
    if kind == "dict":
        return {"images": images} if labels is None else {"images": images, "labels": labels}
    if kind == "tuple":
        return images, labels
    return images


def check_image_rank(owner: str, shape):
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{owner}: expected a rank-3 image (height, width, channels) or a rank-4 batch "
            f"(batch, height, width, channels); got shape {tuple(shape)} "
            f"(rank {len(shape)})."
        )


class AugmentationLayer(keras.layers.Layer):
    """Base class of the keras_blocks augmentation layers (not used directly).

    Subclasses implement `augment(b, images, labels, training)` on a rank-4 batch, with
    `b` the backend ops to use, and return `(images, labels)`. The base class handles
    the input structures, single images, dtypes, seeds and the `tf.data` backend switch.

    Args:
        seed: int or `None`, the seed of this layer's random stream.
        **kwargs: standard layer arguments (`name`, `dtype`).

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import RandomFlip

        flip = RandomFlip("horizontal", seed=0)
        flip(np.zeros((2, 8, 8, 3), "uint8")).dtype  # float32
        ```
    """

    #: Layers that change labels (MixUp, CutMix) need them.
    needs_labels = False

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed(type(self).__name__, seed)
        try:
            self.generator = keras.random.SeedGenerator(seed)
        except ValueError as error:
            if not compat.in_tf_graph():
                raise
            # TensorFlow's "singleton tf.Variables" error, which names no culprit.
            name = type(self).__name__
            raise ValueError(
                f"{name} was created inside a TensorFlow function (such as the function "
                "given to `Dataset.map`); its random state is a variable, which TensorFlow "
                "lets such a function create only once. Create the layer once, outside the "
                f"function, and call it inside: `layer = {name}(...)`, then "
                "`dataset.map(lambda x, y: layer((x, y)))`."
            ) from error
        # Not tracked: a generator for the TF ops inside tf.data under another backend.
        object.__setattr__(self, "_other_generators", {})
        object.__setattr__(self, "backend", compat.dynamic_backend())
        # tf.data hands TF tensors to a layer of another backend: allow them (as DataLayer).
        compat.allow_non_tensor_positional_args(self)
        self.supports_jit = True

    # ---------------------------------------------------------------- calling
    def __call__(self, inputs, *args, **kwargs):
        first = keras.tree.flatten(inputs)[0]
        foreign_graph = (
            not isinstance(first, keras.KerasTensor)
            and keras.backend.backend() != "tensorflow"
            and compat.in_tf_graph()
            and not compat.in_jax_tracing_scope(first)
        )
        if not foreign_graph:
            return super().__call__(inputs, *args, **kwargs)
        # A tf.data pipeline under the JAX or PyTorch backend: compute with the TF ops.
        self.set_ops_backend("tensorflow")
        try:
            with compat.input_conversion_disabled(self):
                return super().__call__(inputs, *args, **kwargs)
        finally:
            self.set_ops_backend(None)

    def set_ops_backend(self, name):
        """Switches the ops of this layer (and its sublayers) to backend `name`;
        `None` goes back to the active Keras backend."""
        if name is None:
            self.backend.reset()
        else:
            self.backend.set_backend(name)
        for layer in self._augment_sublayers():
            if isinstance(layer, AugmentationLayer):
                layer.set_ops_backend(name)

    def _augment_sublayers(self):
        return []

    def call(self, inputs, training=True):
        owner = type(self).__name__
        b = self.backend
        images, labels, kind = split_inputs(owner, inputs)
        images = b.convert_to_tensor(images)
        check_image_rank(owner, images.shape)
        if self.needs_labels and labels is None:
            raise ValueError(
                f"{owner} mixes images AND labels: call it on (images, labels) or on "
                "{'images': ..., 'labels': ...}, for example "
                "`dataset.map(lambda x, y: layer((x, y)))`; got images only."
            )
        single = len(images.shape) == 3
        if single:
            if self.needs_labels:
                raise ValueError(f"{owner} mixes the images of a batch; got a single image "
                                 f"of shape {tuple(images.shape)}.")
            images = b.numpy.expand_dims(images, 0)
            if labels is not None:
                labels = b.numpy.expand_dims(b.convert_to_tensor(labels), 0)
        if labels is not None:
            labels = b.convert_to_tensor(labels)
        images, labels = self.augment(b, images, labels, bool(training))
        images = b.cast(images, self.compute_dtype)
        if single:
            images = b.numpy.squeeze(images, 0)
            if labels is not None:
                labels = b.numpy.squeeze(labels, 0)
        return join_outputs(images, labels, kind)

    def augment(self, b, images, labels, training):
        """Transforms a rank-4 batch; returns `(images, labels)`."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shapes
    def output_image_size(self, height, width):
        """The (height, width) of the output for an input of that size."""
        return height, width

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        check_image_rank(type(self).__name__, input_shape)
        height, width = self.output_image_size(input_shape[-3], input_shape[-2])
        return (*input_shape[:-3], height, width, input_shape[-1])

    def output_label_spec(self, labels_spec):
        return labels_spec

    def compute_output_spec(self, inputs, training=None):
        images, labels, kind = split_inputs(type(self).__name__, inputs)
        images = keras.KerasTensor(self.compute_output_shape(images.shape),
                                   dtype=self.compute_dtype)
        if labels is not None:
            labels = self.output_label_spec(labels)
        return join_outputs(images, labels, kind)

    # ---------------------------------------------------------------- randomness
    def seed_generator(self, b):
        """The seed generator for the ops backend `b` (see `set_ops_backend`)."""
        if b.name == keras.backend.backend():
            return self.generator
        generator = self._other_generators.get(b.name)
        if generator is None:
            seed = self.seed if self.seed is not None else _derived_seed(self)
            generator = keras.random.SeedGenerator(seed, backend=b)
            self._other_generators[b.name] = generator
        return generator

    def uniform(self, b, shape, low=0.0, high=1.0):
        """Per-sample uniform draws in [low, high) from this layer's stream."""
        return b.random.uniform(shape, minval=low, maxval=high, dtype="float32",
                                seed=self.seed_generator(b))

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


def _derived_seed(layer):
    state = keras.ops.convert_to_numpy(layer.generator.state)
    return int(state[0]) % (2**31)


def check_values(b, tensor, ok, message, data=(), explain=None):
    """`tensor`, once the scalar boolean `ok` is known true; raises otherwise.

    For checks that need the values of a batch. Eagerly (`ok` concrete), a false `ok`
    raises `ValueError(explain(*data) if explain else message)`, with `data` as NumPy
    arrays, so the message can name the culprit. Inside a TensorFlow graph (`tf.data`,
    `tf.function`) an assertion carrying `message` and `data` is tied to `tensor`, so
    the step fails with an `InvalidArgumentError` saying the same (XLA-compiled steps
    drop assertions). In a traced JAX function nothing can raise: the check is skipped.
    """
    if compat.in_jax_tracing_scope(ok):
        return tensor
    if b.name == "tensorflow" and compat.in_tf_graph():
        # The one TensorFlow call of the augmentation layers: a graph cannot raise a
        # Python error, and keras.ops has no assertion.
        import tensorflow as tf

        assertion = tf.debugging.Assert(ok, [message, *data], summarize=16)
        with tf.control_dependencies([assertion]):
            return tf.identity(tensor)
    if not bool(b.convert_to_numpy(ok)):
        if explain is not None:
            message = explain(*(b.convert_to_numpy(d) for d in data))
        raise ValueError(message)
    return tensor


def batch_size(b, images):
    """The batch size: an int when static, else a scalar tensor (TF graphs)."""
    return b.shape(images)[0]


def image_size(b, images):
    """(height, width) of a rank-4 batch: ints when static, else scalar tensors."""
    shape = b.shape(images)
    return shape[1], shape[2]
