"""examples/car_or_truck under bad input (issue 16): every bad flag, path or file is
named in one line; a diverging run keeps the previous model; the output swap is made of
renames only; SIGTERM leaves no staging folder; strict JSON."""

import json
import math
import os
import pathlib
import shutil
import signal
import subprocess
import time

import keras.src.utils.file_utils as keras_file_utils
import pytest

from examples.car_or_truck import cli, runs, training
from keras_blocks import make_synthetic_car_truck
from tests.test_example_car_or_truck import COMMAND, REPO


def run(argv, capsys):
    """(exit status, stdout, stderr) of `main(argv)`, argparse's exits included."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path}: non-standard JSON constant {constant}")

    return json.loads(pathlib.Path(path).read_text(), parse_constant=refuse)


def hidden(folder):
    return sorted(p.name for p in pathlib.Path(folder).iterdir() if p.name.startswith("."))


def tree(folder):
    """{relative path: bytes} of every file under `folder`."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input-data") / "cars"
    return make_synthetic_car_truck(root, n_per_class=12, image_size=32, seed=0)


TRAIN = ["--epochs", "1", "--batch-size", "8", "--image-size", "32", "--seed", "3"]


@pytest.fixture(scope="module")
def good_run(tiny_data, tmp_path_factory):
    """A finished custom run: OUTPUT_DIR (holding custom/)."""
    out = tmp_path_factory.mktemp("bad-input-runs") / "run"
    assert cli.main(["train", "--data-dir", str(tiny_data), *TRAIN,
                              "--output-dir", str(out)]) == 0
    return out


@pytest.fixture
def model_path(good_run):
    return str(good_run / "custom" / "model.keras")


# ------------------------------------------------------------------ numeric flags (item 11)

BAD_FLAGS = [
    ("train", "--learning-rate", "nan", "a finite number > 0"),
    ("train", "--learning-rate", "inf", "a finite number > 0"),
    ("train", "--learning-rate", "-1", "a finite number > 0"),
    ("train", "--learning-rate", "0", "a finite number > 0"),
    ("train", "--learning-rate", "fast", "a finite number > 0"),
    ("train", "--batch-size", "0", "an integer >= 1"),
    ("train", "--batch-size", "-1", "an integer >= 1"),
    ("train", "--epochs", "-2", "an integer >= 1"),
    ("train", "--epochs", "1.5", "an integer >= 1"),
    ("train", "--head-epochs", "-1", "an integer >= 0"),
    ("train", "--image-size", "0", "an integer >= 32"),
    ("train", "--seed", "-1", "an integer from 0 to 4294967295"),
    ("train", "--seed", str(2**32), "an integer from 0 to 4294967295"),
    ("evaluate", "--batch-size", "0", "an integer >= 1"),
    ("evaluate", "--batch-size", "-5", "an integer >= 1"),
    ("evaluate", "--split", "../valid", "the name of a folder inside --data-dir"),
    ("predict", "--batch-size", "0", "an integer >= 1"),
    ("predict", "--batch-size", "-1", "an integer >= 1"),
    ("train", "--on-error", "ignore", "invalid choice"),
    ("evaluate", "--on-error", "ignore", "invalid choice"),
    ("predict", "--on-error", "ignore", "invalid choice"),
]


@pytest.mark.parametrize(("command", "flag", "value", "allowed"), BAD_FLAGS,
                         ids=[f"{c}{f}={v}" for c, f, v, _ in BAD_FLAGS])
def test_bad_numeric_flag_exits_2_naming_the_flag(
    command, flag, value, allowed, tiny_data, model_path, tmp_path, capsys
):
    out = tmp_path / "runs" / "run"
    argv = {
        "train": ["train", "--data-dir", str(tiny_data), *TRAIN, "--output-dir", str(out)],
        "evaluate": ["evaluate", model_path, "--data-dir", str(tiny_data)],
        "predict": ["predict", model_path, str(tiny_data / "valid")],
    }[command]
    status, printed, err = run([*argv, flag, value], capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, naming the flag and what is allowed
    assert f"argument {flag}:" in lines[0] and allowed in lines[0]
    assert printed == ""  # predict printed no results, evaluate no metrics
    assert not (tmp_path / "runs").exists()


def test_readme_default_command_still_parses():
    args = cli.build_parser().parse_args(["train"])
    assert (args.model, args.preset, args.on_error) == ("custom", "quick", "raise")
    assert args.learning_rate is None and args.batch_size is None and args.seed == 0


# ------------------------------------------------------------------ diverging run (item 10)


def test_diverging_run_keeps_the_previous_model(good_run, tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(good_run, out)
    before = tree(out)
    # A finite learning rate passes validation, and still makes the loss NaN.
    status, _, err = run(["train", "--data-dir", str(tiny_data), *TRAIN, "--epochs", "3",
                          "--learning-rate", "1e30", "--output-dir", str(out)], capsys)
    assert status == 1
    assert "custom: training diverged: the loss became nan at epoch 1" in err
    assert "Try a lower --learning-rate" in err and str(out / "custom") in err
    assert tree(out) == before  # the previous model, history and metrics, untouched
    assert hidden(tmp_path) == [] and hidden(out) == []
    strict_json(out / "custom" / "history.json")


def test_divergence_guard_stops_at_the_first_non_finite_loss():
    guard = training.DivergenceGuard()

    class Model:
        stop_training = False

    guard.set_model(Model())
    guard.on_train_begin()
    guard.on_epoch_begin(0)
    guard.on_batch_end(0, {"loss": 0.7})
    assert guard.stopped is None and not guard.model.stop_training
    guard.on_batch_end(1, {"loss": float("inf")})
    assert guard.stopped == (1, 1, 2, "loss", math.inf) and guard.model.stop_training
    guard.on_batch_end(2, {"loss": float("nan")})
    assert guard.stopped == (1, 1, 2, "loss", math.inf)  # the first one is kept
    # A later fit (transfer learning's phase 2) stops at once.
    guard.model.stop_training = False
    guard.on_train_begin()
    guard.on_batch_end(0, {"loss": 0.5})
    assert guard.model.stop_training

    validation = training.DivergenceGuard()
    validation.set_model(Model())
    validation.on_train_begin()
    validation.on_epoch_begin(4)
    validation.on_epoch_end(4, {"loss": 0.3, "val_loss": float("nan")})
    assert validation.stopped[1:4] == (5, None, "val_loss")


def test_json_files_are_strict(tmp_path):
    path = tmp_path / "history.json"
    runs.write_json(path, {"loss": [0.5, float("nan"), float("inf")],
                                   "nested": {"x": (1.0, -math.inf)}, "n": 3})
    assert strict_json(path) == {"loss": [0.5, None, None], "nested": {"x": [1.0, None]},
                                 "n": 3}


def test_finished_run_writes_strict_json(good_run):
    strict_json(good_run / "custom" / "history.json")
    metrics = strict_json(good_run / "custom" / "metrics.json")
    assert metrics["skipped_files"] == []


# ------------------------------------------------------------------ atomic swap (item 12)


def _staged(tmp_path, names=("custom", "transfer")):
    """An old run in out/ and a new one in .stage/, each file saying which."""
    out, staging = tmp_path / "out", tmp_path / ".stage"
    for folder, version in ((out, "old"), (staging, "new")):
        for name in names:
            (folder / name / "figures").mkdir(parents=True)
            (folder / name / "model.keras").write_text(f"{version} {name}")
            (folder / name / "figures" / "a.png").write_text(f"{version} {name} figure")
    (out / "unrelated.txt").write_text("kept")
    return out, staging


def test_swap_replaces_every_folder_and_deletes_the_backups(tmp_path):
    out, staging = _staged(tmp_path)
    runs.swap_into_place(staging, out, ["custom", "transfer"])
    assert (out / "custom" / "model.keras").read_text() == "new custom"
    assert (out / "transfer" / "figures" / "a.png").read_text() == "new transfer figure"
    assert (out / "unrelated.txt").read_text() == "kept"
    assert hidden(out) == [] and list(staging.iterdir()) == []


def test_swap_into_a_fresh_output_dir(tmp_path):
    out, staging = _staged(tmp_path)
    shutil.rmtree(out)
    runs.swap_into_place(staging, out, ["custom"])
    assert (out / "custom" / "model.keras").read_text() == "new custom"


# Two names with an old run each make 4 renames: fail at each of them, with an error
# or with a signal (Terminated), and the old run must be back, whole.
@pytest.mark.parametrize("fail_at", [0, 1, 2, 3])
@pytest.mark.parametrize("failure", ["oserror", "sigterm"])
def test_swap_failing_between_steps_leaves_the_old_run_whole(tmp_path, fail_at, failure):
    out, staging = _staged(tmp_path)
    old, new = tree(out), tree(staging)
    calls = []

    def flaky_rename(source, destination):
        calls.append((source, destination))
        if len(calls) == fail_at + 1:  # this rename fails; the undo's renames work
            if failure == "oserror":
                raise OSError(28, "No space left on device")
            raise runs.Terminated(signal.SIGTERM)
        os.rename(source, destination)

    expected = OSError if failure == "oserror" else runs.Terminated
    with pytest.raises(expected):
        runs.swap_into_place(staging, out, ["custom", "transfer"], rename=flaky_rename)
    assert tree(out) == old and hidden(out) == []
    assert tree(staging) == new  # still whole, for the caller to delete


def test_swap_reports_where_the_old_run_is_when_undo_fails(tmp_path):
    out, staging = _staged(tmp_path, names=("custom",))
    calls = []

    def rename(source, destination):
        calls.append(source)
        if len(calls) >= 2:  # the new run's rename fails, and so does the undo
            raise OSError(5, "Input/output error")
        os.rename(source, destination)

    undone = r"could not be fully undone.*\.custom\.previous-"
    with pytest.raises(runs.RunError, match=undone):
        runs.swap_into_place(staging, out, ["custom"], rename=rename)


def test_signals_wait_for_the_end_of_a_deferred_block():
    interrupts = runs.Interrupts()
    with pytest.raises(runs.Terminated) as stop, interrupts.deferred():
        interrupts.handle(signal.SIGTERM, None)  # what the signal would call
        finished = True  # not interrupted in the middle
    assert finished and stop.value.signum == signal.SIGTERM
    with pytest.raises(runs.Terminated):
        interrupts.handle(signal.SIGINT, None)  # outside: at once


@pytest.mark.slow
def test_sigterm_during_training_removes_the_staging_folder(tiny_data, tmp_path):
    parent = tmp_path / "runs"
    out = parent / "run"
    (out / "custom").mkdir(parents=True)
    (out / "custom" / "model.keras").write_text("the previous run")
    process = subprocess.Popen(
        [*COMMAND, "train", "--data-dir", str(tiny_data), "--epochs", "500",
         "--batch-size", "8", "--output-dir", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.time() + 240
        for line in process.stdout:  # wait until training is under way
            if "custom epoch 1:" in line or time.time() > deadline:
                break
        assert hidden(parent), "the run should be staging its files"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err
    assert hidden(parent) == [] and hidden(out) == []
    assert (out / "custom" / "model.keras").read_text() == "the previous run"


# ------------------------------------------------------------------ --on-error


@pytest.fixture
def data_with_a_corrupt_image(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    for split in ("train", "valid"):
        (data / split / "Car" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return data


def test_train_on_a_corrupt_image_names_it_and_offers_on_error_skip(
    data_with_a_corrupt_image, tmp_path, capsys
):
    out = tmp_path / "runs" / "run"
    status, _, err = run(["train", "--data-dir", str(data_with_a_corrupt_image), *TRAIN,
                          "--output-dir", str(out)], capsys)
    assert status == 2
    assert "broken.jpg" in err and "--on-error skip" in err
    assert "Traceback" not in err
    assert hidden(tmp_path / "runs") == []

    status, _, err = run(["train", "--data-dir", str(data_with_a_corrupt_image), *TRAIN,
                          "--output-dir", str(out), "--on-error", "skip"], capsys)
    assert status == 0
    assert "broken.jpg" in err  # the skipped file is listed
    metrics = strict_json(out / "custom" / "metrics.json")
    assert metrics["images"] == 4  # the valid/ images that decode
    assert sorted(pathlib.Path(p).name for p in metrics["skipped_files"]) == ["broken.jpg"] * 2


def test_evaluate_on_a_corrupt_image(data_with_a_corrupt_image, model_path, capsys):
    argv = ["evaluate", model_path, "--data-dir", str(data_with_a_corrupt_image)]
    status, _, err = run(argv, capsys)
    assert status == 2 and "broken.jpg" in err and "--on-error skip" in err
    status, printed, err = run([*argv, "--on-error", "skip"], capsys)
    assert status == 0 and "accuracy" in printed and "broken.jpg" in err


# ------------------------------------------------------------------ predict's paths


def test_predict_skips_folders_named_like_images_and_broken_links(
    tiny_data, model_path, tmp_path, capsys
):
    photos = tmp_path / "photos"
    photos.mkdir()
    good = sorted((tiny_data / "valid" / "Car").iterdir())[0]
    shutil.copy(good, photos / "car.png")
    (photos / "x.jpg").mkdir()
    (photos / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    status, printed, err = run(["predict", model_path, str(photos)], capsys)
    assert status == 0
    assert [line.split("\t")[0] for line in printed.splitlines()] == [str(photos / "car.png")]
    assert f"skipped {photos / 'x.jpg'}: a directory" in err
    assert f"skipped {photos / 'gone.jpg'}: a broken symbolic link" in err
    assert "Traceback" not in err

    status, printed, err = run(["predict", model_path, str(photos / "gone.jpg")], capsys)
    assert status == 2 and printed == ""
    assert f"PATH {photos / 'gone.jpg'}: a broken symbolic link" in err


def test_predict_decode_errors_are_clean_and_skippable(tiny_data, model_path, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(sorted((tiny_data / "valid" / "Truck").iterdir())[0], photos / "truck.png")
    (photos / "notes.jpg").write_text("not an image")
    status, _, err = run(["predict", model_path, str(photos)], capsys)
    assert status == 2
    line = err.strip()
    assert f"PATH {photos / 'notes.jpg'}: not a readable image" in line
    assert "name:" not in line and "{{function_node" not in line and "[Op:" not in line
    status, printed, err = run(["predict", model_path, str(photos), "--on-error", "skip"],
                               capsys)
    assert status == 0 and len(printed.splitlines()) == 1
    assert "notes.jpg" in err


# ------------------------------------------------------------------ invalid model files


def _bad_models(model_path, folder):
    data = pathlib.Path(model_path).read_bytes()
    folder.mkdir()
    (folder / "empty.keras").write_bytes(b"")
    (folder / "truncated.keras").write_bytes(data[: len(data) // 2])
    (folder / "text.keras").write_text("hello")
    (folder / "folder.keras").mkdir()
    return {"empty.keras": "the file is empty", "truncated.keras": "is not",
            "text.keras": "is not", "folder.keras": "a directory"}


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_invalid_model_files_are_named_not_reported_missing(
    command, model_path, tiny_data, tmp_path, capsys
):
    for name, why in _bad_models(model_path, tmp_path / "models").items():
        path = tmp_path / "models" / name
        extra = (["--data-dir", str(tiny_data)] if command == "evaluate"
                 else [str(tiny_data / "valid")])
        status, printed, err = run([command, str(path), *extra], capsys)
        assert status == 2, name
        assert f"MODEL {path}:" in err and why in err, err
        assert "File not found" not in err and printed == ""
        if name != "folder.keras":
            assert "not a valid Keras model" in err


# ------------------------------------------------------------------ offline ImageNet weights


def test_train_transfer_offline_says_how_to_pass_a_weights_file(
    tiny_data, tmp_path, monkeypatch, capsys
):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5: None -- "
                        "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras_file_utils, "get_file", offline)
    out = tmp_path / "runs" / "run"
    status, _, err = run(["train", "--model", "transfer", "--weights", "imagenet",
                          "--data-dir", str(tiny_data), *TRAIN, "--output-dir", str(out)],
                         capsys)
    assert status == 1
    assert "--weights imagenet: the MobileNetV2 ImageNet weights could not be downloaded" in err
    assert "Temporary failure in name resolution" in err
    assert "--weights /path/to/file.h5" in err and "Traceback" not in err
    assert list((tmp_path / "runs").iterdir()) == []
