"""benchmarks/precision.py: both policies build the same network and are timed."""

import json

import pytest


def test_one_round_reports_both_policies(tmp_path, capsys):
    from benchmarks import precision

    out = tmp_path / "precision.json"
    assert precision.main(["--rounds", "1", "--steps", "1", "--batch-size", "8",
                           "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["ms_per_step"]) == {"float32", "mixed_bfloat16"}
    assert all(value > 0 for value in result["ms_per_step"].values())
    # Same seed, same network: only the compute dtype differs, so outputs agree to
    # bfloat16's precision but not bit for bit.
    assert 0 < result["max_output_diff"] < 0.1
    assert result["weights"] == 531_641
    assert "RATIO float32 / mixed_bfloat16" in capsys.readouterr().out


def test_bad_rounds_is_refused():
    from benchmarks import precision

    with pytest.raises(SystemExit) as error:
        precision.main(["--rounds", "0"])
    assert error.value.code == 2
