"""Builders: custom convnets stacked from blocks, published architectures, classifiers."""

from keras_blocks.models.conv_net import build_conv_net, course_conv_net, make_block_specs

__all__: list[str] = [
    "build_conv_net",
    "course_conv_net",
    "make_block_specs",
]
