"""WeightEMA and predict_tta: exact values against a NumPy reference."""

import keras
import numpy as np
import pytest

from keras_blocks.training import WeightEMA, predict_tta, tta_views


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


class Recorder(keras.callbacks.Callback):
    """Records the weights after every batch and what validation runs with."""

    def __init__(self):
        super().__init__()
        self.after_batch, self.validated = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.after_batch.append([v.numpy().copy() for v in self.model.weights])

    def on_test_begin(self, logs=None):
        self.validated.append([v.numpy().copy() for v in self.model.weights])


@pytest.mark.parametrize("every, warmup", [(1, False), (2, False), (1, True)])
def test_ema_matches_a_numpy_reference(every, warmup):
    model = _model()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 4)).astype("float32"), rng.normal(size=(48, 1)).astype("float32")
    start = [v.numpy().copy() for v in model.weights]
    ema, recorder = WeightEMA(decay=0.8, every=every, warmup=warmup), Recorder()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
              validation_data=(x[:8], y[:8]), callbacks=[ema, recorder])
    expected, step, at_epoch_end = start, 0, []
    for index, weights in enumerate(recorder.after_batch, start=1):
        if index % every == 0:
            decay = min(0.8, (1 + step) / (10 + step)) if warmup else 0.8
            decay **= every
            expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights,
                                                                    strict=True)]
            step += 1
        if index % 6 == 0:
            at_epoch_end.append(expected)
    assert ema.steps == step == 12 // every
    for got, want in zip(model.weights, expected, strict=True):  # kept at the end
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    # Validation ran with the average of that moment, then training went on with the
    # training weights (not the average).
    assert len(recorder.validated) == 2
    for seen, want in zip(recorder.validated, at_epoch_end, strict=True):
        for a, b in zip(seen, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    last_training = recorder.after_batch[-1]
    assert any(not np.allclose(a, b) for a, b in zip(last_training, expected, strict=True))


def test_ema_keep_at_end_false_leaves_the_training_weights():
    model = _model()
    x, y = np.ones((16, 4), "float32"), np.zeros((16, 1), "float32")
    recorder = Recorder()
    ema = WeightEMA(decay=0.5, keep_at_end=False)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[ema, recorder])
    for got, want in zip(model.weights, recorder.after_batch[-1], strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    assert not all(np.array_equal(a, w.numpy()) for a, w in zip(ema.average, model.weights,
                                                                strict=True))


@pytest.mark.parametrize("kwargs, message", [
    ({"decay": 1.0}, "`decay` must be a number in"),
    ({"decay": -0.1}, "`decay` must be a number in"),
    ({"every": 0}, "`every` must be an integer >= 1"),
    ({"warmup": "yes"}, "`warmup` must be True or False"),
])
def test_ema_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WeightEMA(**kwargs)


def test_tta_views_are_exact_flips_and_reflected_shifts():
    images = np.arange(2 * 5 * 6 * 1, dtype="float32").reshape(2, 5, 6, 1)
    views = tta_views(images, flip=True, shift=1)
    assert len(views) == 6
    np.testing.assert_array_equal(views[0], images)
    np.testing.assert_array_equal(views[1], images[:, :, ::-1])
    down_right = views[2]
    np.testing.assert_array_equal(down_right[:, 1:, 1:], images[:, :-1, :-1])
    np.testing.assert_array_equal(down_right[:, 0, 1:], images[:, 1, :-1])  # reflected row
    up_left = views[3]
    np.testing.assert_array_equal(up_left[:, :-1, :-1], images[:, 1:, 1:])
    np.testing.assert_array_equal(views[4][:, 1:, 1:], images[:, :, ::-1][:, :-1, :-1])
    assert len(tta_views(images, flip=False)) == 1
    assert len(tta_views(images, flip=False, shift=2)) == 3


def test_predict_tta_is_the_mean_over_the_views():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    images = np.random.default_rng(2).uniform(0, 1, (5, 6, 6, 3)).astype("float32")
    expected = np.mean([model.predict(v, verbose=0)
                        for v in tta_views(images, flip=True, shift=1)], axis=0)
    got = predict_tta(model, images, flip=True, shift=1, batch_size=2)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert not np.allclose(got, model.predict(images, verbose=0))  # views do count
    np.testing.assert_allclose(predict_tta(model, images, flip=False),
                               model.predict(images, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: tta_views(np.zeros((4, 4, 3))), r"batch of images .* shape \(4, 4, 3\)"),
    (lambda: tta_views(np.zeros((1, 4, 4, 3)), shift=4), "`shift` must be smaller"),
    (lambda: tta_views(np.zeros((1, 4, 4, 3)), shift=-1), "`shift` must be an integer >= 0"),
    (lambda: tta_views(np.zeros((1, 4, 4, 3)), flip=1), "`flip` must be True or False"),
])
def test_tta_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
