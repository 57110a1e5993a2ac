"""The course's grid of augmented copies of one image."""

from __future__ import annotations

import math

import numpy as np

from keras_blocks import _validation as check


def show_augmentations(layer, image, n=16, *, columns=None, value_range=(0, 255), path=None,
                       title=None, figsize=None):
    """Draws `n` augmented copies of one image in a grid (the course's 4x4 figure).

    The image is repeated `n` times and augmented as ONE batch (`training=True`), so
    the grid shows what per-sample randomness gives a single batch.

    Args:
        layer: an augmentation layer or pipeline (any callable `images -> images` that
            takes `training`).
        image: one image `(height, width, channels)`, uint8 or float.
        n: how many copies (int >= 1), default 16.
        columns: grid columns, default `ceil(sqrt(n))`.
        value_range: `(low, high)` of the pixel values, to scale them for display.
        path: save the figure there (PNG, SVG, ... by extension); `None` to not save.
        title: optional figure title.
        figsize: matplotlib figure size, default 2 inches per cell.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: `n` < 1, or `image` is not one image.

    Example:
        ```python
        import numpy as np
        from keras_blocks.augment import Pipeline
        from keras_blocks.viz import show_augmentations

        image = np.random.randint(0, 256, (32, 32, 3), dtype="uint8")
        figure = show_augmentations(Pipeline.from_preset("course"), image, path="grid.png")
        ```
    """
    import keras
    import matplotlib.pyplot as plt

    n = check.positive_int("show_augmentations", "n", n)
    low, high = check.value_range("show_augmentations", "value_range", value_range)
    image = np.asarray(keras.ops.convert_to_numpy(image))
    if image.ndim != 3:
        raise ValueError("show_augmentations: `image` must be one image (height, width, "
                         f"channels); got shape {image.shape}.")
    columns = check.positive_int("show_augmentations", "columns",
                                 columns or math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    batch = np.repeat(image[None], n, axis=0)
    out = np.asarray(keras.ops.convert_to_numpy(layer(batch, training=True)), "float32")
    out = np.clip((out - low) / (high - low), 0.0, 1.0)
    figure, axes = plt.subplots(rows, columns, figsize=figsize or (2 * columns, 2 * rows),
                                squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < n:
            picture = out[index]
            ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture,
                      cmap="gray" if picture.shape[-1] == 1 else None, vmin=0, vmax=1)
            ax.axis("off")
        else:
            figure.delaxes(ax)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure
