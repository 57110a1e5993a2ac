"""Pipeline, presets, keras-cv adapter and the augmentation grid."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_blocks.augment as kba
from keras_blocks import registry
from tests.figures import assert_figure
from tests.layer_checks import run_layer_checks, to_numpy


@pytest.mark.parametrize("name", ["course", "light", "medium", "heavy"])
def test_presets(name, tmp_path):
    pipeline = kba.Pipeline.from_preset(name, seed=0)
    assert isinstance(registry.create("preset", name), kba.Pipeline)
    x = np.random.randint(0, 256, (3, 17, 19, 3)).astype("uint8")
    assert tuple(pipeline(x).shape) == x.shape
    run_layer_checks(kba.Pipeline, pipeline.get_config() | {"layers": pipeline.layers},
                     (2, 17, 19, 3), tmp_path, training_differs=True, input_range=(0, 255),
                     check_mixed=name == "course", check_jit=name == "course",
                     # One seed generator of its own and one per layer.
                     expected_weights=(0, 0),
                     expected_seed_generators=1 + len(pipeline.layers))


def test_course_preset_is_reproducible_from_one_seed():
    x = np.random.randint(0, 256, (4, 16, 16, 3)).astype("uint8")
    a = to_numpy(kba.Pipeline.from_preset("course", seed=5)(x))
    b = to_numpy(kba.Pipeline.from_preset("course", seed=5)(x))
    np.testing.assert_array_equal(a, b)
    # ... and the seed decides: another one draws other transforms.
    c = to_numpy(kba.Pipeline.from_preset("course", seed=6)(x))
    assert not np.allclose(a, c)


def test_unknown_preset_and_bad_layers():
    with pytest.raises(ValueError, match=r"unknown preset `name`='strong'. Valid presets: "
                                         r".*'course'"):
        kba.Pipeline.from_preset("strong")
    with pytest.raises(ValueError, match="Unknown augmentation 'twirl'"):
        kba.Pipeline(["flip", "twirl"])
    with pytest.raises(ValueError, match="`layers` must be a non-empty list"):
        kba.Pipeline([])
    with pytest.raises(ValueError, match="every entry of `layers`"):
        kba.Pipeline([3])


def test_names_dicts_and_keras_layers_mix():
    pipeline = kba.Pipeline(["flip", {"name": "rotation", "factor": 0.1},
                             keras.layers.RandomContrast(0.2, seed=0)], seed=3)
    assert pipeline.layers[0].seed == 3 and pipeline.layers[1].seed == 4
    x = np.random.rand(2, 16, 16, 3).astype("float32") * 255
    assert tuple(pipeline(x).shape) == x.shape
    config = json.loads(json.dumps(pipeline.get_config()))
    again = kba.Pipeline.from_config(config)
    assert [type(layer) for layer in again.layers] == [type(layer) for layer in pipeline.layers]


def test_pipeline_in_a_model_and_tf_data():
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, kba.Pipeline.from_preset("medium")(inputs))
    x = np.random.rand(2, 16, 16, 3).astype("float32")
    np.testing.assert_allclose(to_numpy(model.predict(x, verbose=0)), x, atol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2).map(kba.Pipeline.from_preset("course"))
    assert next(iter(ds)).shape == (2, 16, 16, 3)


def test_keras_cv_layers_in_a_pipeline():
    pytest.importorskip("keras_cv")
    images = np.random.rand(6, 16, 16, 3) * 255  # float64, as NumPy makes them
    labels = np.eye(2)[np.random.randint(0, 2, 6)]
    pipeline = kba.Pipeline([
        kba.RandomFlip(seed=0),
        kba.KerasCVLayer("RandomSharpness", {"factor": 0.5, "value_range": (0, 255)}),
        kba.KerasCVLayer("MixUp", {"seed": 1}),
        kba.KerasCVLayer("CutMix", {"seed": 2}),
    ])
    out_images, out_labels = pipeline((images, labels))
    assert tuple(out_images.shape) == images.shape
    np.testing.assert_allclose(to_numpy(out_labels).sum(1), 1.0, atol=1e-5)
    assert not np.allclose(to_numpy(out_labels), labels)
    # Identity at inference; dict format; serialization through keras-cv's registry.
    out = pipeline({"images": images, "labels": labels}, training=False)
    np.testing.assert_allclose(to_numpy(out["images"]), images, atol=1e-3)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(pipeline)))
    again = keras.saving.deserialize_keras_object(config)
    assert type(again.layers[2].layer).__name__ == "MixUp"
    with pytest.raises(ValueError, match="mixes images AND labels"):
        kba.KerasCVLayer("MixUp")(images)
    with pytest.raises(ValueError, match=r"not a keras_cv\.layers class"):
        kba.KerasCVLayer("Twirl")
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3).map(
        lambda x, y: pipeline((x, y)))
    assert next(iter(ds))[1].shape == (3, 2)


def test_keras_cv_is_imported_only_by_the_adapter():
    import pathlib
    import re

    import keras_blocks

    root = pathlib.Path(keras_blocks.__file__).parent
    pattern = re.compile(r"^\s*(import keras_cv|from keras_cv)|import_module\(.keras_cv",
                         re.M)
    users = sorted(p.name for p in root.rglob("*.py") if pattern.search(p.read_text()))
    assert users == ["keras_cv_adapter.py"], users


def test_show_augmentations_draws_a_grid(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from keras_blocks.viz import show_augmentations

    image = np.random.randint(0, 256, (20, 24, 3)).astype("uint8")
    path = tmp_path / "grid.png"
    figure = show_augmentations(kba.Pipeline.from_preset("course", seed=0), image, n=16,
                                path=path)
    assert len(figure.axes) == 16
    assert_figure(path, size=(800, 800))  # 4 x 4 cells of 2 inches at 100 dpi
    pictures = [ax.images[0].get_array() for ax in figure.axes]
    assert len({np.asarray(p).tobytes() for p in pictures}) == 16  # sixteen different draws
    with pytest.raises(ValueError, match="`n` must be an integer >= 1"):
        show_augmentations(kba.RandomFlip(), image, n=0)
    with pytest.raises(ValueError, match="one image"):
        show_augmentations(kba.RandomFlip(), image[None, None])
