"""Convolutional blocks: one public layer per module."""

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.stochastic_depth import StochasticDepth

__all__ = ["ConvBlock", "StochasticDepth"]
