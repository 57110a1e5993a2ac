"""The model zoo: `create_model` / `list_models` over the "base" registry, feature pyramids,
and every keras_blocks family on the TensorFlow, JAX and PyTorch backends."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_blocks
from keras_blocks import create_model, list_models, registry
from keras_blocks.models.pretrained import BaseSpec, register_base
from tests.backend_checks import zoo
from tests.layer_checks import to_numpy

REPO = pathlib.Path(__file__).resolve().parents[1]
HOME = keras.backend.backend()
OTHERS = tuple(b for b in ("tensorflow", "jax", "torch") if b != HOME)

# Channels of the pyramid levels at strides 4, 8, 16, 32 (the documented table).
CHANNELS = {
    "kb_resnet50": (256, 512, 1024, 2048),
    "kb_mobilenet_v2": (24, 32, 96, 320),
    "kb_vgg16": (128, 256, 512, 512),
    "kb_convnext_tiny": (96, 192, 384, 768),
    "kb_efficientnet_b0": (24, 40, 112, 320),
    "kb_efficientnet_v2_b0": (32, 48, 112, 192),
    "kb_mobilenet_v3_small": (16, 24, 48, 576),
}
KB_FAMILIES = sorted(name for name in list_models() if name.startswith("kb_"))


def test_list_models_lists_the_families():
    names = list_models()
    assert set(CHANNELS) <= set(names)
    assert {"squeezenet", "resnet50", "mobilenet_v2", "vgg16"} <= set(names)
    assert names == sorted(names)
    with_features = list_models(features=True)
    assert set(CHANNELS) | {"squeezenet"} <= set(with_features)
    assert "densenet121" in names and "densenet121" not in with_features
    assert keras_blocks.models.create is create_model


@pytest.mark.parametrize("name", KB_FAMILIES)
def test_every_family_gives_a_pyramid_at_strides_4_to_32(name):
    model = create_model(name, input_shape=(64, 64, 3), features=True)
    assert [level["stride"] for level in model.feature_info] == [4, 8, 16, 32]
    assert [level["key"] for level in model.feature_info] == ["P2", "P3", "P4", "P5"]
    pixels = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    outputs = model(pixels)
    assert sorted(outputs) == ["P2", "P3", "P4", "P5"]
    shapes = [tuple(outputs[level["key"]].shape) for level in model.feature_info]
    channels = [level["channels"] for level in model.feature_info]
    assert shapes == [(1, 64 // s, 64 // s, c) for s, c in zip((4, 8, 16, 32), channels,
                                                             strict=True)]
    if name in CHANNELS:
        assert tuple(channels) == CHANNELS[name]
    assert model.name == f"{name}_features"
    assert model.trainable and model.trainable_weights


def test_squeezenet_pyramid_stops_at_stride_16():
    model = create_model("squeezenet", input_shape=(64, 64, 3), features=True)
    assert [(lv["key"], lv["stride"], lv["channels"]) for lv in model.feature_info] == [
        ("P2", 4, 128), ("P3", 8, 256), ("P4", 16, 512)]
    # Valid convolutions and poolings: 64 -> 31 -> 15 -> 7 -> 3.
    assert [tuple(s[1:3]) for s in model.output_shape] == [(15, 15), (7, 7), (3, 3)]


def test_create_puts_the_preprocessing_inside_and_uses_the_registry_path():
    model = create_model("kb_vgg16", input_shape=(32, 32, 3), trainable=False)
    assert model.layers[1].name == "preprocessing" and model.layers[1].mode == "caffe"
    assert model.output_shape == (None, 1, 1, 512)
    assert not model.trainable_weights and model.name == "kb_vgg16"


@pytest.mark.parametrize("family, twin", [("kb_resnet50", "ResNet50"),
                                          ("kb_mobilenet_v2", "MobileNetV2"),
                                          ("kb_vgg16", "VGG16")])
def test_pyramid_equals_the_keras_applications_twin(family, twin, tmp_path):
    """Same file, same pyramid: the levels cut the same stages as keras.applications."""
    keras.utils.set_random_seed(3)
    network = getattr(keras.applications, twin)(include_top=False, weights=None,
                                                input_shape=(64, 64, 3))
    rng = np.random.default_rng(1)
    for layer in network.layers:  # live statistics, so a wrong cut shows
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape
            layer.set_weights([rng.uniform(0.5, 1.5, size), rng.normal(0, 0.1, size),
                               rng.normal(0, 0.1, size), rng.uniform(0.5, 2.0, size)])
    path = str(tmp_path / f"{twin}.weights.h5")
    network.save_weights(path)
    reference = create_model(family.removeprefix("kb_"), input_shape=(64, 64, 3),
                             features=True, weights=path)
    ours = create_model(family, input_shape=(64, 64, 3), features=True, weights=path)
    pixels = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    expected, actual = reference(pixels), ours(pixels)
    for key in ("P2", "P3", "P4", "P5"):
        e, a = to_numpy(expected[key]), to_numpy(actual[key])
        assert a.shape == e.shape
        assert np.abs(a - e).max() / np.abs(e).max() <= 1e-5, key


def test_a_registered_base_shows_up_in_list_models_and_create():
    def build(input_shape, weights):
        inputs = keras.Input(input_shape)
        x = inputs
        for i in range(5):
            x = keras.layers.Conv2D(4 * 2**i, 3, strides=2, padding="same",
                                    name=f"stage{i}")(x)
        return keras.Model(inputs, x)

    spec = register_base(BaseSpec("tiny_test_net", build, preprocessing="tf",
                                  features={4: "stage1", 8: "stage2", 16: "stage3",
                                            32: "stage4"}))
    try:
        assert "tiny_test_net" in list_models() and "tiny_test_net" in list_models(True)
        model = create_model("tiny_test_net", input_shape=(64, 64, 3), features=True)
        assert [tuple(s) for s in model.output_shape] == [
            (None, 16, 16, 8), (None, 8, 8, 16), (None, 4, 4, 32), (None, 2, 2, 64)]
        assert create_model("TINY_TEST_NET", input_shape=(64, 64, 3)).output_shape == (
            None, 2, 2, 64)
        assert spec.features == {4: "stage1", 8: "stage2", 16: "stage3", 32: "stage4"}
    finally:
        registry.get_registry("base").unregister("tiny_test_net")
    assert "tiny_test_net" not in list_models()


def test_a_features_map_naming_a_missing_layer_says_which():
    spec = register_base(BaseSpec(
        "broken_test_net",
        lambda input_shape, weights: keras.Sequential(
            [keras.Input(input_shape), keras.layers.Conv2D(2, 3, strides=4, name="c")]),
        features={4: "nope"}))
    try:
        with pytest.raises(ValueError, match=r"'nope' .*stride 4.*'c'"):
            create_model(spec.name, input_shape=(32, 32, 3), features=True)
    finally:
        registry.get_registry("base").unregister("broken_test_net")


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError) as error:
        create_model("resnet51", input_shape=(64, 64, 3))
    assert "unknown model 'resnet51'" in str(error.value)
    assert "'kb_resnet50'" in str(error.value) and "'kb_vgg16'" in str(error.value)
    with pytest.raises(ValueError, match=r"declares no feature pyramid.*'kb_resnet50'"):
        create_model("densenet121", input_shape=(64, 64, 3), features=True)
    with pytest.raises(ValueError, match="`features` must be True or False; got 1"):
        create_model("kb_vgg16", input_shape=(64, 64, 3), features=1)
    with pytest.raises(ValueError, match="at least 32"):
        create_model("kb_resnet50", input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"`features` must be None or a non-empty dict"):
        BaseSpec("x", lambda input_shape, weights: None, features={3: "a"})
    with pytest.raises(ValueError, match=r"`features` must be None or a non-empty dict"):
        BaseSpec("x", lambda input_shape, weights: None, features={4: ""})


# ---------------------------------------------------------------------------------------
# Training, saving and mixed precision on every backend.


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.families())
def test_family_trains_saves_and_runs_mixed_on_home_backend(name, tmp_path):
    result = zoo.check_family(name, str(tmp_path))
    assert np.isfinite(result["loss"]) and result["changed_weights"] > 0


@pytest.fixture(scope="module")
def other_backend_runs(tmp_path_factory):
    """One subprocess per other backend, side by side, running tests.backend_checks.zoo."""
    workdir = tmp_path_factory.mktemp("zoo_backends")
    processes = {}
    for backend in OTHERS:
        out = workdir / f"{backend}.json"
        log = open(workdir / f"{backend}.log", "w")  # noqa: SIM115 (closed below)
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   OMP_NUM_THREADS="1")
        processes[backend] = (subprocess.Popen(
            [sys.executable, "-m", "tests.backend_checks.zoo", "--out", str(out)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), out, log)
    results = {}
    for backend, (process, out, log) in processes.items():
        process.wait(timeout=1500)
        log.close()
        text = (workdir / f"{backend}.log").read_text(errors="replace")
        results[backend] = (json.loads(out.read_text()) if process.returncode == 0
                            else {"crashed": text[-6000:]})
    return results


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("name", zoo.families())
def test_family_trains_saves_and_runs_mixed_on_other_backends(other_backend_runs, backend,
                                                              name):
    results = other_backend_runs[backend]
    assert "crashed" not in results, f"the {backend} subprocess crashed:\n{results['crashed']}"
    assert results["backend"] == backend
    result = results["families"][name]
    assert result["status"] == "pass", f"{name} on {backend}:\n{result.get('error')}"
    assert np.isfinite(result["loss"]) and result["changed_weights"] > 0


# ---------------------------------------------------------------------------------------
# The table of docs/guides/model-zoo.md states what the code gives.

GUIDE = REPO / "docs" / "guides" / "model-zoo.md"


def _guide_rows():
    rows = {}
    for line in GUIDE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith('`"'):
            strides, channels = cells[4].split("(")
            rows[cells[0].strip('`"')] = {
                "parameters": int(cells[2].replace(",", "")),
                "gmacs": float(cells[3]),
                "strides": [int(s) for s in strides.split(",")],
                "channels": [int(c) for c in channels.rstrip(")").split(",")],
                "test": cells[5].split("`")[-2],
            }
    return rows


def test_guide_table_parameters_pyramids_and_test_names_are_true():
    rows = _guide_rows()
    assert set(CHANNELS) | {"squeezenet"} <= set(rows)
    for name, row in rows.items():
        model = create_model(name, input_shape=(224, 224, 3), features=True)
        info = model.feature_info
        assert [lv["stride"] for lv in info] == row["strides"], name
        assert [lv["channels"] for lv in info] == row["channels"], name
        whole = create_model(name, input_shape=(224, 224, 3))
        assert whole.count_params() == row["parameters"], name
        path, test = row["test"].split("::")
        assert f"def {test}(" in (REPO / path).read_text(), row["test"]


def _count_macs(model, input_shape=(224, 224, 3)):
    """Multiply-accumulates of every Conv2D, DepthwiseConv2D and Dense call (the guide's
    counter)."""
    import math
    from unittest import mock

    total = 0

    def counting(cls):
        original = cls.call

        def call(self, inputs, *args, **kwargs):
            nonlocal total
            outputs = original(self, inputs, *args, **kwargs)
            total += math.prod(outputs.shape[1:-1]) * math.prod(self.kernel.shape)
            return outputs

        return mock.patch.object(cls, "call", call)

    with counting(keras.layers.Conv2D), counting(keras.layers.DepthwiseConv2D), \
            counting(keras.layers.Dense):
        model(np.zeros((1, *input_shape), "float32"))
    return total


@pytest.mark.slow
def test_guide_table_gmacs_are_true():
    for name, row in _guide_rows().items():
        macs = _count_macs(create_model(name, input_shape=(224, 224, 3)))
        assert round(macs / 1e9, 2) == row["gmacs"], name
    # The counter is right on a layer counted by hand: 3x3 conv, 8 -> 4 channels, 5x6 out.
    layer_model = keras.Sequential([keras.Input((5, 6, 8)),
                                    keras.layers.Conv2D(4, 3, padding="same")])
    assert _count_macs(layer_model, (5, 6, 8)) == 5 * 6 * 3 * 3 * 8 * 4
