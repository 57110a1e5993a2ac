"""keras_blocks' warnings point at the user's line, whatever the call path inside."""

import warnings

import numpy as np
import pytest

from keras_blocks import make_pipeline
from keras_blocks._warnings import warn_user
from tests.test_data_pipeline import _write


def _folder(root, with_text_file=True):
    for label in ("a", "b"):
        for i in range(3):
            _write(root / label / f"{i}.png", np.full((6, 6, 3), 40 * i, np.uint8))
    if with_text_file:
        (root / "a" / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("subset", [None, "training", "validation"])
def test_pipeline_warnings_name_this_file(tmp_path, subset):
    folder = _folder(tmp_path / "images")
    split = {} if subset is None else {"validation_split": 0.5, "subset": subset, "seed": 1}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_pipeline(str(folder), image_size=(6, 6), batch_size=2, **split)
    ours = [w for w in caught if "without an image extension" in str(w.message)]
    assert ours, [str(w.message) for w in caught]
    assert all(w.filename == __file__ for w in ours), [(w.filename, w.lineno) for w in ours]


def test_cache_rebuild_warning_names_this_file(tmp_path):
    folder = _folder(tmp_path / "images", with_text_file=False)
    cache = tmp_path / "images.cache"
    make_pipeline(str(folder), image_size=(6, 6), batch_size=2, cache=str(cache))
    _write(folder / "a" / "0.png", np.full((6, 7, 3), 200, np.uint8))  # changed in place
    with pytest.warns(UserWarning, match="rebuilding the cache file") as caught:
        make_pipeline(str(folder), image_size=(6, 6), batch_size=2, cache=str(cache))
    rebuilt = [w for w in caught if "rebuilding the cache" in str(w.message)]
    assert rebuilt and all(w.filename == __file__ for w in rebuilt)


def test_warn_user_skips_every_frame_inside_the_package():
    with pytest.warns(UserWarning, match="hello") as caught:
        warn_user("hello")
    assert caught[0].filename == __file__
