"""The project's own promises: CI runs the README's commands, the public API is whole."""

import re

import keras_blocks
from tests.conftest import REPO


def _readme_commands():
    text = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_ci_runs_the_readme_test_command_verbatim():
    test_commands = [c for c in _readme_commands() if "pytest" in c]
    assert len(test_commands) == 1, test_commands
    ci = (REPO / ".ci" / "run").read_text()
    assert test_commands[0] in ci.splitlines()


def test_ci_fails_when_no_test_runs():
    ci = (REPO / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci  # pytest's exit 5 (nothing collected) fails CI
    assert "sys.exit(0 if ran > 0 else 1)" in ci  # and so does an all-skipped run


def test_every_public_name_is_documented():
    # A quick, import-only check; tests/test_docstring_examples.py runs every Example.
    missing = [n for n in keras_blocks.__all__ if not getattr(keras_blocks, n).__doc__]
    assert not missing
    for name in keras_blocks.__all__:
        doc = getattr(keras_blocks, name).__doc__
        assert "Example" in doc, f"{name} has no Example section"


def test_public_names_are_unique_and_importable():
    assert len(set(keras_blocks.__all__)) == len(keras_blocks.__all__)
    for name in keras_blocks.__all__:
        assert hasattr(keras_blocks, name), name
