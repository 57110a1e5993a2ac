import keras
import numpy as np
import pytest

from keras_blocks import (
    ConvBlock,
    DenseHead,
    InferenceMode,
    build_classifier,
    compile_classifier,
    find_base,
    pretrained_base,
    registry,
)
from keras_blocks.models.classifier import classification_loss, find_head, make_optimizer
from keras_blocks.models.pretrained import BaseSpec, register_base
from tests.layer_checks import run_layer_checks, to_numpy


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


def _custom_convnet(norm="batch"):
    return keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255),
         ConvBlock(4, norm=norm), ConvBlock(8, norm=norm)],
        name="custom_convnet",
    )


@pytest.fixture
def tiny_base():
    """A small registered base with batch norm (MobileNetV2 is slow to train on CPU)."""

    def build(input_shape, weights):
        return keras.Sequential([keras.Input(input_shape), ConvBlock(4, norm="batch"),
                                 ConvBlock(8, norm="batch")], name="tiny_network")

    register_base(BaseSpec("tiny_bn_test", build, preprocessing="tf", min_size=4))
    yield "tiny_bn_test"
    registry.get_registry("base").unregister("tiny_bn_test")


def _moving_stats(model):
    return [to_numpy(w).copy() for w in model.weights if "moving" in w.path]


def test_named_base_structure_and_outputs():
    model = build_classifier("mobilenet_v2", head={"name": "dense", "num_classes": 3},
                             input_shape=(32, 32, 3), weights=None, name="cars")
    assert model.name == "cars"
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "InferenceMode", "DenseHead"]
    assert model.layers[1].layer.name == "pretrained_mobilenet_v2"
    y = to_numpy(model.predict(_pixels((2, 32, 32, 3)), verbose=0))
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    assert model.trainable_weights == find_head(model).trainable_weights  # base frozen


def test_head_as_name_dict_or_layer_and_base_dict():
    base = pretrained_base("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    by_name = build_classifier(base, head="dense")
    assert isinstance(by_name.layers[-1], DenseHead) and by_name.output_shape == (None, 1)
    head = DenseHead(5, units=(4,), output_activation=None)
    by_layer = build_classifier(base, head=head, name="by_layer")
    assert by_layer.layers[-1] is head and by_layer.output_shape == (None, 5)
    by_dict = build_classifier(
        {"name": "mobilenet_v2", "trainable": True}, head={"name": "dense", "pooling": "max"},
        input_shape=(32, 32, 3), weights=None)
    assert by_dict.layers[-1].pooling == "max"
    assert len(by_dict.trainable_weights) > len(by_dict.layers[-1].trainable_weights)


def test_augmentation_is_active_only_in_training():
    noise = keras.layers.GaussianNoise(1.0)
    model = build_classifier(_custom_convnet(norm=None), augmentation=[noise],
                             head={"name": "dense", "output_activation": None})
    assert model.get_layer("augmentation").layers == [noise]
    x = _pixels((4, 32, 32, 3))
    inference = to_numpy(model(x, training=False))
    np.testing.assert_array_equal(inference, to_numpy(model(x, training=False)))
    np.testing.assert_array_equal(inference, model.predict(x, verbose=0))
    assert not np.allclose(to_numpy(model(x, training=True)), inference)


def test_pretrained_base_runs_in_inference_mode_custom_base_trains_its_norms(tiny_base):
    x = _pixels((8, 32, 32, 3))
    y = np.array([0, 1] * 4)

    base = pretrained_base(tiny_base, weights=None, input_shape=(32, 32, 3),
                           trainable=True)
    pretrained = build_classifier(base)
    assert isinstance(pretrained.layers[1], InferenceMode)
    compile_classifier(pretrained, learning_rate=1e-3)
    before = _moving_stats(base)
    pretrained.fit(x, y, epochs=1, batch_size=8, verbose=0)
    # Even fully trainable (batch norm included), the pretrained base keeps its moving
    # statistics: it runs in InferenceMode...
    for a, b in zip(before, _moving_stats(base), strict=True):
        np.testing.assert_array_equal(a, b)

    custom = _custom_convnet()
    scratch = build_classifier(custom)
    compile_classifier(scratch)
    before = _moving_stats(custom)
    scratch.fit(x, y, epochs=1, batch_size=8, verbose=0)
    # ...while a convnet trained from scratch updates its own: every moving mean and
    # variance of both batch norms (a test that can fail).
    after = _moving_stats(custom)
    assert len(after) == 4
    unchanged = [i for i, (a, b) in enumerate(zip(before, after, strict=True))
                 if np.allclose(a, b)]
    assert not unchanged, unchanged


def test_inference_mode_shared_checks(tmp_path):
    # Batch norm and dropout inside: training output equals inference output.
    inner = ConvBlock(3, norm="batch", dropout=0.5)
    # The inner block's conv kernel, batch-norm scale and shift (trainable), its two
    # statistics, and the dropout's seed generator.
    run_layer_checks(InferenceMode, {"layer": inner}, (2, 6, 6, 3), tmp_path,
                     training_differs=False, mixed_output_dtype="float32",
                     expected_weights=(3, 2), expected_seed_generators=1)


def test_a_plain_training_false_call_is_overridden_in_keras_3():
    # Why InferenceMode exists: this is the recipe of the Keras guide, and fit breaks it.
    base = _custom_convnet()
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(base(inputs, training=False)))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    before = _moving_stats(base)
    model.fit(_pixels((4, 32, 32, 3)), np.zeros((4, 1)), verbose=0)
    after = _moving_stats(base)
    assert len(after) == 4  # moving mean and variance of two batch norms
    unchanged = [i for i, (a, b) in enumerate(zip(before, after, strict=True))
                 if np.allclose(a, b)]
    assert not unchanged, (
        f"Keras now keeps training=False (statistics {unchanged} unchanged): "
        "InferenceMode may be unnecessary"
    )


def test_inference_mode_rejects_non_layers():
    with pytest.raises(ValueError, match="`layer` must be a Keras layer or model"):
        InferenceMode(lambda x: x)


@pytest.mark.parametrize("base", ["mobilenet_v2", "squeezenet", "custom"])
def test_saves_and_loads_with_safe_mode(base, tmp_path):
    if base == "custom":
        model = build_classifier(_custom_convnet(), head={"name": "dense", "num_classes": 3,
                                                          "units": (4,), "norm": "batch"})
    else:
        model = build_classifier(
            base, head={"name": "dense", "units": (6,), "dropout": 0.3},
            augmentation=[keras.layers.RandomFlip("horizontal"),
                          keras.layers.RandomContrast(0.2)],
            input_shape=(32, 32, 3), weights=None)
    compile_classifier(model)
    x = _pixels((3, 32, 32, 3), seed=5)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "classifier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


def test_float32_outputs_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    model = build_classifier("mobilenet_v2", input_shape=(32, 32, 3), weights=None)
    y = model(_pixels((2, 32, 32, 3)))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert np.all(np.isfinite(to_numpy(y)))


# --------------------------------------------------------------------------------------
# compile_classifier


@pytest.mark.parametrize(
    "head_kwargs, sparse, loss_class, from_logits, metric_class",
    [
        ({}, True, "BinaryCrossentropy", False, "BinaryAccuracy"),
        ({"output_activation": None}, True, "BinaryCrossentropy", True, "BinaryAccuracy"),
        ({"num_classes": 4}, True, "SparseCategoricalCrossentropy", False,
         "SparseCategoricalAccuracy"),
        ({"num_classes": 4, "output_activation": None}, False, "CategoricalCrossentropy",
         True, "CategoricalAccuracy"),
        ({"num_classes": 4, "output_activation": "sigmoid"}, True, "BinaryCrossentropy",
         False, "BinaryAccuracy"),
    ],
)
def test_loss_and_accuracy_follow_the_head(head_kwargs, sparse, loss_class, from_logits,
                                           metric_class):
    head = DenseHead(**head_kwargs)
    loss = classification_loss(head, sparse_labels=sparse)
    assert type(loss).__name__ == loss_class
    assert loss.get_config()["from_logits"] is from_logits
    model = build_classifier(_custom_convnet(norm=None), head=head)
    compile_classifier(model, sparse_labels=sparse, learning_rate=0.01)
    assert type(model.loss).__name__ == loss_class
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    metric = model._compile_metrics._user_metrics[0]
    assert type(metric).__name__ == metric_class
    if metric_class == "BinaryAccuracy":
        assert metric.threshold == (0.0 if from_logits else 0.5)


def test_logit_accuracy_thresholds_at_zero():
    model = build_classifier(_custom_convnet(norm=None),
                             head={"name": "dense", "output_activation": None})
    compile_classifier(model)
    x = _pixels((32, 32, 32, 3), seed=7)
    y = np.random.default_rng(7).integers(0, 2, 32)
    logits = model.predict(x, verbose=0)[:, 0]
    expected = np.mean((logits > 0).astype(int) == y)
    accuracy = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(expected)


def test_explicit_loss_and_metrics_are_kept():
    model = build_classifier(_custom_convnet(norm=None), head={"name": "dense",
                                                               "num_classes": 3})
    compile_classifier(model, optimizer=keras.optimizers.SGD(0.1), loss="mse",
                       metrics=["mae"])
    assert model.loss == "mse" and isinstance(model.optimizer, keras.optimizers.SGD)
    assert model._compile_metrics._user_metrics == ["mae"]


def test_compile_errors():
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match=r"has no head .* pass `loss=`"):
        compile_classifier(plain)
    compile_classifier(plain, loss="mse")  # fine with a loss
    assert plain.compiled and plain.loss == "mse"
    tanh = build_classifier(_custom_convnet(norm=None),
                            head={"name": "dense", "output_activation": "tanh"})
    with pytest.raises(ValueError, match=r"output activation is 'tanh'.*Pass `loss=`"):
        compile_classifier(tanh)
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'"):
        compile_classifier(tanh, optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="`learning_rate` must be a finite number > 0"):
        make_optimizer("adam", 0)
    with pytest.raises(ValueError, match="cannot be combined with an optimizer instance"):
        make_optimizer(keras.optimizers.Adam(), 1e-3)
    with pytest.raises(ValueError, match="`sparse_labels` must be True or False"):
        compile_classifier(tanh, loss="mse", sparse_labels="yes")


# --------------------------------------------------------------------------------------
# Bad input


def test_unknown_base_and_head_names_list_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown base 'mobilenet'.*'mobilenet_v2'"):
        build_classifier("mobilenet", input_shape=(32, 32, 3), weights=None)
    base = _custom_convnet(norm=None)
    with pytest.raises(ValueError, match=r"Unknown head 'mlp'. Valid head names: .*'dense'"):
        build_classifier(base, head="mlp")
    with pytest.raises(ValueError, match="needs a 'name' key"):
        build_classifier(base, head={"num_classes": 3})
    with pytest.raises(ValueError, match="needs a 'name' key"):
        build_classifier({"weights": None}, input_shape=(32, 32, 3))


def test_missing_and_wrong_weights(tmp_path, weights_dir):
    missing = str(tmp_path / "missing.weights.h5")
    with pytest.raises(FileNotFoundError, match=missing):
        build_classifier("mobilenet_v2", input_shape=(32, 32, 3), weights=missing)
    wrong = str(weights_dir / "squeezenet_v1.1_no_top.h5")
    with pytest.raises(ValueError, match=f"{wrong}.*does not fit"):
        build_classifier("mobilenet_v2", input_shape=(32, 32, 3), weights=wrong)


def test_bad_shapes_and_arguments():
    base = _custom_convnet(norm=None)
    with pytest.raises(ValueError, match=r"input_shape=\(64, 64, 3\) does not match the "
                                         r"base's input shape \(32, 32, 3\)"):
        build_classifier(base, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="`input_shape` is required"):
        build_classifier(ConvBlock(4))
    with pytest.raises(ValueError, match="too small"):
        build_classifier("mobilenet_v2", input_shape=(16, 16, 3), weights=None)
    with pytest.raises(ValueError, match="`base` must be a registered base name"):
        build_classifier(42)
    with pytest.raises(ValueError, match="`augmentation` must be None, a Keras layer"):
        build_classifier(base, augmentation=lambda x: x)
    with pytest.raises(ValueError, match=r"`pooling=None` expects already pooled rank-2"):
        build_classifier(base, head={"name": "dense", "pooling": None})


# ----------------------------------------------------------------------------------------
# The Classifier model: it knows its parts, compiles from its head, saves and loads whole.


def _small_base(size=16):
    from keras_blocks import build_conv_net

    return build_conv_net([{"name": "conv", "filters": 4, "norm": "batch"}],
                          input_shape=(size, size, 3))


@pytest.mark.parametrize(
    "head, loss_type, from_logits, metric_type",
    [
        ({"name": "dense"}, keras.losses.BinaryCrossentropy, False, keras.metrics.BinaryAccuracy),
        ({"name": "dense", "num_classes": 3}, keras.losses.SparseCategoricalCrossentropy,
         False, keras.metrics.SparseCategoricalAccuracy),
        ({"name": "dense", "num_classes": 3, "output_activation": None},
         keras.losses.SparseCategoricalCrossentropy, True,
         keras.metrics.SparseCategoricalAccuracy),
        ({"name": "dense", "output_activation": None}, keras.losses.BinaryCrossentropy, True,
         keras.metrics.BinaryAccuracy),
    ],
)
def test_compile_without_arguments_follows_the_head(head, loss_type, from_logits,
                                                    metric_type):
    from keras_blocks import Classifier

    model = build_classifier(_small_base(), head=head)
    assert isinstance(model, Classifier)
    model.compile()
    assert type(model.loss) is loss_type
    assert model.loss.get_config()["from_logits"] is from_logits
    x = _pixels((4, 16, 16, 3))
    y = np.array([0, 1, 0, 1]).reshape(-1, 1) if head.get("num_classes", 1) == 1 else \
        np.array([0, 1, 2, 1])
    model.fit(x, y, epochs=1, verbose=0)
    accuracy = [m for m in model.metrics[1].metrics if m.name == "accuracy"]
    assert len(accuracy) == 1 and type(accuracy[0]) is metric_type
    if metric_type is keras.metrics.BinaryAccuracy:
        assert accuracy[0].threshold == (0.0 if from_logits else 0.5)


def test_classifier_knows_its_parts_and_keeps_them_through_saving(tmp_path):
    from keras_blocks import Classifier, RandomFlip

    flip = RandomFlip("horizontal", seed=0)
    model = build_classifier("mobilenet_v2", head={"name": "dense", "units": (4,)},
                             augmentation=flip, input_shape=(32, 32, 3), weights=None)
    assert model.augmentation is flip
    assert model.base.name == "pretrained_mobilenet_v2"
    assert isinstance(model.head, DenseHead) and model.head.units == (4,)
    assert isinstance(model.preprocessing, keras.layers.Layer)
    assert model.base_inference is True
    assert find_base(model) is model.base
    model.compile(learning_rate=1e-3)
    x = _pixels((2, 32, 32, 3))
    model.fit(x, np.array([[0], [1]]), epochs=1, verbose=0)
    path = tmp_path / "classifier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, Classifier)
    assert loaded.base.name == model.base.name and loaded.head.units == (4,)
    assert isinstance(loaded.augmentation, RandomFlip) and loaded.base_inference is True
    assert isinstance(loaded.loss, keras.losses.BinaryCrossentropy)  # compiled as saved
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)
    # A loaded classifier fine-tunes without searching for its base.
    assert loaded.unfreeze_top(2, unit="blocks") == ["block_16", "Conv"]


def test_custom_base_classifier_has_no_preprocessing_and_trains_normally():
    model = build_classifier(_small_base(), head="dense")
    assert model.preprocessing is None and model.base_inference is False
    assert model.augmentation is None


def test_fine_tune_method_uses_the_models_base():
    model = build_classifier("mobilenet_v2", input_shape=(32, 32, 3), weights=None)
    x = _pixels((8, 32, 32, 3))
    y = (np.arange(8) % 2).reshape(-1, 1)
    history = model.fine_tune(x, y=y, batch_size=8, head_epochs=1, fine_tune_epochs=1,
                              unfreeze=1, unit="blocks", verbose=0)
    assert len(history.head.history["loss"]) == 1
    assert len(history.fine_tune.history["loss"]) == 1
    trainable = {w.path.split("/")[-2] for w in model.base.trainable_weights}
    assert trainable == {"Conv_1"}, trainable  # only the top unit trains (BN frozen)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"base": "conv_net", "head": DenseHead()}, "`base` must be a Keras layer"),
        ({"head": None}, "`head` must be a Keras layer"),
        ({"head": DenseHead(), "augmentation": "flip"}, "`augmentation` must be None"),
        ({"head": DenseHead(), "base_inference": 1}, "`base_inference` must be True or"),
        ({"head": DenseHead(), "input_shape": (8, 8, 3)}, "does not match the base"),
    ],
)
def test_classifier_bad_arguments_are_named(kwargs, message):
    from keras_blocks import Classifier

    kwargs = {"base": _small_base(), **kwargs}
    with pytest.raises(ValueError, match=message):
        Classifier(**kwargs)


@pytest.mark.parametrize("base", ["tiny", "custom"])
def test_uint8_pixels_in_give_the_same_predictions_and_serve_after_saving(
        base, tiny_base, tmp_path):
    """A model takes raw uint8 pixels (the cast to float runs inside the model, in the
    step, not on the host), trains on them, and serves them after a save and load."""
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    if base == "tiny":
        model = build_classifier("tiny_bn_test", input_shape=(32, 32, 3), weights=None)
    else:
        model = build_classifier(_custom_convnet(), {"name": "dense", "num_classes": 3})
    pixels = np.random.default_rng(1).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    as_float = to_numpy(model.predict(pixels.astype("float32"), verbose=0))
    as_uint8 = to_numpy(model.predict(pixels, verbose=0))
    np.testing.assert_array_equal(as_uint8, as_float)
    labels = np.arange(6) % (1 if base == "tiny" else 3)
    labels = labels.reshape(-1, 1).astype("float32") if base == "tiny" else labels
    model.compile()
    batches = tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(3)
    assert next(iter(batches))[0].dtype == tf.uint8
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(batches, epochs=1, verbose=0, shuffle=False)
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(
        before, model.trainable_weights, strict=True))
    path = tmp_path / "served.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(to_numpy(loaded.predict(pixels, verbose=0)),
                               to_numpy(model.predict(pixels.astype("float32"), verbose=0)),
                               rtol=1e-6, atol=1e-6)
