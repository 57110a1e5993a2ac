"""Fusion: composed matrices equal applying the sampled transforms one after another."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import keras_blocks.augment as kba
from keras_blocks.augment import affine
from tests.layer_checks import to_numpy

B = kba.RandomFlip().backend  # the active backend's ops, as the layers use in a model

MAKERS = {
    "flip": lambda s: kba.RandomFlip("horizontal_and_vertical", seed=s),
    "rotation": lambda s: kba.RandomRotation(0.15, seed=s),
    "translation": lambda s: kba.RandomTranslation(0.2, 0.2, seed=s),
    "width": lambda s: kba.RandomWidth(0.3, seed=s),
    "zoom": lambda s: kba.RandomZoom(0.3, (-0.2, 0.2), seed=s),
    "shear": lambda s: kba.RandomShear(0.2, 0.2, seed=s),
}


def _smooth_images(n, height, width, seed=0):
    """Low-frequency images: interpolation errors stay small, so images compare."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    images = []
    for _ in range(n):
        channels = []
        for _ in range(3):
            fy, fx, phase = rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5), rng.uniform(0, 6)
            channels.append(0.5 + 0.4 * np.sin(2 * np.pi * (fy * y / height + fx * x / width)
                                               + phase))
        images.append(np.stack(channels, -1))
    return np.stack(images).astype("float32")


def _sample(layers, n, height, width):
    matrices = []
    for layer in layers:
        matrices.append(layer.sample_matrices(B, n, height, width, True))
        height, width = layer.output_image_size(height, width)
    return matrices


@given(
    names=st.lists(st.sampled_from(sorted(MAKERS)), min_size=2, max_size=5),
    seed=st.integers(0, 10_000),
    height=st.integers(16, 33),
    width=st.integers(16, 33),
)
def test_composed_matrix_maps_points_like_the_steps(names, seed, height, width):
    layers = [MAKERS[name](seed + i) for i, name in enumerate(names)]
    matrices = [to_numpy(m).astype("float64") for m in _sample(layers, 4, height, width)]
    points = np.random.default_rng(seed).uniform(-5, 40, (4, 50, 2))
    # Step by step: the output of the LAST layer reads from its input, which is the
    # output of the layer before, ... down to the original image.
    stepped = points
    for m in reversed(matrices):
        stepped = np.einsum("bij,bnj->bni", m[:, :2, :2], stepped) + m[:, None, :2, 2]
    composed = matrices[0]
    for m in matrices[1:]:
        composed = composed @ m
    direct = np.einsum("bij,bnj->bni", composed[:, :2, :2], points) + composed[:, None, :2, 2]
    np.testing.assert_allclose(direct, stepped, rtol=1e-12, atol=1e-9)
    # The library's own composition and point mapping (float32) agree with it.
    library = to_numpy(affine.apply_to_points(
        B, affine.compose(B, [B.convert_to_tensor(m, "float32") for m in matrices]),
        B.convert_to_tensor(points, "float32")))
    np.testing.assert_allclose(library, stepped, atol=2e-3)


def test_each_matrix_means_what_it_says():
    ones = B.numpy.ones((1,), "float32")
    point = np.array([[[3.0, 4.0]]], "float32")

    def read(m):
        return to_numpy(affine.apply_to_points(B, m, point))[0, 0]

    np.testing.assert_allclose(read(affine.translation(B, 2 * ones, -1 * ones)), [1, 5])
    np.testing.assert_allclose(read(affine.flip(B, ones, 0 * ones, 8, 10)), [6, 4])
    np.testing.assert_allclose(read(affine.scaling(B, 2 * ones, ones, 9, 9)), [2, 4])
    np.testing.assert_allclose(read(affine.shear(B, 0.5 * ones, 0 * ones, 9, 9)), [3, 4])
    np.testing.assert_allclose(read(affine.rotation(B, np.pi * ones, 9, 9)), [5, 4], atol=1e-5)


@pytest.mark.parametrize("names", [
    ("flip", "rotation", "translation", "width"),
    ("zoom", "shear", "rotation"),
    ("rotation", "rotation", "flip"),
])
def test_fused_image_equals_sequential_resampling_up_to_interpolation(names):
    n, height, width = 4, 33, 31
    images = _smooth_images(n, height, width)
    layers = [MAKERS[name](7 + i) for i, name in enumerate(names)]
    matrices = _sample(layers, n, height, width)
    fused = to_numpy(affine.warp(B, images, affine.compose(B, matrices)))
    sequential = images
    for m in matrices:
        sequential = to_numpy(affine.warp(B, sequential, m))
    # Borders differ by construction (each step reflects its own border), so compare
    # the central region, where both read real pixels.
    centre = (slice(None), slice(10, 23), slice(10, 21))
    error = np.abs(fused[centre] - sequential[centre])
    assert error.mean() < 0.01 and error.max() < 0.06, (error.mean(), error.max())
    # ... and the comparison can fail: a different transform is far off.
    other = to_numpy(affine.warp(B, images, affine.compose(B, matrices[::-1])))
    assert np.abs(other[centre] - sequential[centre]).mean() > 5 * error.mean() or len(
        set(names)) == 1


def test_pipeline_fuses_and_matches_the_layers_applied_one_by_one():
    images = _smooth_images(4, 29, 29) * 255
    names = ("flip", "rotation", "translation", "width", "zoom")
    fused = kba.Pipeline([MAKERS[name](i) for i, name in enumerate(names)])
    assert len(fused._groups()) == 1  # one resampling
    unfused = kba.Pipeline([MAKERS[name](i) for i, name in enumerate(names)], fuse=False)
    assert len(unfused._groups()) == len(names)
    one_by_one = [MAKERS[name](i) for i, name in enumerate(names)]
    expected = images
    for layer in one_by_one:
        expected = to_numpy(layer(expected))
    np.testing.assert_allclose(to_numpy(unfused(images)), expected, atol=1e-3)
    centre = (slice(None), slice(9, 20), slice(9, 20))
    error = np.abs(to_numpy(fused(images))[centre] - expected[centre])
    assert error.mean() < 2.5 and error.max() < 15, (error.mean(), error.max())


def test_fusion_is_sharper_than_sequential_resampling():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (8, 32, 32, 3)).astype("float32")  # all high frequency
    names = ("rotation", "translation", "width", "shear")
    fused = to_numpy(kba.Pipeline([MAKERS[n](i) for i, n in enumerate(names)])(images))
    unfused = to_numpy(kba.Pipeline([MAKERS[n](i) for i, n in enumerate(names)],
                                    fuse=False)(images))
    # Each bilinear pass averages neighbours: four passes leave less contrast than one.
    assert fused.std() > unfused.std() * 1.05, (fused.std(), unfused.std())


def test_groups_break_on_different_resampling_settings():
    pipeline = kba.Pipeline([
        kba.RandomRotation(0.1), kba.RandomFlip(), kba.RandomZoom(0.1),
        kba.RandomShear(0.1, fill_mode="constant"), kba.RandomContrast(0.1),
        kba.RandomTranslation(0.1, 0.1),
    ])
    sizes = [len(item) if geometric else 0 for geometric, item in pipeline._groups()]
    assert sizes == [3, 1, 0, 1]


def test_resized_crop_fuses_with_rotation():
    images = _smooth_images(3, 40, 36) * 255
    crop = kba.Pipeline([kba.RandomRotation(0.05, seed=1),
                         kba.RandomResizedCrop(24, 20, scale=(0.3, 0.6), seed=2)])
    assert len(crop._groups()) == 1
    out = to_numpy(crop(images))
    rotation, resized = kba.RandomRotation(0.05, seed=1), kba.RandomResizedCrop(
        24, 20, scale=(0.3, 0.6), seed=2)
    expected = to_numpy(resized(rotation(images)))
    assert out.shape == expected.shape == (3, 24, 20, 3)
    centre = (slice(None), slice(6, 18), slice(5, 15))
    assert np.abs(out[centre] - expected[centre]).mean() < 3.0
