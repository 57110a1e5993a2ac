"""Convolutional blocks: one public layer per module."""

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.convnext_block import ConvNeXtBlock
from keras_blocks.blocks.residual_block import ResidualBlock
from keras_blocks.blocks.stochastic_depth import StochasticDepth

__all__ = ["ConvBlock", "ConvNeXtBlock", "ResidualBlock", "StochasticDepth"]
