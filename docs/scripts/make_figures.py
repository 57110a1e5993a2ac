"""Draws every figure of the tutorials from keras_blocks itself, into docs/images/.

    python docs/scripts/make_figures.py              # all figures
    python docs/scripts/make_figures.py relu pooling # some of them
    python docs/scripts/make_figures.py --out /tmp/figs

Each figure runs real keras_blocks layers (a `ConvBlock` with a hand-set kernel, its
pooling, gradients through stacked blocks) on a real photo from
`../shared/data/cifar10-car-truck`, so the pictures show what the library computes.
Outputs are small PNGs (they are committed; `tests/test_docs.py` checks the sizes).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("KERAS_BLOCKS_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data" / "cifar10-car-truck" / "train"
IMAGES = REPO / "docs" / "images"
DPI = 72

# One kernel per "feature" the convolution tutorial talks about.
KERNELS = {
    "horizontal edges": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "vertical edges": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
}


def _photo(cls: str = "Car", index: int = 1, size: int = 64):
    """A real car (or truck) photo, grayscale in [0, 1], upsampled for legibility."""
    import numpy as np
    from PIL import Image

    folder = DATA / cls
    if not folder.is_dir():
        sys.exit(f"make_figures: {folder} is missing; the figures are drawn from the real data.")
    path = sorted(folder.iterdir())[index]
    image = Image.open(path).convert("L").resize((size, size), Image.LANCZOS)
    return np.asarray(image, "float32")[None, :, :, None] / 255.0


def _filter_block(kernel, activation, pool=None):
    """A one-filter `ConvBlock` whose kernel we set by hand (what training would learn)."""
    import numpy as np

    from keras_blocks import ConvBlock

    # "valid" padding keeps the zero border (a strong false edge) out of the pictures.
    block = ConvBlock(1, kernel_size=3, activation=activation, pool=pool, use_bias=False,
                      padding="valid")
    block.build((None, None, None, 1))
    block.convs[0].kernel.assign(np.asarray(kernel, "float32")[:, :, None, None])
    return block


def _save(fig, out: pathlib.Path) -> None:
    """Saves as a 256-colour PNG: a third of the bytes, no visible difference."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    plt.close(fig)
    image = Image.open(buffer).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    image.save(out, optimize=True)


def _axes_off(axes):
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])


def fig_convolution_relu(out: pathlib.Path) -> None:
    """Image -> kernel -> feature map (linear) -> ReLU, for three kernels."""
    import matplotlib.pyplot as plt
    import numpy as np

    image = _photo()
    fig, axes = plt.subplots(len(KERNELS), 4, figsize=(8, 2.1 * len(KERNELS)))
    for row, (name, kernel) in enumerate(KERNELS.items()):
        linear = np.asarray(_filter_block(kernel, None)(image))[0, :, :, 0]
        relu = np.asarray(_filter_block(kernel, "relu")(image))[0, :, :, 0]
        axes[row, 0].imshow(image[0, :, :, 0], cmap="gray")
        axes[row, 1].imshow(np.asarray(kernel), cmap="RdBu_r", vmin=-8, vmax=8)
        for r in range(3):
            for c in range(3):
                value = int(kernel[r][c])
                axes[row, 1].text(c, r, value, ha="center", va="center", fontsize=9,
                                  color="white" if abs(value) > 4 else "black")
        bound = np.percentile(np.abs(linear), 99)
        axes[row, 2].imshow(linear, cmap="RdBu_r", vmin=-bound, vmax=bound)
        axes[row, 3].imshow(relu, cmap="magma", vmin=0, vmax=bound)
        axes[row, 1].set_ylabel(name)
    for col, title in enumerate(["image", "kernel", "convolution", "ReLU"]):
        axes[0, col].set_title(title)
    _axes_off(axes)
    _save(fig, out)


def fig_max_pooling(out: pathlib.Path) -> None:
    """ReLU feature map, then one and two 2x2 max poolings (same block, pool="max")."""
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    image = _photo()
    kernel = KERNELS["horizontal edges"]
    relu = np.asarray(_filter_block(kernel, "relu")(image))
    pooled = np.asarray(_filter_block(kernel, "relu", pool="max")(image))
    twice = np.asarray(keras.layers.MaxPooling2D(2)(pooled))
    fig, axes = plt.subplots(1, 3, figsize=(8, 3.2))
    bound = np.percentile(relu, 99)
    for ax, data, title in zip(
        axes,
        (relu, pooled, twice),
        ("after ReLU", "max pool 2x2", "max pool again"),
        strict=True,
    ):
        ax.imshow(data[0, :, :, 0], cmap="magma", vmin=0, vmax=bound)
        ax.set_title(f"{title}\n{data.shape[1]}x{data.shape[2]}")
    _axes_off(axes)
    _save(fig, out)


def fig_translation_invariance(out: pathlib.Path) -> None:
    """Two dots one pixel apart become the same after two max poolings."""
    import matplotlib.pyplot as plt
    import numpy as np

    from keras_blocks import ConvBlock

    first = np.zeros((1, 8, 8, 1), "float32")
    first[0, 2, 1, 0] = 1.0
    second = np.roll(first, 1, axis=2)
    pool = ConvBlock(1, kernel_size=1, activation=None, use_bias=False, pool="max",
                     kernel_initializer="ones")
    pool_twice = ConvBlock(1, kernel_size=1, activation=None, use_bias=False, pool="max",
                           kernel_initializer="ones")
    fig, axes = plt.subplots(2, 3, figsize=(6.2, 4.3))
    for row, image in enumerate((first, second)):
        once = np.asarray(pool(image))
        twice = np.asarray(pool_twice(once))
        for col, data in enumerate((image, once, twice)):
            axes[row, col].imshow(data[0, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
            axes[row, col].set_title(f"{data.shape[1]}x{data.shape[2]}", fontsize=9)
    axes[0, 0].set_ylabel("dot")
    axes[1, 0].set_ylabel("dot moved 1 px")
    _axes_off(axes)
    _save(fig, out)


def fig_stride_padding(out: pathlib.Path) -> None:
    """The same 3x3 filter with different strides and paddings: output sizes."""
    import matplotlib.pyplot as plt
    import numpy as np

    image = _photo(size=64)
    kernel = KERNELS["outline"]
    configs = [(1, "valid"), (1, "same"), (2, "same"), (3, "same")]
    bound = None
    fig, axes = plt.subplots(1, len(configs), figsize=(9, 2.8))
    for ax, (stride, padding) in zip(axes, configs, strict=True):
        from keras_blocks import ConvBlock

        block = ConvBlock(1, kernel_size=3, strides=stride, padding=padding, pool=None,
                          use_bias=False)
        block.build((None, None, None, 1))
        block.convs[0].kernel.assign(np.asarray(kernel, "float32")[:, :, None, None])
        data = np.asarray(block(image))
        # One colour scale for all four, from the interior: the bright frame of the
        # "same" maps is the zero padding read as an edge.
        bound = bound if stride > 1 or padding == "same" else np.percentile(data, 99)
        ax.imshow(data[0, :, :, 0], cmap="magma", extent=(0, 64, 64, 0), vmin=0, vmax=bound)
        ax.set_title(f"strides={stride}, {padding}\n{data.shape[1]}x{data.shape[2]}", fontsize=10)
    _axes_off(axes)
    _save(fig, out)


def receptive_field(blocks, size: int = 33):
    """The input pixels that reach the centre output, found by differentiating through
    `blocks` (a list of keras_blocks layers): the mask of non-zero input gradients."""
    import keras
    import numpy as np
    import tensorflow as tf

    model = keras.Sequential([keras.Input((size, size, 1)), *blocks])
    # Positive weights so no gradient cancels out; the ReLU is kept out of the way by
    # feeding ones (every unit is active).
    for weight in model.weights:
        weight.assign(np.ones(weight.shape, "float32"))
    x = tf.ones((1, size, size, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
        centre = y[0, y.shape[1] // 2, y.shape[2] // 2, 0]
    grad = tape.gradient(centre, x).numpy()[0, :, :, 0]
    return grad != 0


def fig_receptive_field(out: pathlib.Path) -> None:
    """Receptive field of one output unit after stacking 3x3 blocks, with and without
    pooling, computed from gradients. (Average pooling stands in for max pooling: same
    window, but its gradient reaches every pixel of the window, not only the maximum.)"""
    import matplotlib.pyplot as plt
    import numpy as np

    from keras_blocks import ConvBlock

    def conv(pool):
        return ConvBlock(1, kernel_size=3, pool=pool, use_bias=False, activation="relu")

    cases = {
        "1 conv": [conv(None)],
        "2 convs": [conv(None), conv(None)],
        "3 convs": [conv(None), conv(None), conv(None)],
        "(conv, pool) x2, conv": [conv("avg"), conv("avg"), conv(None)],
    }
    fig, axes = plt.subplots(1, len(cases), figsize=(9, 2.8))
    for ax, (title, blocks) in zip(axes, cases.items(), strict=True):
        mask = receptive_field(blocks)
        rows = np.where(mask.any(1))[0]
        side = rows.max() - rows.min() + 1
        ax.imshow(mask, cmap="Blues", vmin=0, vmax=1.3)
        ax.set_title(f"{title}\n{side}x{side} pixels", fontsize=10)
    _axes_off(axes)
    _save(fig, out)


def fig_samples(out: pathlib.Path) -> None:
    """A few real training photos of each class (32x32, as stored)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    n = 6
    fig, axes = plt.subplots(2, n, figsize=(8, 3))
    for row, cls in enumerate(("Car", "Truck")):
        paths = sorted((DATA / cls).iterdir())[:n]
        for ax, path in zip(axes[row], paths, strict=True):
            ax.imshow(Image.open(path))
        axes[row, 0].set_ylabel(cls)
    _axes_off(axes)
    _save(fig, out)


def _photo_rgb(cls: str, index: int, size: int):
    import numpy as np
    from PIL import Image

    path = sorted((DATA / cls).iterdir())[index]
    image = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    return np.asarray(image, "float32")


def fig_pretrained_feature_maps(out: pathlib.Path) -> None:
    """What a pretrained MobileNetV2 base sees in a truck photo (`plot_feature_maps`)."""
    import matplotlib.pyplot as plt

    from keras_blocks import plot_feature_maps, pretrained_base

    weights = SHARED / "weights" / "mobilenet_v2_1.0_no_top.weights.h5"
    base = pretrained_base("mobilenet_v2", weights=str(weights), input_shape=(96, 96, 3))
    fig = plot_feature_maps(base, _photo_rgb("Truck", 1, 96), n_layers=3, channels=6)
    fig.set_size_inches(8, 5.2)
    _save(fig, out)
    plt.close("all")


def fig_learning_curves(out: pathlib.Path) -> None:
    """Learning curves of the course's three-block convnet (no normalization, as in the
    course) trained from scratch on 2,000 real training photos at 32x32 for 10 epochs,
    validated on 1,000 validation photos."""
    import keras
    import numpy as np

    from keras_blocks import ConvBlock, DenseHead, plot_learning_curves

    def load(split, per_class):
        images, labels = [], []
        for label, cls in enumerate(("Car", "Truck")):
            folder = DATA.parent / split / cls
            for path in sorted(folder.iterdir())[:per_class]:
                images.append(np.asarray(keras.utils.load_img(path), "float32"))
                labels.append(label)
        return np.stack(images), np.asarray(labels, "float32")

    x_train, y_train = load("train", 1000)
    x_valid, y_valid = load("valid", 500)
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Rescaling(1 / 255),
        ConvBlock(32),
        ConvBlock(64, repeats=2),
        ConvBlock(128, repeats=2),
        DenseHead(num_classes=1, units=(64,), dropout=0.3),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["binary_accuracy"])
    history = model.fit(x_train, y_train, validation_data=(x_valid, y_valid), epochs=10,
                        batch_size=32, verbose=0)
    fig = plot_learning_curves(history, title="ConvBlock x3 + DenseHead, 2,000 photos")
    fig.set_size_inches(8, 3.2)
    _save(fig, out)


FIGURES = {
    "car-truck-samples": fig_samples,
    "convolution-relu": fig_convolution_relu,
    "max-pooling": fig_max_pooling,
    "translation-invariance": fig_translation_invariance,
    "stride-padding": fig_stride_padding,
    "receptive-field": fig_receptive_field,
    "pretrained-feature-maps": fig_pretrained_feature_maps,
    "learning-curves": fig_learning_curves,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"figures to draw: {', '.join(FIGURES)}")
    parser.add_argument("--out", type=pathlib.Path, default=IMAGES, help="output folder")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; valid: {', '.join(FIGURES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    import keras

    for name in args.names or FIGURES:
        keras.utils.set_random_seed(0)
        path = args.out / f"{name}.png"
        FIGURES[name](path)
        print(f"{path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
