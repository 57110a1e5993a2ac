"""keras_blocks: reusable convolutional blocks, heads, augmentation and input pipelines.

Everything public is defined in a subpackage and re-exported here, so users write
`from keras_blocks import ConvBlock, DenseHead`. Nothing is defined in this file.
"""

from keras_blocks import augment, blocks, data, heads, models, registry, training, viz
from keras_blocks.augment import *
from keras_blocks.blocks import *
from keras_blocks.data import *
from keras_blocks.heads import *
from keras_blocks.models import *
from keras_blocks.training import *
from keras_blocks.viz import *

__version__ = "0.1.0"

__all__ = [
    *blocks.__all__,
    *heads.__all__,
    *models.__all__,
    *augment.__all__,
    *data.__all__,
    *training.__all__,
    *viz.__all__,
]
