"""Builders: custom convnets stacked from blocks, published architectures, classifiers."""

from keras_blocks.models.conv_net import build_conv_net, course_conv_net, make_block_specs
from keras_blocks.models.mobilenet_v2 import mobilenet_v2_base
from keras_blocks.models.squeezenet import squeezenet_base

__all__: list[str] = [
    "build_conv_net",
    "course_conv_net",
    "make_block_specs",
    "mobilenet_v2_base",
    "squeezenet_base",
]
