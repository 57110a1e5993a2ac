"""`weights="imagenet"` without network: a clear error saying how to pass a local file.

Nothing here touches the network: the download function is replaced by one that fails
the way `keras.utils.get_file` does offline (a bare `Exception("URL fetch failure ...")`).
"""

import keras
import keras.src.utils.file_utils as keras_file_utils
import pytest

from keras_blocks import pretrained_base
from keras_blocks.models import _pretrained
from keras_blocks.models.mobilenet_v2 import mobilenet_v2_base
from keras_blocks.models.pretrained import WeightsDownloadError
from keras_blocks.models.squeezenet import squeezenet_base

OFFLINE = (
    "URL fetch failure on https://storage.googleapis.com/tensorflow/keras-applications/"
    "mobilenet_v2/weights.h5: None -- [Errno -3] Temporary failure in name resolution"
)


def _offline(*args, **kwargs):
    raise Exception(OFFLINE)  # what get_file raises for a urllib.error.URLError


@pytest.fixture
def offline(monkeypatch):
    # keras_blocks' own builders call keras.utils.get_file; keras.applications calls the
    # function in keras.src.utils.file_utils.
    monkeypatch.setattr(keras.utils, "get_file", _offline)
    monkeypatch.setattr(keras_file_utils, "get_file", _offline)


def _assert_clear(error, owner):
    message = str(error.value)
    assert message.startswith(owner)
    assert "could not be downloaded" in message
    assert "Temporary failure in name resolution" in message  # the reason is kept
    assert 'weights="/path/to/file.h5"' in message and "weights=None" in message
    assert isinstance(error.value, OSError)
    assert isinstance(error.value.__cause__, Exception)


@pytest.mark.parametrize(
    ("build", "owner"),
    [
        (lambda: mobilenet_v2_base((32, 32, 3), weights="imagenet"), "mobilenet_v2_base"),
        (lambda: squeezenet_base((32, 32, 3), weights="imagenet"), "squeezenet_base"),
        (lambda: pretrained_base("squeezenet", input_shape=(32, 32, 3)), "squeezenet_base"),
        (lambda: pretrained_base("mobilenet_v2", input_shape=(32, 32, 3)),
         "pretrained_base('mobilenet_v2')"),
    ],
    ids=["mobilenet_v2_base", "squeezenet_base", "pretrained_base-squeezenet",
         "pretrained_base-keras-applications"],
)
def test_offline_imagenet_download_says_what_to_do(offline, build, owner):
    with pytest.raises(WeightsDownloadError) as error:
        build()
    _assert_clear(error, owner)


def test_http_and_network_errors_count_as_download_failures():
    import urllib.error

    assert _pretrained.is_download_error(urllib.error.URLError("no route"))
    assert _pretrained.is_download_error(ConnectionResetError())
    assert _pretrained.is_download_error(Exception("URL fetch failure on x: 404 -- Not Found"))
    assert _pretrained.is_download_error(ValueError("Incomplete or corrupted file detected."))
    # Anything else passes through unchanged.
    assert not _pretrained.is_download_error(ValueError("alpha must be 1.0"))


def test_other_errors_are_not_disguised_as_download_failures(monkeypatch):
    def bad_alpha():
        raise ValueError("mobilenet_v2_base: ImageNet weights exist only for alpha in ...")

    with pytest.raises(ValueError, match="only for alpha"):
        _pretrained.resolve_weights("mobilenet_v2_base", "imagenet", bad_alpha)
