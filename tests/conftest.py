"""Shared fixtures: quiet logs, deterministic seeds, and where the real data lives."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import pytest
from hypothesis import settings

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("KERAS_BLOCKS_SHARED", REPO.parent / "shared"))
DATA_DIR = SHARED / "data" / "cifar10-car-truck"
WEIGHTS_DIR = SHARED / "weights"

settings.register_profile("ci", max_examples=8, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _require(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared beside the clone.")
        pytest.skip(f"{path} is absent (a fresh clone without ../shared)")
    return path


@pytest.fixture
def data_dir() -> pathlib.Path:
    """The real car/truck photos (../shared/data/cifar10-car-truck)."""
    return _require(DATA_DIR)


@pytest.fixture
def weights_dir() -> pathlib.Path:
    """The real ImageNet weights (../shared/weights)."""
    return _require(WEIGHTS_DIR)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()
