"""StochasticDepth: per-sample drop path on a residual branch."""

from __future__ import annotations

import keras

from keras_blocks import _validation as check


@keras.saving.register_keras_serializable(package="keras_blocks")
class StochasticDepth(keras.layers.Layer):
    """Drops a residual branch for whole samples at random during training ("drop path").

    Apply it to the residual *branch* just before the addition, `x + StochasticDepth(r)(f(x))`:
    in training, each sample's branch is zeroed with probability `rate` and the
    surviving samples are scaled by `1 / (1 - rate)`, so the expected output is
    unchanged; at inference it is the identity. Unlike `Dropout`, one random draw
    decides a whole sample (every position and channel), which is what lets a deep
    residual network train as an ensemble of shallower ones (Huang et al., 2016).

    Args:
        rate: probability of dropping a sample's branch, in [0, 1). `0` is the identity.
        seed: int seed of the layer's random generator, or `None` (random). Two layers
            built with the same seed drop the same samples on the same calls.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        Any shape whose first axis is the batch: a residual branch's output.

    Output shape:
        The input's shape.

    Call arguments:
        - `inputs`: the branch output.
        - `training`: when true, each sample's branch is dropped with probability
          `rate` and the kept ones are scaled by `1 / (1 - rate)`; when false (the
          default, and in `predict`/`evaluate`) the inputs pass through unchanged.

    Example:
        ```python
        import numpy as np
        from keras_blocks import StochasticDepth

        drop_path = StochasticDepth(rate=0.2, seed=0)
        branch = np.ones((4, 8, 8, 16), "float32")
        drop_path(branch, training=True)   # some samples zero, others 1.25
        drop_path(branch, training=False)  # unchanged
        ```
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check.fraction("StochasticDepth", "rate", rate)
        if seed is not None:
            seed = int(check.positive_int("StochasticDepth", "seed", seed, minimum=0))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(
                "StochasticDepth: expected an input with a batch axis (rank >= 1); got "
                f"shape {tuple(input_shape)}."
            )
        self.built = True

    def call(self, inputs, training=None):
        if "float" not in keras.backend.standardize_dtype(inputs.dtype):
            # Integer inputs would be scaled in integers (1 / (1 - rate) rounds to 1).
            inputs = keras.ops.cast(inputs, self.compute_dtype)
        if not training or self.rate == 0.0:
            return inputs
        rank = len(inputs.shape)
        # One draw per sample, broadcast over every other axis.
        noise_shape = (keras.ops.shape(inputs)[0],) + (1,) * (rank - 1)
        draw = keras.random.uniform(noise_shape, seed=self.seed_generator)
        keep = keras.ops.cast(draw >= self.rate, inputs.dtype)
        scale = keras.ops.cast(1.0 / (1.0 - self.rate), inputs.dtype)
        return inputs * (keep * scale)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # The random generator's state (its seed and how far it has drawn) goes into saved
    # models and weights files, so a reloaded layer drops the same samples as the layer it
    # was saved from (Keras saves only a layer's own variables, not its generators').
    _STATE_KEY = "seed_generator_state"

    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.seed_generator is not None:
            store[self._STATE_KEY] = keras.ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        keys = list(store.keys())  # Keras' h5 store entries need not support `in`
        if self._STATE_KEY in keys:
            if self.seed_generator is not None:
                self.seed_generator.state.assign(store[self._STATE_KEY])
            store = {key: store[key] for key in keys if key != self._STATE_KEY}
        super().load_own_variables(store)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config

