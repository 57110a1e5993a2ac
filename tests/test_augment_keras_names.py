"""What a layer is (affine vs. resampling), and the layers that share a Keras name.

Layers named like a `keras.layers` layer take Keras' argument names and defaults, or
their docstring and docs/api/augment.md say where and why they differ.
"""

import inspect
import pathlib
import warnings

import keras
import numpy as np
import pytest

import keras_blocks.augment as kba
from keras_blocks.augment import affine
from tests.layer_checks import check_config_round_trip, to_numpy

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "api" / "augment.md"
KERAS_NAMES = ("RandomFlip", "MixUp", "CutMix", "RandAugment", "RandomErasing", "Pipeline")
# Keras arguments ours does not share (absent, or another default), each explained in
# the layer's docstring and in the docs' table. data_format: ours are channels-last only.
DIFFERENCES = {
    ("CutMix", "factor"): "alpha",
    ("RandomErasing", "factor"): "probability",
    ("RandomErasing", "fill_value"): "fill_value",
    ("Pipeline", "name"): None,  # a standard layer argument, through **kwargs
}
RESAMPLING_ARGS = ("interpolation", "fill_mode", "fill_value")


def _parameters(cls):
    return {name: p for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_keras_arguments_shared_or_documented(name):
    ours, theirs = _parameters(getattr(kba, name)), _parameters(getattr(keras.layers, name))
    doc = inspect.getdoc(getattr(kba, name))
    assert f"keras.layers.{name}" in doc, f"{name}'s docstring does not compare with Keras"
    shared = []
    for argument, parameter in theirs.items():
        if argument == "data_format":
            assert argument not in ours and "data_format" in doc
            continue
        if (name, argument) in DIFFERENCES:
            differs = argument not in ours or ours[argument].default != parameter.default
            assert differs, f"{name}({argument}) now matches Keras: drop it from DIFFERENCES"
            assert f"`{argument}`" in doc, f"{name}'s docstring does not explain {argument}"
            continue
        assert argument in ours, f"{name} lacks Keras' argument {argument!r}"
        assert ours[argument].default == parameter.default, (name, argument)
        shared.append(argument)
    assert [a for a in ours if a in shared] == shared  # in Keras' order
    if name == "RandAugment":  # and where Keras' positional arguments are ours, at its places
        assert list(ours)[:5] == list(theirs)[:5]


def test_docs_table_lists_every_keras_named_layer():
    text = DOCS.read_text()
    section = text[text.index("## Where we differ from the Keras layers"):]
    section = section[:section.index("\n## ", 1)]
    for name in KERAS_NAMES:
        assert f"| `{name}` |" in section, name


def test_flip_is_an_affine_layer_without_resampling_arguments():
    flip = kba.RandomFlip(seed=0)
    assert isinstance(flip, kba.AffineLayer) and not isinstance(flip, kba.GeometricLayer)
    assert isinstance(kba.RandomRotation(0.1), kba.AffineLayer)
    assert flip.mode == "horizontal_and_vertical"  # Keras' default
    config = check_config_round_trip(flip).get_config()
    assert not any(hasattr(flip, a) or a in config for a in RESAMPLING_ARGS), config
    assert "interpolation" not in inspect.signature(kba.RandomFlip).parameters


@pytest.mark.parametrize("argument, value", [("interpolation", "nearest"),
                                             ("fill_mode", "constant"), ("fill_value", 0.0)])
def test_flip_refuses_resampling_arguments(argument, value):
    with pytest.raises(TypeError, match=f"RandomFlip: got `{argument}`, which a flip does not"):
        kba.RandomFlip("horizontal", **{argument: value})


def test_default_flip_mode_flips_both_axes_independently():
    x = np.random.rand(2, 5, 7, 3).astype("float32")
    np.testing.assert_array_equal(to_numpy(kba.RandomFlip(probability=1.0)(x)),
                                  x[:, ::-1, ::-1])
    # Each axis draws on its own: over 64 images all four outcomes occur.
    x = np.random.rand(64, 3, 3, 1).astype("float32")
    y = to_numpy(kba.RandomFlip(seed=4)(x))
    flips = {"none": lambda a: a, "left-right": lambda a: a[:, ::-1],
             "top-bottom": lambda a: a[::-1], "both": lambda a: a[::-1, ::-1]}
    outcomes = [[k for k, flip in flips.items() if np.array_equal(b, flip(a))]
                for a, b in zip(x, y, strict=True)]
    assert all(len(found) == 1 for found in outcomes), outcomes
    assert {found[0] for found in outcomes} == set(flips)


def _count_warps(monkeypatch):
    calls = []
    original = affine.warp

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(affine, "warp", counting)
    return calls


def test_pipeline_of_flips_stays_exact_without_resampling(monkeypatch):
    calls = _count_warps(monkeypatch)
    x = np.random.randint(0, 256, (3, 6, 8, 3)).astype("uint8")
    pipeline = kba.Pipeline([kba.RandomFlip("horizontal", probability=1.0),
                             kba.RandomFlip("vertical", probability=1.0)])
    np.testing.assert_array_equal(to_numpy(pipeline(x)), x[:, ::-1, ::-1].astype("float32"))
    assert calls == []


def test_flip_fuses_with_the_resampling_settings_of_its_neighbours(monkeypatch):
    calls = _count_warps(monkeypatch)
    pipeline = kba.Pipeline([
        kba.RandomFlip("horizontal", seed=0),
        kba.RandomRotation(0.1, interpolation="nearest", fill_mode="constant", seed=1),
        kba.RandomFlip("vertical", seed=2),
        kba.RandomShear(0.1, interpolation="nearest", fill_mode="constant", seed=3),
    ])
    pipeline(np.random.rand(2, 8, 8, 3).astype("float32"))
    assert calls == [{"output_size": (8, 8), "interpolation": "nearest",
                      "fill_mode": "constant", "fill_value": 0.0}]


def test_rand_augment_takes_keras_order_and_factor():
    layer = kba.RandAugment((0, 1), 3, 0.7, "nearest", 5)
    assert (layer.value_range, layer.num_ops, layer.factor) == ((0.0, 1.0), 3, (0.0, 0.7))
    assert (layer.interpolation, layer.seed) == ("nearest", 5)
    config = check_config_round_trip(layer).get_config()
    assert config["factor"] == [0.0, 0.7] and "magnitude" not in config
    with pytest.raises(ValueError, match="the first argument is `value_range`"):
        kba.RandAugment(2, 0.5)


def test_rand_augment_magnitude_still_works_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="`magnitude` is now called `factor`"):
        layer = kba.RandAugment(magnitude=(0.2, 0.4), seed=0)
    assert layer.factor == (0.2, 0.4)
    config = {**layer.get_config(), "magnitude": [0.1, 0.3]}
    del config["factor"]  # a config saved before the rename
    with pytest.warns(DeprecationWarning):
        assert kba.RandAugment.from_config(config).factor == (0.1, 0.3)
    with warnings.catch_warnings(), pytest.raises(ValueError, match="`magnitude` must lie"):
        warnings.simplefilter("ignore")
        kba.RandAugment(magnitude=1.5)
