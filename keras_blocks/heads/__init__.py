"""Dense heads: the classifying half of a convolutional classifier."""

from keras_blocks.heads.dense_head import DenseHead

__all__ = ["DenseHead"]
