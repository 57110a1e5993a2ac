import keras
import numpy as np
import pytest

from keras_blocks import PatchWhitening
from tests.layer_checks import run_layer_checks, to_numpy


def correlated_images(n=48, size=12, seed=0):
    """Images whose neighbouring pixels and channels are strongly correlated."""
    rng = np.random.default_rng(seed)
    base = rng.random((n, size, size, 3))
    return (base + np.roll(base, 1, axis=1) + 2 * base[..., :1] + 0.3).astype("float32")


@pytest.mark.parametrize("kwargs, shape, expected", [
    ({}, (2, 9, 11, 3), (2, 8, 10, 24)),
    ({"patch_size": 3, "padding": "same"}, (2, 9, 11, 3), (2, 9, 11, 54)),
    ({"patch_size": 1}, (2, 5, 5, 2), (2, 5, 5, 4)),
])
def test_shared_checks(kwargs, shape, expected, tmp_path):
    # A fixed kernel and bias, both non-trainable (set by `adapt`).
    run_layer_checks(PatchWhitening, kwargs, shape, tmp_path, expected_output_shape=expected,
                     expected_weights=(0, 2), expected_seed_generators=0)


def test_before_adapt_it_passes_each_patch_value_through_in_both_signs():
    x = correlated_images(2, 6)
    y = to_numpy(PatchWhitening(patch_size=2)(x))
    # Channel 0 is the top-left pixel's first channel, channel 12 its negation.
    np.testing.assert_allclose(y[..., 0], x[:, :-1, :-1, 0], rtol=1e-6)
    np.testing.assert_allclose(y[..., 12], -x[:, :-1, :-1, 0], rtol=1e-6)


@pytest.mark.parametrize("patch_size", [1, 2, 3])
def test_adapted_outputs_are_white_on_the_adapted_images(patch_size):
    x = correlated_images()
    layer = PatchWhitening(patch_size=patch_size, epsilon=0.0)
    assert layer.adapt(x) is layer
    length = patch_size * patch_size * 3
    y = to_numpy(layer(x)).reshape(-1, 2 * length).astype("float64")
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(y[:, :length].T, bias=True), np.eye(length), atol=2e-3)
    np.testing.assert_allclose(y[:, length:], -y[:, :length], atol=1e-5)
    # The raw patches were far from white (the check above is not vacuous).
    raw = to_numpy(PatchWhitening(patch_size=patch_size)(x)).reshape(-1, 2 * length)
    assert np.abs(np.cov(raw[:, :length].T) - np.eye(length)).max() > 0.05


def test_epsilon_damps_the_low_variance_directions():
    x = correlated_images()
    plain = PatchWhitening(epsilon=0.0).adapt(x)
    damped = PatchWhitening(epsilon=1.0).adapt(x)
    var_plain = to_numpy(plain(x)).reshape(-1, 24)[:, :12].var(0)
    var_damped = to_numpy(damped(x)).reshape(-1, 24)[:, :12].var(0)
    assert np.all(var_damped < var_plain)
    # Ordered by variance, largest first: the last direction is damped the most.
    assert var_damped[-1] < var_damped[0]


def test_adapt_reads_datasets_generators_and_steps():
    import tensorflow as tf

    x = correlated_images(40)
    whole = PatchWhitening().adapt(x)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(40))).batch(8)
    from_dataset = PatchWhitening().adapt(dataset)
    np.testing.assert_allclose(to_numpy(from_dataset.kernel), to_numpy(whole.kernel),
                               rtol=1e-4, atol=1e-4)
    from_generator = PatchWhitening().adapt(batch for batch in np.split(x, 5))
    np.testing.assert_allclose(to_numpy(from_generator.bias), to_numpy(whole.bias),
                               rtol=1e-4, atol=1e-4)
    first_batch_only = PatchWhitening().adapt(dataset, steps=1)
    np.testing.assert_allclose(to_numpy(first_batch_only.kernel),
                               to_numpy(PatchWhitening().adapt(x[:8]).kernel), rtol=1e-4,
                               atol=1e-4)


def test_adapted_weights_save_and_load_with_the_model(tmp_path):
    x = correlated_images(8)
    inputs = keras.Input((12, 12, 3))
    layer = PatchWhitening()
    model = keras.Model(inputs, layer(inputs))
    layer.adapt(x)
    assert not layer.trainable_weights  # fitted, never trained
    path = tmp_path / "whiten.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"patch_size": 0}, "`patch_size` must be an integer >= 1; got 0"),
    ({"epsilon": -1.0}, "`epsilon`"),
    ({"padding": "causal"}, "`padding` must be one of 'valid', 'same'"),
])
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError) as error:
        PatchWhitening(**kwargs)
    assert message in str(error.value)


def test_bad_adapt_data_raises_naming_it():
    layer = PatchWhitening(patch_size=3)
    with pytest.raises(ValueError, match=r"rank 4 .* got shape \(4, 8, 3\)"):
        layer.adapt(np.zeros((4, 8, 3), "float32"))
    with pytest.raises(ValueError, match="smaller than one 3x3 patch"):
        layer.adapt(np.zeros((4, 2, 8, 3), "float32"))
    with pytest.raises(ValueError, match="held no images"):
        layer.adapt([])
    with pytest.raises(ValueError, match="iterable of image batches; got int"):
        layer.adapt(5)
    with pytest.raises(ValueError, match="every batch needs 3 channels"):
        layer.adapt([np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8, 1))])
    layer.adapt(correlated_images(4, 8))
    with pytest.raises(ValueError, match="built for 3 channels; the images have 1"):
        layer.adapt(np.zeros((2, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="`steps` must be an integer >= 1"):
        layer.adapt(correlated_images(4, 8), steps=0)


@pytest.mark.parametrize("shape", [(1, 2, 2, 3), (1, 8, 3, 3), (2, 3, 9, 1)])
def test_input_smaller_than_a_patch_raises_naming_shape_and_patch_size(shape):
    with pytest.raises(ValueError, match=r"input shape \(.*\) is smaller than one patch "
                                         r"\(patch_size=4, padding='valid'\)"):
        PatchWhitening(patch_size=4)(np.zeros(shape, "float32"))
    # Built for any size, then called on a small one: the same error, not a conv error.
    layer = PatchWhitening(patch_size=4)
    layer.build((None, None, None, shape[-1]))
    with pytest.raises(ValueError, match="smaller than one patch"):
        layer(np.zeros(shape, "float32"))
    # "same" padding needs no minimum size.
    assert PatchWhitening(patch_size=4, padding="same")(np.zeros(shape, "float32")).shape == (
        *shape[:3], 32 * shape[-1])


def test_integer_images_are_cast_to_float():
    x = np.random.default_rng(0).integers(0, 256, (2, 6, 6, 3))
    layer = PatchWhitening()
    out = layer(x.astype("uint8"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_array_equal(to_numpy(out), to_numpy(layer(x.astype("float32"))))
