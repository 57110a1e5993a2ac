"""examples/car_or_truck: trains, saves, evaluates, predicts; bad arguments fail cleanly.

The example is a package imported normally (`examples.car_or_truck.<module>`); the
command runs as `python -m examples.car_or_truck` from the repository root.
"""

import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_blocks
from examples.car_or_truck import cli, data, training
from keras_blocks import make_synthetic_car_truck
from tests.figures import assert_figure

REPO = pathlib.Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "examples.car_or_truck"]  # run with cwd=REPO
FIGURES = ("learning_curves", "confusion_matrix", "predictions", "augmented", "feature_maps")
# The smallest (width, height) in pixels of each figure, as `bbox_inches="tight"` trims
# it; `augmented` has an exact size (show_augmentations: 4 x 4 cells of 2 inches, 100 dpi).
FIGURE_MIN_SIZES = {"learning_curves": (1000, 380), "confusion_matrix": (300, 300),
                    "predictions": (1200, 200), "augmented": (800, 800),
                    "feature_maps": (1200, 600)}


def _assert_figures(run):
    assert set(FIGURE_MIN_SIZES) == set(FIGURES)
    for name in FIGURES:
        assert_figure(run / "figures" / f"{name}.png", min_size=FIGURE_MIN_SIZES[name],
                      size=(800, 800) if name == "augmented" else None)


def exit_status(argv):
    """`main(argv)`'s exit status, also where argparse exits (bad flag values)."""
    try:
        return cli.main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """12 synthetic images per class (10 train, 2 valid... rounded), 32x32."""
    root = tmp_path_factory.mktemp("data") / "cars"
    return make_synthetic_car_truck(root, n_per_class=12, image_size=32, seed=0)


@pytest.fixture(scope="module")
def trained_custom(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    code = cli.main(
        [
            "train",
            "--model",
            "custom",
            "--data-dir",
            str(tiny_data),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--image-size",
            "32",
            "--output-dir",
            str(out),
            "--seed",
            "3",
        ]
    )
    assert code == 0
    return out / "custom"


def _leftovers(parent):
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_train_custom_writes_every_output(trained_custom):
    run = trained_custom
    for name in ("model.keras", "history.json", "metrics.json"):
        assert (run / name).is_file(), name
    _assert_figures(run)
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_accuracy"]) == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["images"] == 4 and metrics["synthetic_data"] is False
    assert sum(map(sum, metrics["confusion_matrix"])) == 4
    assert set(metrics["per_class"]) == {"Car", "Truck"}
    assert not _leftovers(run.parent.parent)


def test_saved_model_loads_safely_and_matches_metrics(trained_custom, tiny_data):
    model = keras.saving.load_model(trained_custom / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 1)
    metrics = json.loads((trained_custom / "metrics.json").read_text())
    images, labels = data.arrays(data.pipelines(tiny_data, 32, 8, 0)[1])
    accuracy = np.mean((model.predict(images, verbose=0)[:, 0] > 0.5) == labels)
    assert accuracy == pytest.approx(metrics["accuracy"])


def test_evaluate_and_predict(trained_custom, tiny_data, tmp_path, capsys):
    model = str(trained_custom / "model.keras")
    out = tmp_path / "eval.json"
    assert (
        cli.main(["evaluate", model, "--data-dir", str(tiny_data), "--output", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "precision" in printed and "confusion matrix" in printed
    metrics = json.loads(out.read_text())
    assert metrics["images"] == 4
    assert metrics["accuracy"] == pytest.approx(
        json.loads((trained_custom / "metrics.json").read_text())["accuracy"]
    )

    car = sorted((tiny_data / "valid" / "Car").iterdir())[0]
    assert cli.main(["predict", model, str(car), str(tiny_data / "valid")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + 4
    path, label, probability = lines[0].split("\t")
    assert path == str(car) and label in ("Car", "Truck") and 0.5 <= float(probability) <= 1


def test_evaluate_and_predict_feed_raw_pixels_as_training_does(tiny_data, tmp_path, capsys):
    """A model whose output follows the mean pixel value (so a wrong scale shows):
    evaluate and predict give it raw 0-255 pixels, the same probability per photo."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.full((3, 1), 1 / 60, "float32"), np.array([-128 / 20], "float32")])
    path = tmp_path / "mean_pixel.keras"
    model.save(path)
    out = tmp_path / "eval.json"
    assert cli.main(["evaluate", str(path), "--data-dir", str(tiny_data),
                     "--output", str(out)]) == 0
    probabilities = json.loads(out.read_text())["probabilities"]
    files = [p for c in ("Car", "Truck") for p in sorted((tiny_data / "valid" / c).iterdir())]
    images, _ = data.arrays(data.pipelines(tiny_data, 32, 8, 0)[1])
    expected = model.predict(images.astype("float32"), verbose=0).ravel()
    assert np.ptp(expected) > 0.05  # the photos' probabilities differ
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    capsys.readouterr()
    assert cli.main(["predict", str(path), *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    p_truck = [float(p) if label == "Truck" else 1 - float(p)
               for _, label, p in (line.split("\t") for line in lines)]
    np.testing.assert_allclose(p_truck, expected, atol=1.5e-4)  # printed with 4 decimals


@pytest.mark.slow
def test_train_transfer_two_phases(tiny_data, tmp_path, weights_dir):
    out = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--model",
            "transfer",
            "--data-dir",
            str(tiny_data),
            "--image-size",
            "32",
            "--head-epochs",
            "1",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--output-dir",
            str(out),
            "--weights",
            str(weights_dir / "mobilenet_v2_1.0_no_top.weights.h5"),
        ]
    )
    assert code == 0
    run = out / "transfer"
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 2 and history["phase_starts"] == [1]
    _assert_figures(run)
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.output_shape == (None, 1)


@pytest.mark.slow
def test_synthetic_fallback_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(
        ["train", "--synthetic", "--epochs", "1", "--batch-size", "32", "--output-dir", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    note = printed.index("SYNTHETIC")
    assert note < printed.index("custom epoch 1")  # said before training
    assert json.loads((out / "custom" / "metrics.json").read_text())["synthetic_data"] is True
    assert (out / "synthetic-data" / "train" / "Truck").is_dir()


def _bad_layout(tmp_path):
    root = tmp_path / "bad"  # Car folders with an image, no Truck folders
    for split in ("train", "valid"):
        (root / split / "Car").mkdir(parents=True)
        (root / split / "Car" / "0.jpg").write_bytes(b"")
    return root


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data-dir", "{tmp}/missing"], "no such directory"),
        (["--data-dir", "{bad}"], "train/Truck is missing"),
        (["--model", "transfer", "--weights", "{tmp}/nope.h5"], "no such file"),
        (["--epochs", "0"], "argument --epochs: must be an integer >= 1; got 0"),
        (["--image-size", "16"], "argument --image-size: must be an integer >= 32; got 16"),
    ],
)
def test_bad_train_arguments_fail_cleanly(tmp_path, capsys, args, message):
    bad = _bad_layout(tmp_path)
    args = [a.format(tmp=tmp_path, bad=bad) for a in args]
    out = tmp_path / "runs" / "run"
    assert exit_status(["train", *args, "--output-dir", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_unknown_model_name_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--model", "resnet"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


def test_failure_during_training_leaves_nothing(tiny_data, tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(training, "train_custom", explode)
    out = tmp_path / "runs" / "run"
    with pytest.raises(RuntimeError, match="interrupted"):
        cli.main(["train", "--data-dir", str(tiny_data), "--output-dir", str(out)])
    assert list((tmp_path / "runs").iterdir()) == []


def test_evaluate_and_predict_bad_paths(trained_custom, tmp_path, capsys):
    model = str(trained_custom / "model.keras")
    assert (
        cli.main(["evaluate", str(tmp_path / "no.keras"), "--data-dir", str(tmp_path)])
        == 2
    )
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["evaluate", model, "--data-dir", str(tmp_path)]) == 2
    assert "Car, Truck missing" in capsys.readouterr().err
    assert cli.main(["predict", model, str(tmp_path / "ghost.jpg")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "notes.jpg").write_text("not an image")
    assert cli.main(["predict", model, str(tmp_path / "notes.jpg")]) == 2
    assert "not a readable image" in capsys.readouterr().err


def test_help_explains_every_option():
    result = subprocess.run(
        [*COMMAND, "train", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in (
        "--model",
        "--preset",
        "--data-dir",
        "--weights",
        "--image-size",
        "--epochs",
        "--batch-size",
        "--seed",
        "--output-dir",
        "--mixed-precision",
    ):
        assert option in result.stdout


def test_reported_tta_accuracy_is_predict_tta_of_the_saved_model(trained_custom, tiny_data):
    from keras_blocks import predict_tta

    model = keras.saving.load_model(trained_custom / "model.keras", safe_mode=True)
    metrics = json.loads((trained_custom / "metrics.json").read_text())
    images, labels = data.arrays(data.pipelines(tiny_data, 32, 8, 0)[1])
    for key, views in (("flip_tta_accuracy", {"flip": True}),
                       ("tta_accuracy", {"flip": True, "shift": 1})):
        averaged = predict_tta(model, images, **views).reshape(-1)
        assert metrics[key] == pytest.approx(np.mean((averaged > 0.5) == labels)), key


def test_weight_ema_recipe_keeps_the_average(tiny_data, tmp_path, monkeypatch):
    """With `ema_decay`, model.keras holds the WeightEMA average (not the last step's
    weights that ModelCheckpoint wrote) and the last validation saw that average."""
    import dataclasses

    from examples.car_or_truck.recipes import PRESETS

    made = []

    class Recorded(keras_blocks.WeightEMA):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(keras_blocks, "WeightEMA", Recorded)
    monkeypatch.setitem(PRESETS["quick"], "custom",
                        dataclasses.replace(PRESETS["quick"]["custom"], ema_decay=0.5))
    out = tmp_path / "run"
    assert cli.main(["train", "--data-dir", str(tiny_data), "--epochs", "2",
                     "--batch-size", "8", "--output-dir", str(out), "--seed", "1"]) == 0
    (ema,) = made
    assert ema.decay == 0.5 and ema.steps == 6  # 2 epochs of 3 batches of 8
    model = keras.saving.load_model(out / "custom" / "model.keras", safe_mode=True)
    saved = [np.asarray(w) for w in model.weights]
    assert len(saved) == len(ema.average)
    for kept, average in zip(saved, ema.average, strict=True):
        np.testing.assert_array_equal(kept, average)
    metrics = json.loads((out / "custom" / "metrics.json").read_text())
    history = json.loads((out / "custom" / "history.json").read_text())
    assert metrics["settings"]["ema_decay"] == 0.5
    assert metrics["accuracy"] == pytest.approx(history["val_accuracy"][-1])
