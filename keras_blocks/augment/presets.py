"""Named augmentation presets, registered in the "preset" registry.

`Pipeline.from_preset(name)` or `registry.create("preset", name)` builds them; a plugin
adds its own with `registry.register("preset", "my_preset", factory)`.
"""

from __future__ import annotations

from keras_blocks import registry
from keras_blocks.augment.pipeline import Pipeline
from keras_blocks.augment.rand_augment import RandAugment
from keras_blocks.augment.random_brightness import RandomBrightness
from keras_blocks.augment.random_contrast import RandomContrast
from keras_blocks.augment.random_erasing import RandomErasing
from keras_blocks.augment.random_flip import RandomFlip
from keras_blocks.augment.random_rotation import RandomRotation
from keras_blocks.augment.random_translation import RandomTranslation
from keras_blocks.augment.random_width import RandomWidth
from keras_blocks.augment.random_zoom import RandomZoom


def _seeds(seed, n):
    return [None if seed is None else seed + i for i in range(n)]


@registry.register("preset", "course")
def course(seed=None, value_range=(0, 255), **kwargs):
    """The course's stack: contrast 0.1, horizontal flip, rotation 0.1 (36 degrees),
    translation 0.1, width stretch 0.15. The four geometric layers fuse."""
    s = _seeds(seed, 5)
    return Pipeline([
        RandomContrast(0.1, value_range=value_range, seed=s[0]),
        RandomFlip("horizontal", seed=s[1]),
        RandomRotation(0.1, seed=s[2]),
        RandomTranslation(0.1, 0.1, seed=s[3]),
        RandomWidth(0.15, seed=s[4]),
    ], **kwargs)


@registry.register("preset", "light")
def light(seed=None, value_range=(0, 255), **kwargs):
    """Horizontal flip and a small shift (5%): safe for almost any photo dataset."""
    del value_range  # geometric only
    s = _seeds(seed, 2)
    return Pipeline([RandomFlip("horizontal", seed=s[0]),
                     RandomTranslation(0.05, 0.05, seed=s[1])], **kwargs)


@registry.register("preset", "medium")
def medium(seed=None, value_range=(0, 255), **kwargs):
    """Horizontal flip, rotation 0.05, zoom 0.1, translation 0.1 (fused), then
    brightness 0.1 and contrast 0.2."""
    s = _seeds(seed, 6)
    return Pipeline([
        RandomFlip("horizontal", seed=s[0]),
        RandomRotation(0.05, seed=s[1]),
        RandomZoom(0.1, seed=s[2]),
        RandomTranslation(0.1, 0.1, seed=s[3]),
        RandomBrightness(0.1, value_range=value_range, seed=s[4]),
        RandomContrast(0.2, value_range=value_range, seed=s[5]),
    ], **kwargs)


@registry.register("preset", "heavy")
def heavy(seed=None, value_range=(0, 255), **kwargs):
    """Horizontal flip, RandAugment (2 ops, magnitude up to 0.5) and random erasing
    (p=0.25)."""
    s = _seeds(seed, 3)
    return Pipeline([
        RandomFlip("horizontal", seed=s[0]),
        RandAugment(value_range, num_ops=2, factor=0.5, seed=s[1]),
        RandomErasing(0.25, value_range=value_range, seed=s[2]),
    ], **kwargs)
