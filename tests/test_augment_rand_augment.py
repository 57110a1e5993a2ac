"""RandAugment: the fast (sorted) path equals the masked path; ops match PIL."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageEnhance, ImageOps

import keras_blocks.augment as kba
from keras_blocks.augment import rand_augment as ra
from tests.layer_checks import to_numpy

B = kba.RandomFlip().backend


@given(seed=st.integers(0, 10_000), num_ops=st.integers(1, 3), geometric=st.booleans(),
       batch=st.integers(1, 9), height=st.integers(16, 29))
def test_sorted_path_equals_masked_path(seed, num_ops, geometric, batch, height):
    x = np.random.default_rng(seed).integers(0, 256, (batch, height, 21, 3)).astype("uint8")
    fast = kba.RandAugment(num_ops=num_ops, factor=(0.1, 0.9), geometric=geometric, seed=seed)
    masked = kba.RandAugment(num_ops=num_ops, factor=(0.1, 0.9), geometric=geometric, seed=seed)
    masked.partition = False
    np.testing.assert_allclose(to_numpy(fast(x)), to_numpy(masked(x)), atol=1e-3)


def _pil(image, op):
    return np.asarray(op(Image.fromarray(image)), "float32")


@pytest.mark.parametrize("name, pil_op, magnitude, sign", [
    ("equalize", ImageOps.equalize, 0.0, 1.0),
    ("auto_contrast", ImageOps.autocontrast, 0.0, 1.0),
    ("solarize", lambda im: ImageOps.solarize(im, 128), 0.5, 1.0),
    ("posterize", lambda im: ImageOps.posterize(im, 6), 0.5, 1.0),
    ("brightness", lambda im: ImageEnhance.Brightness(im).enhance(1.45), 0.5, 1.0),
    ("color", lambda im: ImageEnhance.Color(im).enhance(0.55), 0.5, -1.0),
    ("contrast", lambda im: ImageEnhance.Contrast(im).enhance(1.45), 0.5, 1.0),
])
def test_colour_ops_match_pil(name, pil_op, magnitude, sign):
    image = np.random.default_rng(1).integers(20, 220, (24, 20, 3)).astype("uint8")
    ours = to_numpy(ra.apply_colour_op(
        B, name, B.convert_to_tensor(image[None].astype("float32")),
        B.convert_to_tensor([magnitude], "float32"), B.convert_to_tensor([sign], "float32")))
    expected = _pil(image, pil_op)
    # PIL rounds to uint8 (and its contrast uses an integer mean): within 1.5 levels.
    assert np.abs(ours[0] - expected).max() <= 1.5, (name, np.abs(ours[0] - expected).max())


def test_sharpness_blends_towards_the_smoothed_image():
    image = np.random.default_rng(2).integers(0, 256, (1, 16, 16, 3)).astype("float32")
    x = B.convert_to_tensor(image)
    zero = B.convert_to_tensor([0.0], "float32")
    np.testing.assert_allclose(to_numpy(ra.apply_colour_op(B, "sharpness", x, zero, zero + 1)),
                               image, atol=1e-3)
    blurred = to_numpy(ra.apply_colour_op(B, "sharpness", x,
                                          B.convert_to_tensor([1 / 0.9], "float32"),
                                          B.convert_to_tensor([-1.0], "float32")))
    assert blurred.std() < image.std()
    pil = _pil(image[0].astype("uint8"), lambda im: im.filter(__import__("PIL").ImageFilter.SMOOTH))
    np.testing.assert_allclose(blurred[0, 1:-1, 1:-1], pil[1:-1, 1:-1], atol=1.0)


def test_value_range_and_empty_op_slices():
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    y = to_numpy(kba.RandAugment(num_ops=3, factor=1.0, value_range=(0, 1), seed=4)(x))
    assert y.min() >= 0 and y.max() <= 1.0 + 1e-6 and not np.allclose(x, y)


# ---- value_range (issue 16): checked on the input, enforced on the output.


def test_pixels_outside_value_range_raise_naming_the_range():
    # 0-255 pixels given to a layer told (0, 1) came out in [-253, 243].
    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype("float32")
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 0.0, 255.0
    with pytest.raises(ValueError, match=r"pixel values span \[0, 255\], outside "
                                         r"value_range=\(0, 1\) \(0-255 pixels: pass "
                                         r"value_range=\(0, 255\)\)"):
        kba.RandAugment(value_range=(0, 1), seed=0)(x)
    with pytest.raises(ValueError, match=r"span \[-1, 1\], outside value_range=\(0, 255\)"):
        kba.RandAugment(seed=0)(np.linspace(-1, 1, 4 * 16 * 16 * 3, dtype="float32")
                                .reshape(4, 16, 16, 3))
    with pytest.raises(ValueError, match="NaN pixels"):
        kba.RandAugment(seed=0)(np.full((2, 8, 8, 3), np.nan, "float32"))
    # At inference the layer is the identity and checks nothing.
    np.testing.assert_array_equal(
        to_numpy(kba.RandAugment(value_range=(0, 1), seed=0)(x, training=False)), x)


def test_out_of_range_pixels_fail_a_tf_data_pipeline_with_the_message():
    import tensorflow as tf

    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype("uint8")
    layer = kba.RandAugment(value_range=(0, 1), seed=0)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2).map(layer)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"RandAugment: pixel values lie outside value_range=\(0, 1\)"):
        list(ds)


@given(seed=st.integers(0, 10_000), fill_value=st.sampled_from([-50.0, 0.0, 300.0]),
       value_range=st.sampled_from([(0, 255), (0, 1), (-1, 1)]))
def test_outputs_stay_within_value_range(seed, fill_value, value_range):
    low, high = value_range
    rng = np.random.default_rng(seed)
    x = (low + (high - low) * rng.random((6, 16, 16, 3))).astype("float32")
    x[0] = low  # a flat image (auto_contrast, equalize edge cases)
    layer = kba.RandAugment(num_ops=3, factor=1.0, value_range=value_range, fill_mode="constant",
                            fill_value=fill_value * (high - low) / 255.0, seed=seed)
    y = to_numpy(layer(x))
    assert y.min() >= low and y.max() <= high, (y.min(), y.max())
