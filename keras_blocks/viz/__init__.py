"""Plots: feature maps, augmentation grids, learning curves, pipeline timelines.

matplotlib is imported inside the functions, so `import keras_blocks` stays light.
"""

from keras_blocks.viz.augmentations import show_augmentations
from keras_blocks.viz.features import feature_layers, plot_feature_maps
from keras_blocks.viz.timeline import plot_timeline
from keras_blocks.viz.training import (
    confusion_matrix,
    plot_confusion_matrix,
    plot_learning_curves,
    plot_predictions,
)

__all__: list[str] = [
    "confusion_matrix",
    "feature_layers",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_learning_curves",
    "plot_predictions",
    "plot_timeline",
    "show_augmentations",
]
