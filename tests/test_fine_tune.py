import time

import keras
import numpy as np
import pytest
from PIL import Image

from keras_blocks import (
    ConvBlock,
    build_classifier,
    find_base,
    fine_tune,
    pretrained_base,
    registry,
    unfreeze_top,
)
from keras_blocks.models.pretrained import BaseSpec, register_base
from keras_blocks.models.tuning import leaf_layers, trainable_units
from tests.layer_checks import to_numpy

MOBILENET_FILE = "mobilenet_v2_1.0_no_top.weights.h5"


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


def _moving_stats(model):
    return {w.path: to_numpy(w).copy() for w in model.weights if "moving" in w.path}


def _trainable_paths(model):
    return sorted(w.path for w in model.trainable_weights)


@pytest.fixture
def tiny_base():
    """A registered base of keras_blocks blocks with batch norm inside each block."""

    def build(input_shape, weights):
        return keras.Sequential(
            [keras.Input(input_shape), ConvBlock(4, norm="batch", name="stem"),
             ConvBlock(6, norm="batch", name="block_1"),
             ConvBlock(8, norm="batch", repeats=2, name="block_2")],
            name="tiny_network")

    register_base(BaseSpec("tiny_fine_tune_test", build, preprocessing="tf", min_size=8))
    yield "tiny_fine_tune_test"
    registry.get_registry("base").unregister("tiny_fine_tune_test")


# --------------------------------------------------------------------------------------
# unfreeze_top


def test_unfreeze_top_blocks_of_mobilenet_v2():
    base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    assert base.trainable_weights == []
    assert unfreeze_top(base, 2, unit="blocks") == ["block_16", "Conv"]
    assert _trainable_paths(base) == sorted([
        "Conv_1/kernel", "block_16_depthwise/kernel", "block_16_expand/kernel",
        "block_16_project/kernel"])
    norms = [x for x in leaf_layers(base) if isinstance(x, keras.layers.BatchNormalization)]
    assert len(norms) == 52 and not any(n.trainable for n in norms)


def test_unfreeze_top_layers_counts_layers_whose_weights_train():
    base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    assert unfreeze_top(base, 3) == ["block_16_depthwise", "block_16_project", "Conv_1"]
    assert len(base.trainable_weights) == 3
    every = unfreeze_top(base, None)
    # 35 convolutions and 17 depthwise convolutions, each a kernel without bias.
    assert len(every) == len(trainable_units(base)) == 52
    assert len(base.trainable_weights) == 52
    assert unfreeze_top(base, 0) == [] and base.trainable_weights == []
    # Batch norm too, when asked: gamma and beta of the top layers train.
    assert unfreeze_top(base, 2, freeze_batchnorm=False) == ["Conv_1", "Conv_1_bn"]
    assert _trainable_paths(base) == ["Conv_1/kernel", "Conv_1_bn/beta", "Conv_1_bn/gamma"]


def test_units_group_published_layer_names_into_blocks():
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for name in ["conv1_conv", "conv2_block1_1_conv", "conv2_block1_2_conv",
                 "conv2_block2_1_conv", "block5a_expand_conv", "block5a_project_conv",
                 "block5b_dwconv", "fire2_squeeze1x1", "fire2_expand1x1", "top_conv"]:
        x = keras.layers.Conv2D(3, 1, name=name)(x)
    model = keras.Model(inputs, x)
    names = [name for name, _ in trainable_units(model, "blocks")]
    assert names == ["conv1", "conv2_block1", "conv2_block2", "block5a", "block5b", "fire2",
                     "top"]
    assert [len(layers) for _, layers in trainable_units(model, "blocks")] == [
        1, 2, 1, 2, 1, 2, 1]


def test_keras_blocks_blocks_count_as_blocks_and_inner_norms_stay_frozen(tiny_base):
    base = pretrained_base(tiny_base, weights=None, input_shape=(16, 16, 3))
    assert [n for n, _ in trainable_units(base, "blocks")] == ["stem", "block_1", "block_2"]
    assert unfreeze_top(base, 1, unit="blocks") == ["block_2"]
    paths = _trainable_paths(base)
    assert paths and all("/block_2/conv" in p for p in paths), paths
    assert len(paths) == 2  # two convolution kernels (no bias next to batch norm)


def test_moving_statistics_do_not_change_after_unfreeze_top(tiny_base):
    # No InferenceMode here (base_inference=False): freezing batch norm alone must hold.
    base = pretrained_base(tiny_base, weights=None, input_shape=(16, 16, 3))
    model = build_classifier(base, base_inference=False)
    unfreeze_top(model, 2, unit="blocks")
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    stats = _moving_stats(base)
    kernels = {w.path: to_numpy(w).copy() for w in base.weights if "kernel" in w.path}
    x, y = _pixels((16, 16, 16, 3)), np.array([0, 1] * 8)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for path, value in _moving_stats(base).items():
        np.testing.assert_array_equal(value, stats[path], err_msg=path)
    changed = {w.path for w in base.weights
               if "kernel" in w.path and not np.allclose(to_numpy(w), kernels[w.path])}
    assert changed == {"tiny_network/block_1/conv0/kernel", "tiny_network/block_2/conv0/kernel",
                       "tiny_network/block_2/conv1/kernel"}


def test_find_base():
    base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    model = build_classifier(base)
    assert find_base(model) is base
    assert find_base(base) is base
    inputs = keras.Input((4,))
    one = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d_one")],
                           name="one")
    two = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d_two")],
                           name="two")
    both = keras.Model(inputs, keras.layers.Add()([one(inputs), two(inputs)]))
    with pytest.raises(ValueError, match=r"several nested models .*'one', 'two'"):
        find_base(both)
    assert unfreeze_top(both, 1, base=two) == ["d_two"]


def test_a_frozen_container_above_the_base_is_an_error(tiny_base):
    model = build_classifier(tiny_base, input_shape=(16, 16, 3), weights=None)
    model.layers[1].trainable = False  # the InferenceMode wrapper around the base
    with pytest.raises(ValueError, match=r"'inference_pretrained_tiny_fine_tune_test', "
                                         r"which holds the base .* is frozen"):
        unfreeze_top(model, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": -1}, "`count` must be an int >= 0 or None \\(all\\); got -1"),
        ({"count": 53}, r"`count` must be at most 52 \(the layers with trainable weights"),
        ({"count": 1, "unit": "stages"}, "`unit` must be one of 'layers', 'blocks'"),
    ],
)
def test_unfreeze_top_bad_arguments(kwargs, message):
    base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=message):
        unfreeze_top(base, **kwargs)


# --------------------------------------------------------------------------------------
# fine_tune: the two-phase recipe


class _PhaseRecorder(keras.callbacks.Callback):
    """What each `fit` call trains: trainable weight count and learning rate."""

    def __init__(self):
        super().__init__()
        self.phases = []

    def on_train_begin(self, logs=None):
        self.phases.append((len(self.model.trainable_weights),
                            float(self.model.optimizer.learning_rate)))


def test_fine_tune_phases_on_generated_data(tiny_base):
    model = build_classifier(tiny_base, head={"name": "dense", "num_classes": 3},
                             input_shape=(16, 16, 3), weights=None)
    recorder = _PhaseRecorder()
    x = _pixels((12, 16, 16, 3))
    y = np.arange(12) % 3
    result = fine_tune(model, x, y=y, batch_size=4, head_epochs=2, fine_tune_epochs=1,
                       unfreeze=1, unit="blocks", head_learning_rate=1e-2,
                       fine_tune_learning_rate=1e-4, callbacks=[recorder], verbose=0)
    head_history, fine_tune_history = result
    assert head_history is result.head and fine_tune_history is result.fine_tune
    assert head_history.epoch == [0, 1] and fine_tune_history.epoch == [2]
    assert {"loss", "accuracy"} <= set(head_history.history)
    # Phase 1: the head's kernel and bias. Phase 2: plus block_2's two kernels.
    assert recorder.phases == [(2, pytest.approx(1e-2)), (4, pytest.approx(1e-4))]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": keras.optimizers.Adam()}, "not an instance"),
        ({"optimizer": "adamm"}, "Unknown optimizer 'adamm'"),
        ({"head_learning_rate": 0}, "`head_learning_rate` must be a finite number > 0"),
        ({"fine_tune_learning_rate": float("inf")}, "`fine_tune_learning_rate` must be a finite"),
        ({"fine_tune_learning_rate": -1e-5}, "`fine_tune_learning_rate`"),
        ({"head_epochs": -1}, "`head_epochs` must be an integer >= 0"),
        ({"unfreeze": 1.5}, "`unfreeze`"),
        ({"unfreeze": 4, "unit": "blocks"}, r"`unfreeze` must be at most 3 \(the blocks"),
        ({"unit": "layer"}, "`unit` must be one of 'layers', 'blocks'"),
    ],
)
def test_fine_tune_bad_arguments_fail_before_training(kwargs, message, tiny_base):
    model = build_classifier(tiny_base, input_shape=(16, 16, 3), weights=None)
    with pytest.raises(ValueError, match=message):
        fine_tune(model, _pixels((2, 16, 16, 3)), y=np.array([0, 1]), verbose=0, **kwargs)
    assert not model.compiled


# --------------------------------------------------------------------------------------
# Real transfer learning: ImageNet MobileNetV2 on the car/truck photos


def _load_split(root, split, per_class, size, seed):
    images, labels = [], []
    for label, name in enumerate(["Car", "Truck"]):  # image_dataset_from_directory order
        files = sorted((root / split / name).glob("*.jpg"))
        picks = np.random.default_rng(seed).choice(len(files), per_class, replace=False)
        for i in picks:
            with Image.open(files[i]) as image:
                image = image.convert("RGB").resize((size, size), Image.BILINEAR)
                images.append(np.asarray(image))
            labels.append(label)
    order = np.random.default_rng(seed + 1).permutation(len(labels))
    return np.stack(images)[order].astype("float32"), np.array(labels)[order]


@pytest.mark.slow
def test_transfer_learning_on_car_truck(data_dir, weights_dir, tmp_path):
    size = 96
    x_train, y_train = _load_split(data_dir, "train", 200, size, seed=0)
    x_valid, y_valid = _load_split(data_dir, "valid", 100, size, seed=1)
    weights = str(weights_dir / MOBILENET_FILE)
    model = build_classifier("mobilenet_v2", head="dense", input_shape=(size, size, 3),
                             weights=weights, augmentation=keras.layers.RandomFlip("horizontal"))
    base = find_base(model)
    reference = pretrained_base("mobilenet_v2", weights=weights, input_shape=(size, size, 3))
    recorder = _PhaseRecorder()

    start, cpu_start = time.perf_counter(), time.process_time()
    result = fine_tune(
        model, x_train, y=y_train, validation_data=(x_valid, y_valid), batch_size=32,
        head_epochs=2, fine_tune_epochs=1, unfreeze=2, unit="blocks",
        head_learning_rate=3e-3, fine_tune_learning_rate=1e-4, callbacks=[recorder],
        verbose=0)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    head_accuracy = result.head.history["val_accuracy"][-1]
    final_accuracy = result.fine_tune.history["val_accuracy"][-1]
    print(f"car/truck transfer learning: 400 train / 200 valid images at {size} px; "
          f"validation accuracy {head_accuracy:.3f} after the head phase (2 epochs), "
          f"{final_accuracy:.3f} after fine-tuning (1 epoch); {seconds:.1f} s wall, "
          f"{cpu_seconds:.1f} s CPU")

    # Chance is 0.5 (balanced classes); ImageNet features make it clearly better.
    assert head_accuracy > 0.75, result.head.history
    assert final_accuracy > 0.75, result.fine_tune.history
    # Phase 1 trains the head alone (kernel, bias); phase 2 adds block_16 (expand,
    # depthwise, project kernels) and Conv_1 (kernel): MobileNetV2 convolutions have no
    # bias, and batch norm stays frozen.
    assert recorder.phases == [(2, pytest.approx(3e-3)), (6, pytest.approx(1e-4))]
    # Batch-norm moving statistics are still exactly the file's.
    expected = {w.path: to_numpy(w) for w in reference.weights if "moving" in w.path}
    actual = _moving_stats(base)
    assert len(actual) == 104 and actual.keys() == expected.keys()
    for path, value in actual.items():
        np.testing.assert_array_equal(value, expected[path], err_msg=path)
    network = base.layers[-1]
    reference_network = reference.layers[-1]
    for name, should_change in [("block_15_project", False), ("block_16_project", True),
                                ("Conv_1", True), ("Conv1", False)]:
        same = np.array_equal(network.get_layer(name).get_weights()[0],
                              reference_network.get_layer(name).get_weights()[0])
        assert same != should_change, name

    path = tmp_path / "car_truck.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x_valid[:16], verbose=0),
                               model.predict(x_valid[:16], verbose=0), atol=1e-5)
