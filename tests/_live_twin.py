"""A keras.applications twin with live weights, saved as a `.weights.h5` at test time.

With their plain initialization (zero biases, unit norm statistics) EfficientNet and
MobileNetV3 output values of order 1e-5 or smaller, which would hide a wrong stage. The
twin gets random biases, norm scales and shifts and random `Normalization` statistics,
then one forward pass in training mode with momentum 0 sets every batch norm's moving
mean and variance to the statistics its input really has, so each stage passes on
features of order 1 that depend on the image.
"""

import keras
import numpy as np


def liven(model, seed=7):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = []
        for weight in layer.weights:
            array = np.asarray(weight.numpy())
            kind = weight.path.rsplit("/", 1)[-1]
            if "variance" in kind:
                array = rng.uniform(0.5, 2.0, array.shape)
            elif array.ndim == 1:  # biases, norm shifts and means, SE biases
                array = rng.uniform(0.1, 0.4, array.shape) * rng.choice([-1, 1], array.shape)
                if kind == "gamma":
                    array = np.abs(array) + 0.6
            arrays.append(np.asarray(array, dtype=weight.dtype))
        layer.set_weights(arrays)
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()  # else it keeps using the mean and variance of its build
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    pixels = rng.uniform(0, 255, (8, 64, 64, 3)).astype("float32")
    model(pixels, training=True)  # moving statistics := this batch's statistics
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum


def live_twin_file(make, directory, name):
    """`(twin, path)`: `make()` with live weights, saved as `directory/name.weights.h5`."""
    keras.utils.set_random_seed(7)
    twin = make()
    liven(twin)
    path = directory / f"{name}.weights.h5"
    twin.save_weights(path)
    return twin, str(path)


def relative_error(actual, expected):
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def assert_live(features, channels):
    """Features that vary across images and positions (not a constant of the biases)."""
    spread = features.reshape(-1, channels).std(axis=0).mean()
    assert spread > 0.1, f"features barely vary (mean std {spread}): a wrong stage could hide"


def fake_download(monkeypatch, path):
    """Replaces both download functions (ours: `keras.utils.get_file`; keras.applications':
    `keras.src.utils.file_utils.get_file`) by one that records its arguments and returns
    `path`. Returns the list of `(file name, url, file_hash)` calls."""
    import keras.src.utils.file_utils as keras_file_utils

    calls = []

    def get_file(fname, origin, **kwargs):
        calls.append((fname, origin, kwargs.get("file_hash")))
        return path

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    monkeypatch.setattr(keras_file_utils, "get_file", get_file)
    return calls
