"""Convolutional blocks: one public layer per module."""

from keras_blocks.blocks.conv_block import ConvBlock
from keras_blocks.blocks.convnext_block import ConvNeXtBlock
from keras_blocks.blocks.fire_block import FireBlock
from keras_blocks.blocks.inverted_residual import InvertedResidual
from keras_blocks.blocks.patch_whitening import PatchWhitening
from keras_blocks.blocks.residual_block import ResidualBlock
from keras_blocks.blocks.squeeze_excite import SqueezeExcite
from keras_blocks.blocks.stochastic_depth import StochasticDepth

__all__ = [
    "ConvBlock",
    "ConvNeXtBlock",
    "FireBlock",
    "InvertedResidual",
    "PatchWhitening",
    "ResidualBlock",
    "SqueezeExcite",
    "StochasticDepth",
]
