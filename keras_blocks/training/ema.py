"""An exponential moving average of a model's weights, as a Keras callback."""

from __future__ import annotations

import keras
import numpy as np

from keras_blocks import _validation as check

_OWNER = "WeightEMA"


class WeightEMA(keras.callbacks.Callback):
    """Keeps an exponential moving average (EMA) of the weights; validates and ends with it.

    Every `every` training steps the average moves toward the current weights:
    `ema = d * ema + (1 - d) * weights` with `d = decay ** every`, so the average's
    memory (about `1 / (1 - decay)` steps) does not depend on `every`. Averaged are the
    trainable weights and the float non-trainable ones (batch-norm moving statistics),
    as timm's `ModelEmaV2` does; integer variables (counters) are copied.
    During `fit`'s validation the model runs with the averaged weights (so `val_*`
    measure what you will keep) and gets its training weights back afterwards; at the
    end of training the averaged weights stay in the model (`keep_at_end=True`).

    Unlike the optimizers' `use_ema=True` (which swaps the average in only when `fit`
    ends), the average is what validation sees each epoch, and it works with any
    optimizer and learning-rate schedule. Averaging smooths the noise of the last
    steps of training: with short schedules and a large learning rate it is often
    worth a few tenths of a point of accuracy (fast CIFAR-10 trainers such as airbench
    use it).

    Note: `ModelCheckpoint` saves what the model holds at an epoch's end: the training
    weights (the swap happens only during validation). Save the model after `fit` to
    keep the average.

    Args:
        decay: the per-step decay, in [0, 1). 0.999 averages about the last 1,000 steps.
        every: update the average every this many steps (a positive integer), to save
            time on large models.
        warmup: if `True`, the effective decay is `min(decay, (1 + t) / (10 + t))` at
            step `t`, so early averages are not dominated by the random initial weights.
        keep_at_end: leave the averaged weights in the model when training ends.

    Raises:
        ValueError: a `decay` outside [0, 1), a non-positive `every`, or a non-boolean
            `warmup` / `keep_at_end`.

    Example:
        ```python
        import keras
        import numpy as np
        from keras_blocks import WeightEMA

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        x, y = np.ones((32, 4), "float32"), np.zeros((32, 1), "float32")
        ema = WeightEMA(decay=0.9)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[ema])
        ema.steps  # 8 updates of the average; the model now holds it
        ```
    """

    def __init__(self, decay=0.999, every=1, warmup=False, keep_at_end=True):
        super().__init__()
        self.decay = check.fraction(_OWNER, "decay", decay)
        self.every = check.positive_int(_OWNER, "every", every)
        for name, value in (("warmup", warmup), ("keep_at_end", keep_at_end)):
            if not isinstance(value, bool):
                raise ValueError(f"{_OWNER}: `{name}` must be True or False; got {value!r}.")
        self.warmup = warmup
        self.keep_at_end = keep_at_end
        self.steps = 0
        self._average = None
        self._saved = None
        self._batches = 0
        self._training = False

    def _variables(self):
        return list(self.model.weights)

    def on_train_begin(self, logs=None):
        self.steps, self._batches, self._training = 0, 0, True
        self._average = [np.array(v.numpy(), copy=True) for v in self._variables()]
        self._floats = [np.issubdtype(a.dtype, np.floating) for a in self._average]

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self._batches % self.every:
            return
        decay = self.decay
        if self.warmup:
            decay = min(decay, (1 + self.steps) / (10 + self.steps))
        decay = decay ** self.every
        for index, variable in enumerate(self._variables()):
            value = variable.numpy()
            if self._floats[index]:
                average = self._average[index]
                average *= decay
                average += (1 - decay) * value.astype(average.dtype, copy=False)
            else:
                self._average[index] = np.array(value, copy=True)
        self.steps += 1

    def _swap_in(self):
        variables = self._variables()
        self._saved = [np.array(v.numpy(), copy=True) for v in variables]
        for variable, average in zip(variables, self._average, strict=True):
            variable.assign(average)

    def _swap_out(self):
        for variable, saved in zip(self._variables(), self._saved, strict=True):
            variable.assign(saved)
        self._saved = None

    def on_test_begin(self, logs=None):
        if self._training and self._saved is None:
            self._swap_in()

    def on_test_end(self, logs=None):
        if self._saved is not None:
            self._swap_out()

    def on_train_end(self, logs=None):
        if self._saved is not None:
            self._swap_out()
        if self.keep_at_end and self._average is not None:
            for variable, average in zip(self._variables(), self._average, strict=True):
                variable.assign(average)
        self._training = False

    @property
    def average(self):
        """The averaged weights, as NumPy arrays in `model.weights` order (or `None`
        before training)."""
        return None if self._average is None else [a.copy() for a in self._average]
