"""benchmarks/transfer_budget.py: recipe parsing, the JSON it writes, the estimate's formula.

Step times are measurements (never compared with each other here); this checks that a
tiny run goes through, reports every recipe with positive times and the anchor's ratio
1, that the estimate is the documented formula of the reported step times, and that a
bad `--recipe` is refused with a message naming it and the expected form.
"""

from __future__ import annotations

import dataclasses
import json

import pytest


def _module():
    from benchmarks import transfer_budget

    return transfer_budget


def test_recipes_parse_and_the_anchor_comes_first_or_is_replaced():
    tb = _module()
    assert tb.parse_recipe("new=128:1:6:all") == tb.Recipe("new", 128, 1, 6, None)
    assert tb.parse_recipe("top=96:0:3:4") == tb.Recipe("top", 96, 0, 3, 4)
    names = [r.name for r in tb.recipe_list(["new=128:1:6:all"])]
    assert names == ["old", "new"]
    assert tb.recipe_list([])[0] == tb.Recipe("old", 160, 1, 12, None)
    replaced = tb.recipe_list(["new=128:1:6:all", "old=32:1:2:all"])
    assert [(r.name, r.size) for r in replaced] == [("old", 32), ("new", 128)]


@pytest.mark.parametrize("value", ["new", "new=128:1:6", "new=big:1:6:all",
                                   "new=128:1:6:some", "new=128:-1:6:all",
                                   "new=16:1:6:all", "=128:1:6:all", "new=128:0:0:all"])
def test_a_bad_recipe_is_refused_naming_the_value_and_the_form(value, capsys):
    with pytest.raises(SystemExit) as error:
        _module().main(["--recipe", value])
    assert error.value.code == 2
    message = capsys.readouterr().err
    assert repr(value) in message
    assert "NAME=size:head_epochs:epochs:unfreeze" in message


def test_a_recipe_name_given_twice_is_refused(capsys):
    with pytest.raises(SystemExit):
        _module().main(["--recipe", "a=64:1:2:all", "--recipe", "a=96:1:2:all"])
    assert "'a' is given twice" in capsys.readouterr().err


def test_a_tiny_run_reports_every_recipe_and_the_formula(tmp_path):
    tb = _module()
    out = tmp_path / "budget.json"
    tb.main(["--recipe", "old=32:1:2:all", "--recipe", "double=32:1:4:all",
             "--rounds", "1", "--steps", "1", "--batch-size", "8",
             "--train-images", "128", "--valid-images", "60", "--output", str(out)])
    results = json.loads(out.read_text())
    assert results["anchor"] == "old"
    assert (results["train_batches"], results["valid_batches"]) == (16, 8)
    assert list(results["recipes"]) == ["old", "double"]
    old = results["recipes"]["old"]
    # Phase 1 trains the head alone (kernel and bias); phase 2 the unfrozen base too.
    assert old["trainable_weights"]["phase_1"] == 2
    assert old["trainable_weights"]["phase_2"] > 2
    for measure in ("wall", "cpu"):
        assert old[measure]["ratio_median"] == 1.0
        assert old[measure]["ratios"] == [1.0]
        for name, entry in results["recipes"].items():
            figures = entry[measure]
            t1, t2, tv = (figures[f"{k}_s_per_step"] for k in ("t1", "t2", "tv"))
            assert min(t1, t2, tv) > 0, (name, measure)
            head, epochs = entry["head_epochs"], entry["epochs"]
            assert figures["estimated_s"] == pytest.approx(
                head * 16 * t1 + epochs * 16 * t2 + (head + epochs) * 8 * tv, rel=1e-12)
            # One round: the ratio is the estimate over the anchor's.
            assert figures["ratio_median"] == pytest.approx(
                figures["estimated_s"] / old[measure]["estimated_s"], rel=1e-12)
        # Twice the epochs at the anchor's own step times: a longer estimate.
        t = [old[measure][f"{k}_s_per_step"] for k in ("t1", "t2", "tv")]
        anchor = tb.Recipe("old", 32, 1, 2, None)
        twice = dataclasses.replace(anchor, epochs=4)
        assert tb.estimate(twice, *t, 16, 8) > tb.estimate(anchor, *t, 16, 8)
        assert tb.estimate(anchor, *t, 16, 8) == pytest.approx(old[measure]["estimated_s"])
