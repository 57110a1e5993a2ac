"""The shared layer checks fail for the bugs they exist to catch.

Each test builds a deliberately broken layer and asserts that the check meant for that
bug raises: a check that passes everything would let every layer through.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_blocks import ConvBlock
from keras_blocks._composed import clone_initializer, derived_seed
from tests.layer_checks import (
    check_independent_initial_weights,
    check_train_step,
    check_weight_counts,
    random_inputs,
)


class SharedInitializer(keras.layers.Layer):
    """Two same-shape Dense layers handed one initializer object: the bug of issue 15."""

    def __init__(self, init=None, **kwargs):
        super().__init__(**kwargs)
        self.init = init or keras.initializers.GlorotUniform()
        self.first = keras.layers.Dense(4, kernel_initializer=self.init)
        self.second = keras.layers.Dense(4, kernel_initializer=self.init)

    def build(self, input_shape):
        self.first.build(input_shape)
        self.second.build((*input_shape[:-1], 4))

    def call(self, x):
        return self.second(self.first(x))


class UnusedWeight(keras.layers.Layer):
    """A trainable weight the forward pass never uses: it cannot train."""

    def build(self, input_shape):
        self.used = self.add_weight(shape=(input_shape[-1],), initializer="ones")
        self.unused = self.add_weight(shape=(3,), initializer="ones")

    def call(self, x):
        return x * self.used


class FrozenIgnored(keras.layers.Layer):
    """Makes its sublayer in build and forgets the owner's `trainable=False`."""

    def build(self, input_shape):
        self.dense = keras.layers.Dense(2)
        self.dense.build(input_shape)

    def call(self, x):
        return self.dense(x)


def test_shared_initializer_is_caught():
    layer = SharedInitializer()
    layer.build((None, 4))
    with pytest.raises(AssertionError, match="start equal"):
        check_independent_initial_weights(layer)


def test_constant_weights_are_not_compared():
    # Zero biases and unit scales are equal by design; only varied weights count.
    block = ConvBlock(3, repeats=3, pool=None, norm="batch")
    block.build((None, 8, 8, 3))
    assert check_independent_initial_weights(block) == 3  # the three kernels


def test_weight_count_mismatch_is_caught():
    block = ConvBlock(3, repeats=2, pool=None)
    block.build((None, 8, 8, 3))
    check_weight_counts(block, 4, 0, 0)
    with pytest.raises(AssertionError, match="expected 3 trainable"):
        check_weight_counts(block, 3, 0, 0)
    with pytest.raises(AssertionError, match="seed generators"):
        check_weight_counts(block, 4, 0, 1)


def test_a_weight_that_cannot_train_is_caught():
    x = random_inputs((2, 5))
    with pytest.raises(AssertionError, match="did not change"):
        check_train_step(lambda **kw: UnusedWeight(**kw), x, jit_compile=False)


def test_a_frozen_layer_that_still_trains_is_caught():
    x = random_inputs((2, 5))
    with pytest.raises(AssertionError, match="frozen layer changed"):
        check_train_step(lambda **kw: FrozenIgnored(**kw), x, jit_compile=False)


def test_cloned_initializers_differ_and_stay_reproducible():
    seeded = keras.initializers.HeNormal(seed=7)
    a = keras.ops.convert_to_numpy(clone_initializer(seeded, "conv0/kernel")((3, 3)))
    b = keras.ops.convert_to_numpy(clone_initializer(seeded, "conv1/kernel")((3, 3)))
    again = keras.ops.convert_to_numpy(clone_initializer(seeded, "conv0/kernel")((3, 3)))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, again)
    assert derived_seed(7, "x") == derived_seed(7, "x") != derived_seed(8, "x")
    # Constant initializers and plain functions pass through unchanged.
    zeros = keras.initializers.Zeros()
    assert isinstance(clone_initializer(zeros, "b"), keras.initializers.Zeros)
    assert clone_initializer(None, "b") is None


@pytest.mark.parametrize("initializer", ["glorot_uniform", "seeded"])
def test_blocks_with_the_same_global_seed_start_the_same(initializer):
    def build():
        init = keras.initializers.HeNormal(seed=3) if initializer == "seeded" else initializer
        block = ConvBlock(4, repeats=2, pool=None, kernel_initializer=init)
        block.build((None, 8, 8, 4))
        return [keras.ops.convert_to_numpy(w) for w in block.weights]

    keras.utils.set_random_seed(11)
    first = build()
    keras.utils.set_random_seed(11)
    second = build()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[2])  # conv0 and conv1 kernels differ
