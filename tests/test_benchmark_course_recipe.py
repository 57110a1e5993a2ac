"""benchmarks/course_recipe.py: the seed loop and its summary (last epoch, mean, spread).

The accuracy figures are measurements (never asserted here); this checks the arithmetic
the README quotes and that a short run of the course's custom recipe on generated images
goes through the same command path with several seeds.
"""

from __future__ import annotations

import json
import pathlib
import statistics

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _module():
    from benchmarks import course_recipe

    return course_recipe


def test_summary_is_over_last_epochs_with_sample_sd_and_time_ratio():
    recipe = _module()
    rows = [
        {"recipe": "ours-custom", "last_val_accuracy": a, "train_s": t}
        for a, t in ((0.96, 100.0), (0.97, 110.0), (0.965, 120.0))
    ] + [{"recipe": "course-custom", "last_val_accuracy": 0.84, "train_s": 220.0}]
    summary = recipe.summarize(rows)
    ours = summary["recipes"]["ours-custom"]
    assert ours["runs"] == 3
    assert ours["mean"] == pytest.approx(0.965)
    assert ours["sd"] == pytest.approx(statistics.stdev([0.96, 0.97, 0.965]))
    assert (ours["min"], ours["max"]) == (0.96, 0.97)
    assert summary["recipes"]["course-custom"]["sd"] == 0.0
    assert summary["custom_time_ratio"] == pytest.approx(110.0 / 220.0)
    assert recipe.summarize(rows[:3])["custom_time_ratio"] is None


@pytest.mark.slow
def test_two_seeds_of_the_course_recipe_run_and_are_summarized(tmp_path, capsys):
    from keras_blocks.data import make_synthetic_car_truck

    data = tmp_path / "data"
    make_synthetic_car_truck(data, n_per_class=10, image_size=16)
    out = tmp_path / "results.json"
    code = _module().main(["--recipes", "course-custom", "--epochs", "1", "--seeds", "2",
                           "--data-dir", str(data), "--output", str(out)])
    assert code == 0
    results = json.loads(out.read_text())
    assert [row["seed"] for row in results["results"]] == [31415, 31416]
    assert results["summary"]["recipes"]["course-custom"]["runs"] == 2
    assert "SUMMARY course-custom" in capsys.readouterr().out


def test_bad_seed_count_is_refused(tmp_path):
    with pytest.raises(SystemExit) as error:
        _module().main(["--seeds", "0", "--data-dir", str(REPO.parent / "shared" / "data"
                                                        / "cifar10-car-truck"),
                        "--recipes", "course-custom"])
    assert error.value.code == 2
