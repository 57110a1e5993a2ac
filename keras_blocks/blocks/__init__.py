"""Convolutional blocks: one public layer per module."""

from keras_blocks.blocks.conv_block import ConvBlock

__all__ = ["ConvBlock"]
