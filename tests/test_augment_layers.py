"""Every augmentation layer: shared checks, drawn configs, seeds, dtypes, bad input."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

import keras_blocks.augment as kba
from keras_blocks import registry
from tests.layer_checks import check_config_round_trip, run_layer_checks, to_numpy

# (class, kwargs that surely change a small batch, input range)
LAYERS = [
    (kba.RandomFlip, {"mode": "horizontal", "probability": 1.0, "seed": 3}, (0.0, 1.0)),
    (kba.RandomFlip, {"mode": "horizontal_and_vertical", "probability": 1.0}, (0.0, 1.0)),
    (kba.RandomRotation, {"factor": (0.05, 0.2), "seed": 1}, (0.0, 1.0)),
    (kba.RandomTranslation, {"height_factor": (0.1, 0.2), "width_factor": 0.1}, (0.0, 1.0)),
    (kba.RandomWidth, {"factor": (0.2, 0.3), "fill_mode": "constant"}, (0.0, 1.0)),
    (kba.RandomZoom, {"height_factor": (0.2, 0.3), "width_factor": (-0.3, -0.2)}, (0.0, 1.0)),
    (kba.RandomShear, {"x_factor": (0.2, 0.3), "y_factor": 0.1, "interpolation": "nearest"},
     (0.0, 1.0)),
    (kba.RandomContrast, {"factor": (0.3, 0.5), "value_range": (0, 1)}, (0.0, 1.0)),
    (kba.RandomBrightness, {"factor": (0.1, 0.2), "value_range": (0, 1)}, (0.0, 0.5)),
    (kba.RandomErasing, {"probability": 1.0, "scale": (0.2, 0.4), "value_range": (0, 1)},
     (0.5, 1.0)),
    (kba.RandAugment, {"num_ops": 2, "factor": (0.5, 0.9), "seed": 2}, (0.0, 255.0)),
    (kba.RandAugment, {"num_ops": 1, "geometric": False, "value_range": (0, 1), "seed": 5},
     (0.0, 1.0)),
    (kba.RandAugment, {"num_ops": 2, "factor": (0.5, 0.9), "per_batch": True, "seed": 2},
     (0.0, 255.0)),
]


@pytest.mark.parametrize("cls, kwargs, value_range", LAYERS,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(LAYERS)])
def test_shared_checks(cls, kwargs, value_range, tmp_path):
    # No weights; every augmentation layer owns one seed generator.
    run_layer_checks(cls, kwargs, (3, 13, 17, 3), tmp_path, training_differs=True,
                     input_range=value_range, expected_weights=(0, 0),
                     expected_seed_generators=1)


def test_resized_crop_shared_checks_and_sizes(tmp_path):
    run_layer_checks(kba.RandomResizedCrop, {"height": 9, "width": 11, "seed": 0},
                     (2, 15, 13, 3), tmp_path, expected_output_shape=(2, 9, 11, 3),
                     training_differs=True, expected_weights=(0, 0),
                     expected_seed_generators=1)
    # Inference: the central box of the output's aspect ratio, resized; identity when the
    # sizes already match.
    x = np.random.rand(2, 12, 12, 3).astype("float32")
    same = kba.RandomResizedCrop(12, 12)(x, training=False)
    np.testing.assert_allclose(to_numpy(same), x, atol=1e-6)
    larger = kba.RandomResizedCrop(20, 30, scale=(0.5, 1.0))(x)
    assert tuple(larger.shape) == (2, 20, 30, 3)


GEOMETRIC = st.sampled_from([
    lambda s: kba.RandomFlip("horizontal_and_vertical", seed=s),
    lambda s: kba.RandomRotation(0.2, seed=s),
    lambda s: kba.RandomTranslation(0.2, (-0.1, 0.3), seed=s),
    lambda s: kba.RandomWidth((-0.3, 0.3), seed=s),
    lambda s: kba.RandomZoom((-0.2, 0.4), seed=s),
    lambda s: kba.RandomShear(0.3, 0.2, seed=s),
    lambda s: kba.RandomContrast(0.4, seed=s),
    lambda s: kba.RandomBrightness(0.2, seed=s),
    lambda s: kba.RandomErasing(0.7, fill_value="random", seed=s),
    lambda s: kba.RandAugment(num_ops=3, factor=0.8, seed=s),
    lambda s: kba.Pipeline.from_preset("course", seed=s),
    lambda s: kba.Pipeline.from_preset("medium", seed=s),
])


@given(
    make=GEOMETRIC,
    seed=st.integers(0, 2**16),
    height=st.integers(16, 33),
    width=st.integers(16, 33),
    channels=st.sampled_from([1, 3]),
    dtype=st.sampled_from(["uint8", "float32"]),
    batch=st.integers(1, 4),
)
def test_drawn_layers_sizes_dtypes_seeds(make, seed, height, width, channels, dtype, batch):
    if channels == 1 and make(0).__class__ is kba.RandAugment:
        channels = 3
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (batch, height, width, channels)).astype(dtype)
    layer_a, layer_b = make(seed), make(seed)
    out_a = to_numpy(layer_a(x))
    out_b = to_numpy(layer_b(x))
    assert out_a.shape == x.shape and out_a.dtype == np.float32
    np.testing.assert_array_equal(out_a, out_b)  # same seed, same result
    assert np.all(np.isfinite(out_a))
    assert out_a.min() >= -1e-3 and out_a.max() <= 255.0 + 1e-3  # stays in value_range
    # Identity at inference (only the cast to float32).
    np.testing.assert_array_equal(to_numpy(layer_a(x, training=False)), x.astype("float32"))
    # A single image works and gives an image.
    single = to_numpy(layer_a(x[0]))
    assert single.shape == x.shape[1:]


@pytest.mark.parametrize("layer", [
    kba.RandomRotation(0.3), kba.RandomZoom(0.3), kba.RandomShear(0.3),
    kba.RandomContrast(0.5), kba.RandomBrightness(0.3), kba.RandomWidth(0.3),
    kba.RandomTranslation(0.3, 0.3), kba.RandAugment(num_ops=2, factor=0.9),
], ids=lambda layer: type(layer).__name__)
def test_each_sample_gets_its_own_parameters(layer):
    image = np.random.default_rng(0).integers(0, 256, (1, 16, 16, 3)).astype("float32")
    out = to_numpy(layer(np.repeat(image, 6, axis=0)))
    distinct = {out[i].tobytes() for i in range(6)}
    # Continuous parameters: six copies, six different images. RandAugment also draws
    # ops without a magnitude (identity, equalize, auto_contrast), so two of its samples
    # can coincide by chance (about 1 in 200 per pair): one coincidence is allowed there.
    assert len(distinct) >= (5 if isinstance(layer, kba.RandAugment) else 6), len(distinct)


def test_the_stream_advances_and_differs_by_seed():
    x = np.random.rand(4, 16, 16, 3).astype("float32")
    layer = kba.RandomRotation(0.2, seed=1)
    first, second = to_numpy(layer(x)), to_numpy(layer(x))
    assert not np.allclose(first, second)
    assert not np.allclose(to_numpy(kba.RandomRotation(0.2, seed=2)(x)), first)


def test_contrast_and_brightness_values():
    x = np.random.default_rng(0).uniform(0.2, 0.8, (2, 8, 8, 3)).astype("float32")
    y = to_numpy(kba.RandomContrast((0.5, 0.5), value_range=(0, 1))(x))
    mean = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, np.clip((x - mean) * 1.5 + mean, 0, 1), atol=1e-5)
    y = to_numpy(kba.RandomBrightness((0.1, 0.1), value_range=(0, 255))(x * 255))
    np.testing.assert_allclose(y, np.clip(x * 255 + 25.5, 0, 255), atol=1e-3)


def test_erasing_fills_one_box_per_image():
    x = np.ones((6, 20, 24, 3), "float32")
    y = to_numpy(kba.RandomErasing(1.0, scale=(0.1, 0.2), fill_value=0.0, seed=3)(x))
    for image in y:
        rows, cols = np.nonzero(image[..., 0] == 0)
        assert rows.size > 0
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert box == rows.size  # a filled rectangle
        assert 0.05 * 480 <= rows.size <= 0.3 * 480


def test_flip_is_exact():
    x = np.random.rand(2, 7, 9, 3).astype("float32")
    y = to_numpy(kba.RandomFlip("horizontal", probability=1.0)(x))
    np.testing.assert_array_equal(y, x[:, :, ::-1])
    y = to_numpy(kba.RandomFlip("vertical", probability=1.0)(x))
    np.testing.assert_array_equal(y, x[:, ::-1])


def test_rotation_turns_counter_clockwise():
    x = np.zeros((1, 21, 21, 1), "float32")
    x[0, 10, 18] = 1.0  # right of the centre
    y = to_numpy(kba.RandomRotation((0.25, 0.25), interpolation="nearest",
                                    fill_mode="constant")(x))
    assert np.unravel_index(np.argmax(y[0, ..., 0]), (21, 21)) == (2, 10)  # above it


def test_in_tf_data_graph_mode():
    x = np.random.randint(0, 256, (8, 16, 16, 3)).astype("uint8")
    for layer in (kba.RandomRotation(0.1, seed=0), kba.RandAugment(seed=0),
                  kba.Pipeline.from_preset("heavy", seed=0)):
        ds = tf.data.Dataset.from_tensor_slices(x).batch(4).map(
            layer, num_parallel_calls=tf.data.AUTOTUNE)
        batches = [b.numpy() for b in ds]
        assert [b.shape for b in batches] == [(4, 16, 16, 3)] * 2
        assert batches[0].dtype == np.float32
    # Unbatched elements (single images) too.
    ds = tf.data.Dataset.from_tensor_slices(x).map(kba.RandomZoom(0.2, seed=0))
    assert next(iter(ds)).shape == (16, 16, 3)


def test_every_layer_is_registered():
    names = registry.available("augmentation")
    for name in ("flip", "rotation", "translation", "width", "zoom", "shear", "resized_crop",
                 "contrast", "brightness", "erasing", "mixup", "cutmix", "rand_augment",
                 "pipeline"):
        assert name in names
    layer = registry.create("augmentation", {"name": "rotation", "factor": 0.1})
    assert isinstance(layer, kba.RandomRotation)
    check_config_round_trip(layer)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: kba.RandomRotation(1.5), "`factor` must lie within [-1.0, 1.0]"),
        (lambda: kba.RandomRotation(-0.1), "`factor` as a single number must be >= 0"),
        (lambda: kba.RandomRotation((0.3, 0.1)), "low <= high"),
        (lambda: kba.RandomRotation("big"), "`factor` must be a number or a (low, high)"),
        (lambda: kba.RandomTranslation(0.1, 2.0), "`width_factor` must lie within"),
        (lambda: kba.RandomWidth((-1.0, 0.2)), "`factor` must lie within (-1.0"),
        (lambda: kba.RandomZoom(0.1, (-1.5, 0.1)), "`width_factor`"),
        (lambda: kba.RandomShear(x_factor=(0.5, 0.2)), "`x_factor` must be (low, high)"),
        (lambda: kba.RandomContrast(0.1, value_range=(1, 0)), "`value_range`"),
        (lambda: kba.RandomContrast((-2, 0.1)), "`factor` must lie within [-1.0"),
        (lambda: kba.RandomBrightness(1.5), "`factor` must lie within [-1.0, 1.0]"),
        (lambda: kba.RandomFlip("diagonal"), "`mode` must be one of 'horizontal'"),
        (lambda: kba.RandomFlip(probability=1.5), "`probability`"),
        (lambda: kba.RandomRotation(0.1, fill_mode="mirror"), "`fill_mode` must be one of"),
        (lambda: kba.RandomRotation(0.1, interpolation="cubic"), "`interpolation`"),
        (lambda: kba.RandomRotation(0.1, seed=1.5), "`seed` must be None or an integer"),
        (lambda: kba.RandomResizedCrop(0, 8), "`height` must be an integer >= 1"),
        (lambda: kba.RandomResizedCrop(8, 8, scale=(0.0, 1.0)), "`scale`"),
        (lambda: kba.RandomResizedCrop(8, 8, scale=(0.5, 1.5)), "`scale`"),
        (lambda: kba.RandomErasing(scale=(0.5, 0.1)), "`scale`"),
        (lambda: kba.RandomErasing(fill_value="noise"), "`fill_value`"),
        (lambda: kba.RandAugment(num_ops=0), "`num_ops` must be an integer >= 1"),
        (lambda: kba.RandAugment(factor=1.5), "`factor` must lie within [0.0, 1.0]"),
        (lambda: kba.RandAugment(factor=(0.6, 0.2)), "`factor` must be (low, high)"),
        (lambda: kba.RandAugment(per_batch=1), "`per_batch` must be True or False"),
    ],
)
def test_bad_arguments_name_the_argument(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert message in str(error.value)


def test_non_image_ranks_raise():
    for shape in [(4, 4), (2, 4, 4, 3, 1)]:
        with pytest.raises(ValueError, match=r"rank-3 image .* or a rank-4 batch"):
            kba.RandomRotation(0.1)(np.zeros(shape, "float32"))
        with pytest.raises(ValueError, match=r"rank-3 image"):
            kba.RandomRotation(0.1).compute_output_shape(shape)


def test_dict_with_unknown_keys_is_refused():
    with pytest.raises(ValueError, match="needs the key 'images'"):
        kba.RandomFlip()({"images": np.zeros((1, 4, 4, 3)), "boxes": np.zeros((1, 4))})
