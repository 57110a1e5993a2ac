"""tests/figures.assert_figure: the figure checks of the other tests can fail."""

import numpy as np
import pytest
from PIL import Image

from tests.figures import assert_figure


def _plot(path, size=(300, 200)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(size[0] / 100, size[1] / 100))
    ax.plot([0, 1, 2], [2, 0, 1])
    ax.set_title("a plot")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _blank(path):
    Image.new("RGB", (300, 200), "white").save(path)


def _one_dot(path):
    pixels = np.full((200, 300, 3), 255, np.uint8)
    pixels[100:104, 150:154] = 9  # 16 of 60,000 pixels
    Image.fromarray(pixels).save(path)


def _truncated(path):
    data = _plot(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_real_plot_passes(tmp_path):
    image = assert_figure(_plot(tmp_path / "plot.png"), size=(300, 200), min_size=(300, 200))
    assert image.size == (300, 200) and image.mode == "RGB"


@pytest.mark.parametrize(
    "write, kwargs, message",
    [
        (lambda path: None, {}, "was not written"),
        (_blank, {}, "looks blank: 1 distinct colour(s)"),
        (_one_dot, {"min_colours": 2}, "looks blank: one colour covers 99.97%"),
        (_truncated, {}, "is not a valid PNG"),
        (lambda path: Image.new("RGB", (300, 200)).save(path, "JPEG"), {}, "is not a PNG file"),
        (_plot, {"size": (300, 201)}, "is 300x200, not (300, 201)"),
        (lambda path: _plot(path, (300, 100)), {"min_size": (100, 150)},
         "smaller than (100, 150)"),
    ],
    ids=["missing", "blank", "one-dot", "truncated", "jpeg", "wrong-size", "too-small"],
)
def test_bad_figures_fail(tmp_path, write, kwargs, message):
    path = tmp_path / "figure.png"
    write(path)
    with pytest.raises(AssertionError) as error:
        assert_figure(path, **kwargs)
    assert message in str(error.value)
