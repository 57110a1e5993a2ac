"""Checks of a written figure: a real PNG, of the expected size, with something drawn on it."""

from __future__ import annotations

import os
import pathlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_figure(path, *, size=None, min_size=(100, 100), min_colours=16,
                  max_background=0.995):
    """Asserts that `path` is a valid, non-blank PNG image; returns it as an RGB image.

    Args:
        path: the file to check.
        size: the exact `(width, height)` in pixels, or `None` to check only `min_size`
            (figures saved with `bbox_inches="tight"` have no exact size).
        min_size: the smallest acceptable `(width, height)`.
        min_colours: the fewest distinct colours a drawing has (a blank image has one;
            a plot with anti-aliased lines and text has hundreds).
        max_background: the largest fraction of pixels the commonest colour (the
            background) may cover.
    """
    from PIL import Image

    path = pathlib.Path(os.fspath(path))
    assert path.is_file(), f"{path} was not written"
    with path.open("rb") as file:
        assert file.read(8) == PNG_SIGNATURE, f"{path} is not a PNG file"
    try:
        with Image.open(path) as image:
            assert image.format == "PNG", f"{path} is {image.format}, not PNG"
            image.verify()  # the chunks' checksums
        with Image.open(path) as image:
            rgb = image.convert("RGB")  # decodes every pixel: a truncated file fails here
    except (OSError, SyntaxError, ValueError) as error:
        raise AssertionError(f"{path} is not a valid PNG: {error}") from error
    width, height = rgb.size
    if size is not None:
        assert (width, height) == tuple(size), f"{path} is {width}x{height}, not {size}"
    assert width >= min_size[0] and height >= min_size[1], (
        f"{path} is {width}x{height}, smaller than {min_size}"
    )
    colours = rgb.getcolors(maxcolors=width * height)
    assert len(colours) >= min_colours, (
        f"{path} looks blank: {len(colours)} distinct colour(s), fewer than {min_colours}"
    )
    background = max(count for count, _ in colours) / (width * height)
    assert background <= max_background, (
        f"{path} looks blank: one colour covers {background:.2%} of it"
    )
    return rgb
