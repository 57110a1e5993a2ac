"""keras_blocks: reusable convolutional blocks, heads, augmentation and input pipelines.

Everything public is defined in a subpackage and re-exported here, so users write
`from keras_blocks import ConvBlock, DenseHead`.
"""

from keras_blocks import blocks, registry
from keras_blocks.blocks import *

__version__ = "0.1.0"

__all__ = [
    *blocks.__all__,
]
