"""Shared checks for layers whose call takes more than an image batch.

MixUp and CutMix take `(images, labels)` and return both, mixed: `run_layer_checks`
(one image tensor in, one out) cannot drive them, so `mixing_layer` runs the same checks
for that signature: output shapes, config round trip, identity at inference and mixing
in training, `.keras` save/load (safe_mode), `mixed_float16`, and a compiled training
step with the layer inside the model.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from tests.layer_checks import check_config_round_trip, random_inputs, to_numpy

NUM_CLASSES = 3


def mixing_layer(cls, case, workdir):
    kwargs = case.kwargs() if callable(case.kwargs) else dict(case.kwargs)
    x = random_inputs(case.input_shape)
    n = x.shape[0]
    y = np.eye(NUM_CLASSES, dtype="float32")[np.arange(n) % NUM_CLASSES]

    layer = cls(**kwargs)
    images, labels = layer((x, y), training=True)
    assert tuple(images.shape) == x.shape, (images.shape, x.shape)
    assert tuple(labels.shape) == y.shape, (labels.shape, y.shape)
    images, labels = to_numpy(images), to_numpy(labels)
    assert not np.allclose(images, x), "training did not mix the images"
    np.testing.assert_allclose(labels.sum(-1), 1.0, atol=1e-5)  # mixtures of one-hot rows

    same_images, same_labels = layer((x, y), training=False)
    np.testing.assert_allclose(to_numpy(same_images), x, atol=1e-6)
    np.testing.assert_allclose(to_numpy(same_labels), y, atol=1e-6)

    check_config_round_trip(layer)

    image_input = keras.Input(x.shape[1:])
    label_input = keras.Input((NUM_CLASSES,))
    outputs = cls(**kwargs)((image_input, label_input))
    model = keras.Model([image_input, label_input], list(outputs))
    expected = [to_numpy(t) for t in model([x, y], training=False)]
    path = os.path.join(str(workdir), "mixing.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for actual, wanted in zip(loaded([x, y], training=False), expected, strict=True):
        np.testing.assert_allclose(to_numpy(actual), wanted, atol=1e-6)

    mixed = cls(**kwargs, dtype="mixed_float16")
    images16, labels16 = mixed((x, y), training=True)
    assert np.all(np.isfinite(to_numpy(images16).astype("float32")))
    assert keras.backend.standardize_dtype(labels16.dtype) == "float32", labels16.dtype

    # A compiled training step with the mixing inside the model (XLA on TF and JAX).
    mixed_images, mixed_labels = cls(**kwargs)((image_input, label_input))
    features = keras.layers.Concatenate()(
        [keras.layers.Flatten()(keras.ops.cast(mixed_images, "float32")), mixed_labels]
    )
    trainer = keras.Model([image_input, label_input], keras.layers.Dense(1)(features))
    trainer.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse",
                    jit_compile=keras.backend.backend() != "torch")
    history = trainer.fit([x, y], np.zeros((n, 1), "float32"), batch_size=n, epochs=1,
                          verbose=0)
    assert np.isfinite(history.history["loss"][-1])
