"""Augmentation layers: per-sample random transforms computed for the whole batch."""

from keras_blocks.augment import presets  # registers the named presets
from keras_blocks.augment._base import AugmentationLayer
from keras_blocks.augment.affine import AffineLayer, GeometricLayer
from keras_blocks.augment.cut_mix import CutMix
from keras_blocks.augment.keras_cv_adapter import KerasCVLayer
from keras_blocks.augment.mix_up import MixUp
from keras_blocks.augment.pipeline import Pipeline
from keras_blocks.augment.rand_augment import RandAugment
from keras_blocks.augment.random_brightness import RandomBrightness
from keras_blocks.augment.random_contrast import RandomContrast
from keras_blocks.augment.random_erasing import RandomErasing
from keras_blocks.augment.random_flip import RandomFlip
from keras_blocks.augment.random_resized_crop import RandomResizedCrop
from keras_blocks.augment.random_rotation import RandomRotation
from keras_blocks.augment.random_shear import RandomShear
from keras_blocks.augment.random_translation import RandomTranslation
from keras_blocks.augment.random_width import RandomWidth
from keras_blocks.augment.random_zoom import RandomZoom

__all__: list[str] = [
    "AffineLayer",
    "AugmentationLayer",
    "CutMix",
    "GeometricLayer",
    "KerasCVLayer",
    "MixUp",
    "Pipeline",
    "RandAugment",
    "RandomBrightness",
    "RandomContrast",
    "RandomErasing",
    "RandomFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomShear",
    "RandomTranslation",
    "RandomWidth",
    "RandomZoom",
]
