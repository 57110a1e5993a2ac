"""Plots: feature maps, augmentation grids, learning curves, pipeline timelines.

matplotlib is imported inside the functions, so `import keras_blocks` stays light.
"""

__all__: list[str] = []
