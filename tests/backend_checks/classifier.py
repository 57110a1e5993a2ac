"""A whole classifier on one backend: train from make_pipeline, save, load the others' files.

`prepare(folder)` (home process) writes a tiny two-class image folder and a probe batch;
`run_on_backend(folder)` (every backend, the home one first) then

1. builds the classifier (a `build_conv_net` base of ConvBlocks with batch norm and
   dropout, a `DenseHead`, augmentation) with `build_classifier`,
2. trains it one epoch from a `make_pipeline` dataset of the folder,
3. saves `<backend>.keras` and its predictions on the probe batch,
4. loads every `.keras` file another backend saved there before (safe_mode=True) and
   checks its predictions equal the ones that backend recorded.

The files saved by the non-home backends are loaded back by the home process in
`tests/test_backends.py`, so every file crosses backends in both directions.
"""

from __future__ import annotations

import pathlib

import numpy as np

IMAGE_SIZE = (16, 16)
PER_CLASS = 12
BATCH_SIZE = 8
ATOL = 1e-5


def prepare(folder) -> None:
    """Writes `images/{car,truck}/*.png` (distinct colour statistics) and `probe.npy`."""
    from PIL import Image

    folder = pathlib.Path(folder)
    rng = np.random.default_rng(0)
    for label, name in enumerate(("car", "truck")):
        class_dir = folder / "images" / name
        class_dir.mkdir(parents=True, exist_ok=True)
        for i in range(PER_CLASS):
            pixels = rng.integers(0, 160, size=(*IMAGE_SIZE, 3)) + 90 * label
            Image.fromarray(pixels.astype("uint8")).save(class_dir / f"{name}{i:02d}.png")
    probe, _ = next(iter(pipeline(folder, shuffle=False)))
    np.save(folder / "probe.npy", np.asarray(probe))


def pipeline(folder, shuffle=True):
    from keras_blocks import make_pipeline

    return make_pipeline(str(pathlib.Path(folder) / "images"), image_size=IMAGE_SIZE,
                         batch_size=BATCH_SIZE, shuffle=shuffle, seed=0, label_mode="binary")


def build():
    import keras_blocks as kb

    base = kb.build_conv_net(
        [
            {"name": "conv", "filters": 8, "norm": "sync_batch"},
            {"name": "conv", "filters": 16, "dropout": 0.1},
        ],
        input_shape=(*IMAGE_SIZE, 3),
    )
    return kb.build_classifier(
        base,
        head={"name": "dense", "units": (8,), "dropout": 0.2},
        augmentation=kb.RandomFlip("horizontal", seed=0),
        input_shape=(*IMAGE_SIZE, 3),
    )


def _check_parts(loaded):
    """A loaded classifier is a Classifier that knows its base, head and augmentation."""
    from keras_blocks import Classifier, DenseHead, RandomFlip

    assert isinstance(loaded, Classifier), type(loaded)
    assert isinstance(loaded.head, DenseHead) and loaded.head.units == (8,), loaded.head
    assert isinstance(loaded.augmentation, RandomFlip), loaded.augmentation
    assert loaded.base.name == "conv_net" and loaded.preprocessing is None, loaded.base


def _predict(model, probe):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(model(probe, training=False)))


def run_on_backend(folder) -> dict:
    import keras

    from keras_blocks import Classifier

    folder = pathlib.Path(folder)
    backend = keras.backend.backend()
    keras.utils.set_random_seed(0)
    probe = np.load(folder / "probe.npy")

    model = build()
    assert isinstance(model, Classifier), type(model)
    model.compile(learning_rate=1e-2)  # the loss follows the head
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy), model.loss
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(pipeline(folder), epochs=1, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 1 and np.isfinite(losses[0]), losses
    after = model.get_weights()
    changed = sum(not np.allclose(b, a) for b, a in zip(before, after, strict=True))
    assert changed > 0, "one epoch of training changed no weight"

    predictions = _predict(model, probe)
    assert predictions.shape == (probe.shape[0], 1), predictions.shape
    assert np.all((predictions >= 0) & (predictions <= 1)), predictions
    model.save(folder / f"{backend}.keras")
    np.save(folder / f"{backend}.predictions.npy", predictions)

    loaded_from = {}
    for path in sorted(folder.glob("*.keras")):
        source = path.stem
        if source == backend:
            continue
        expected = np.load(folder / f"{source}.predictions.npy")
        loaded = keras.saving.load_model(path, safe_mode=True)
        _check_parts(loaded)
        actual = _predict(loaded, probe)
        difference = float(np.max(np.abs(actual - expected)))
        assert difference <= ATOL, (
            f"a model saved on {source} predicts differently on {backend}: max abs "
            f"difference {difference:.3g} > {ATOL}"
        )
        loaded_from[source] = difference
    return {"loss": float(losses[0]), "changed_weights": changed, "loaded_from": loaded_from}


def check_saved_by_others(folder, backends) -> dict:
    """In the home process: load every other backend's file and compare its predictions."""
    import keras

    import keras_blocks  # noqa: F401 (registers the classes the files name)

    folder = pathlib.Path(folder)
    probe = np.load(folder / "probe.npy")
    differences = {}
    for source in backends:
        expected = np.load(folder / f"{source}.predictions.npy")
        loaded = keras.saving.load_model(folder / f"{source}.keras", safe_mode=True)
        _check_parts(loaded)
        differences[source] = float(np.max(np.abs(_predict(loaded, probe) - expected)))
    return differences
