"""What the example trains: the data and weights it finds, and its recipes as dataclasses.

A recipe holds every setting of one training run. The presets are the two sizes the
command line offers: `quick` (the default, a few minutes on 2 CPU cores) and `full`
(the measured accuracy recipes; their figures are in docs/examples/car-or-truck.md).
Flags such as `--epochs` replace a preset's field (`dataclasses.replace`).
"""

from __future__ import annotations

import dataclasses
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data" / "cifar10-car-truck"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_no_top.weights.h5"
CLASS_NAMES = ("Car", "Truck")
MODELS = ("custom", "transfer")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
SYNTHETIC_IMAGES_PER_CLASS = {"quick": 300, "full": 1500}
HEAD_LEARNING_RATE = 1e-3  # phase 1 of transfer learning


@dataclasses.dataclass(frozen=True)
class CustomRecipe:
    """The convnet trained from scratch: patch whitening, then one pool-first
    `ConvBlock(repeats=2)` stage per width, a max-pooling `DenseHead`; SGD with Nesterov
    momentum on a warmed-up cosine schedule, label smoothing. With `ema_decay`, a
    `WeightEMA` of the weights is validated each epoch and is the model kept at the end;
    `erasing` is the probability of a `RandomErasing` patch in the augmentation;
    `precision` a Keras dtype policy or `"auto"` (`keras_blocks.fast_precision`)."""

    image_size: int
    epochs: int
    widths: tuple[int, ...]
    batch_size: int
    learning_rate: float
    label_smoothing: float
    seed: int = 0
    ema_decay: float | None = None
    erasing: float = 0.0
    precision: str = "float32"  # a Keras dtype policy, or "auto": fast_precision()


@dataclasses.dataclass(frozen=True)
class TransferRecipe:
    """MobileNetV2 (ImageNet weights) with a `DenseHead`: `head_epochs` on the frozen
    base, then `epochs` of fine-tuning the top `unfreeze` blocks (`None`: all) with a
    warmed-up cosine schedule; batch norm stays in inference mode. `precision` as in
    `CustomRecipe` (float32 here: MobileNetV2 runs slower in bfloat16 on CPU)."""

    image_size: int
    head_epochs: int
    epochs: int
    batch_size: int
    learning_rate: float
    unfreeze: int | None
    seed: int = 0
    weights: str | None = None  # None (random), "imagenet" or a file path
    weights_label: str = "random weights"
    precision: str = "float32"  # a Keras dtype policy, or "auto": fast_precision()


PRESETS = {
    "quick": {
        "custom": CustomRecipe(image_size=32, epochs=3, widths=(16, 48, 48), batch_size=128,
                               learning_rate=0.1, label_smoothing=0.1),
        "transfer": TransferRecipe(image_size=64, head_epochs=1, epochs=1, batch_size=64,
                                   learning_rate=3e-4, unfreeze=4),
    },
    "full": {
        # Sized to train in no more time than the course's own from-scratch recipe on
        # the same machine (benchmarks/course_recipe.py measures both): mixed bfloat16
        # where the CPU multiplies it natively (1.5x a step), a weight EMA, random
        # erasing against overfitting 8,000 photos.
        "custom": CustomRecipe(image_size=32, epochs=26, widths=(48, 128, 128),
                               batch_size=128, learning_rate=0.1, label_smoothing=0.1,
                               ema_decay=0.99, erasing=0.5, precision="auto"),
        # ImageNet features need the objects near their ImageNet scale: upscale 6x
        # (192 px: 0.9698 over 3 seeds against 0.9668 at 160 px, same epochs).
        # 1 + 5 epochs: well under the training time of the earlier 1 + 12 at 160 px
        # (benchmarks/transfer_budget.py); float32, as MobileNetV2's depthwise
        # convolutions run slower in bfloat16 on CPU (benchmarks/precision.py).
        "transfer": TransferRecipe(image_size=192, head_epochs=1, epochs=5, batch_size=64,
                                   learning_rate=3e-4, unfreeze=None),
    },
}
