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


# ---- per_batch=True: one op list per batch, only those ops run.


def _record_ops(monkeypatch):
    """The (op name, batch size) of every colour op run (eagerly: only the picked
    branch of the switch runs)."""
    calls = []
    original = ra.apply_colour_op

    def recording(b, name, x, magnitude, sign):
        calls.append((name, int(x.shape[0])))
        return original(b, name, x, magnitude, sign)

    monkeypatch.setattr(ra, "apply_colour_op", recording)
    return calls


def test_per_batch_runs_one_op_per_round_on_the_whole_batch(monkeypatch):
    calls = _record_ops(monkeypatch)
    layer = kba.RandAugment(num_ops=2, geometric=False, per_batch=True, seed=3)
    x = np.random.default_rng(0).integers(0, 256, (6, 12, 12, 3)).astype("uint8")
    drawn = []
    for _ in range(12):
        calls.clear()
        layer(x)
        assert len(calls) <= 2 and all(size == 6 for _, size in calls), calls
        drawn.append(tuple(name for name, _ in calls))
    assert len(set(drawn)) >= 4, drawn  # a new op list for each batch
    # Per image (the default): the batch is split among the ops of each round.
    calls.clear()
    kba.RandAugment(num_ops=2, geometric=False, seed=3)(np.repeat(x, 8, axis=0))
    assert len(calls) == 2 * len(ra.COLOUR_OPS) and sum(s for _, s in calls) < 2 * 48


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_per_batch_values_are_the_drawn_ops_applied_to_every_image(seed):
    x = np.random.default_rng(seed).integers(0, 256, (5, 12, 10, 3)).astype("uint8")
    layer = kba.RandAugment(num_ops=2, factor=(0.2, 0.8), geometric=False, per_batch=True,
                            seed=seed)
    twin = kba.RandAugment(num_ops=2, factor=(0.2, 0.8), geometric=False, seed=seed)
    draws = to_numpy(twin.uniform(B, (2, 3, 5)))  # the same stream, so the same draws
    expected = x.astype("float32")
    k = len(twin.ops)
    for r in range(2):
        op = min(int(np.floor(draws[r, 0, 0] * k)), k - 1)
        if op < len(ra.COLOUR_OPS):
            expected = to_numpy(ra.apply_colour_op(
                B, ra.COLOUR_OPS[op], B.convert_to_tensor(expected),
                B.convert_to_tensor(0.2 + 0.6 * draws[r, 1], "float32"),
                B.convert_to_tensor(np.where(draws[r, 2] < 0.5, -1.0, 1.0), "float32")))
    np.testing.assert_allclose(to_numpy(layer(x)), np.clip(expected, 0, 255), atol=1e-4)


@pytest.mark.parametrize("seed", range(8))
def test_per_batch_geometric_ops_warp_every_image_or_none(seed):
    from keras_blocks.augment import affine

    x = np.random.default_rng(seed).integers(0, 256, (4, 16, 16, 3)).astype("uint8")
    layer = kba.RandAugment(num_ops=1, factor=(0.5, 0.5), per_batch=True, seed=seed)
    twin = kba.RandAugment(num_ops=1, factor=(0.5, 0.5), seed=seed)
    draws = to_numpy(twin.uniform(B, (1, 3, 4)))
    op = min(int(np.floor(draws[0, 0, 0] * len(twin.ops))), len(twin.ops) - 1)
    y = to_numpy(layer(x))
    if twin.ops[op] in ra.GEOMETRIC_OPS:  # every image resampled through its own matrix
        signs = np.where(draws[0, 2] < 0.5, -1.0, 1.0).astype("float32")
        matrices = ra.geometric_matrices(
            B, B.convert_to_tensor(np.full((4,), op, "int32")),
            B.convert_to_tensor(np.full((4,), 0.5, "float32")), B.convert_to_tensor(signs),
            twin.ops, 16, 16)
        expected = to_numpy(affine.warp(B, B.convert_to_tensor(x.astype("float32")), matrices))
        np.testing.assert_allclose(y, expected, atol=1e-3)
        assert all(not np.array_equal(y[i], x[i]) for i in range(4))
    elif twin.ops[op] == "identity":  # no resampling at all: the exact pixels
        np.testing.assert_array_equal(y, x.astype("float32"))


def test_per_batch_draws_geometric_and_colour_batches():
    layer = kba.RandAugment(num_ops=1, factor=(0.5, 0.5), seed=0)
    k = len(layer.ops)
    ops = [min(int(np.floor(to_numpy(kba.RandAugment(num_ops=1, seed=s).uniform(
        B, (1, 3, 4)))[0, 0, 0] * k)), k - 1) for s in range(8)]
    # The seeds above cover a geometric op, the identity and colour ops.
    names = {layer.ops[i] for i in ops}
    assert names & set(ra.GEOMETRIC_OPS) and names & set(ra.COLOUR_OPS), names


def test_per_batch_runs_in_tf_data_and_round_trips():
    import tensorflow as tf

    from tests.layer_checks import check_config_round_trip

    layer = kba.RandAugment(num_ops=2, per_batch=True, seed=1)
    restored = check_config_round_trip(layer)
    assert restored.per_batch is True and layer.get_config()["per_batch"] is True
    assert kba.RandAugment().get_config()["per_batch"] is False
    x = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype("uint8")
    out = np.concatenate(list(tf.data.Dataset.from_tensor_slices(x).batch(4).map(layer)))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 255
