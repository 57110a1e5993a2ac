"""`_tf_xla`: the XLA-compiled resampling equals TensorFlow's op, and `warp` uses it
on TensorFlow for batches of a static image size (any dtype: resampled in float32)."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from keras_blocks.augment import _tf_xla, affine


def _case(rng, batch, height, width, channels, projective):
    images = rng.uniform(0, 255, (batch, height, width, channels)).astype("float32")
    angle = rng.uniform(-0.6, 0.6, batch)
    scale = rng.uniform(0.5, 2.5, batch)
    t = np.zeros((batch, 8), "float32")
    t[:, 0], t[:, 1] = scale * np.cos(angle), -scale * np.sin(angle)
    t[:, 3], t[:, 4] = scale * np.sin(angle), scale * np.cos(angle)
    # Shifts of up to three image sizes: every fill mode's folding is exercised.
    t[:, 2] = rng.uniform(-3 * width, 3 * width, batch)
    t[:, 5] = rng.uniform(-3 * height, 3 * height, batch)
    if projective:
        t[:, 6:] = rng.uniform(-0.01, 0.01, (batch, 2))
    return tf.constant(images), tf.constant(t)


def _op(images, transforms, interpolation, fill_mode, fill_value, output_size=None):
    size = output_size or images.shape[1:3]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=list(size),
        fill_value=fill_value, interpolation=interpolation.upper(),
        fill_mode=fill_mode.upper(),
    ).numpy()


@pytest.mark.parametrize("interpolation", _tf_xla.INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", _tf_xla.FILL_MODES)
def test_equals_the_op(interpolation, fill_mode):
    rng = np.random.default_rng(0)
    shapes = [(3, 7, 5, 3), (2, 16, 16, 1), (4, 32, 24, 3), (2, 1, 6, 2)]
    for shape, projective in itertools.product(shapes, (False, True)):
        images, transforms = _case(rng, *shape, projective)
        want = _op(images, transforms, interpolation, fill_mode, 7.0)
        got = _tf_xla.resample(
            images, transforms, interpolation=interpolation, fill_mode=fill_mode,
            fill_value=7.0,
        ).numpy()
        # The op's formulas in the op's order: equal up to float rounding (values 0-255).
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-3, err_msg=str(shape))


def test_identity_is_exact_and_other_output_sizes_match_the_op():
    rng = np.random.default_rng(1)
    images, transforms = _case(rng, 2, 12, 10, 3, False)
    identity = tf.constant([[1, 0, 0, 0, 1, 0, 0, 0]] * 2, tf.float32)
    same = _tf_xla.resample(images, identity).numpy()
    np.testing.assert_array_equal(same, images.numpy())
    for size in ((5, 7), (20, 16)):
        want = _op(images, transforms, "bilinear", "constant", 0.0, size)
        got = _tf_xla.resample(
            images, transforms, output_size=size, fill_mode="constant"
        ).numpy()
        assert got.shape == (2, *size, 3)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-3)


def test_a_zero_projection_reads_the_fill_value():
    images = tf.ones((1, 4, 4, 1))
    # k = c0 * x + 1 is 0 at x = 1: that column is the fill value, as in the op.
    transforms = tf.constant([[1, 0, 0, 0, 1, 0, -1, 0]], tf.float32)
    got = _tf_xla.resample(images, transforms, fill_value=5.0).numpy()
    want = _op(images, transforms, "bilinear", "reflect", 5.0)
    np.testing.assert_array_equal(got[0, :, 1, 0], [5.0] * 4)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_warp_uses_it_for_static_sizes_and_the_op_otherwise(monkeypatch):
    from keras_blocks import RandomRotation

    calls = []
    original = _tf_xla.resample

    def spy(*args, **kwargs):
        calls.append(tuple(args[0].shape))
        return original(*args, **kwargs)

    monkeypatch.setattr(_tf_xla, "resample", spy)
    layer = RandomRotation(0.1)
    layer.set_ops_backend("tensorflow")  # TF's ops on any Keras backend (as in tf.data)
    b = layer.backend
    matrices = tf.constant(np.eye(3, dtype="float32")[None].repeat(2, 0))
    floats = tf.random.uniform((2, 8, 8, 3), 0, 255)
    out = affine.warp(b, floats, matrices)
    np.testing.assert_array_equal(out.numpy(), floats.numpy())
    pixels = tf.cast(floats, tf.uint8)
    out = affine.warp(b, pixels, matrices)
    assert out.dtype == tf.float32
    np.testing.assert_array_equal(out.numpy(), pixels.numpy().astype("float32"))
    assert calls == [(2, 8, 8, 3)] * 2

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3])])
    def unknown_size(images):
        return affine.warp(b, images, matrices)

    out = unknown_size(floats)  # traced with no static size: TensorFlow's op
    np.testing.assert_array_equal(out.numpy(), floats.numpy())
    assert calls == [(2, 8, 8, 3)] * 2


def test_contrast_equals_the_keras_ops_and_the_layer_uses_it(monkeypatch):
    from keras_blocks import RandomContrast

    rng = np.random.default_rng(3)
    images = tf.constant(rng.uniform(0, 255, (4, 9, 7, 3)).astype("float32"))
    factors = tf.constant(rng.uniform(0.5, 1.5, (4, 1, 1, 1)).astype("float32"))
    mean = images.numpy().mean(axis=(1, 2), keepdims=True)
    want = np.clip(images.numpy() * factors.numpy() + mean * (1 - factors.numpy()), 0, 255)
    got = _tf_xla.contrast(images, factors, 0.0, 255.0).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)
    assert got.max() <= 255.0 and got.min() >= 0.0

    calls = []
    original = _tf_xla.contrast
    monkeypatch.setattr(_tf_xla, "contrast", lambda *a: calls.append(1) or original(*a))
    layer = RandomContrast(0.5, seed=1)
    layer.set_ops_backend("tensorflow")
    out = layer(images, training=True)
    assert calls == [1] and out.shape == images.shape
    # Same draws through the Keras ops (no static size: the compiled path is skipped).
    again = RandomContrast(0.5, seed=1)
    again.set_ops_backend("tensorflow")
    plain = tf.function(
        lambda x: again(x, training=True),
        input_signature=[tf.TensorSpec([None, None, None, 3])],
    )(images)
    np.testing.assert_allclose(out.numpy(), plain.numpy(), rtol=0, atol=1e-3)
    assert calls == [1]
