"""Builders: custom convnets stacked from blocks, published architectures, classifiers."""

from keras_blocks.models.classifier import Classifier, build_classifier, compile_classifier
from keras_blocks.models.conv_net import build_conv_net, course_conv_net, make_block_specs
from keras_blocks.models.convnext import convnext_tiny_base
from keras_blocks.models.efficientnet import efficientnet_b0_base
from keras_blocks.models.efficientnet_v2 import efficientnet_v2_b0_base
from keras_blocks.models.inference_mode import InferenceMode
from keras_blocks.models.mobilenet_v2 import mobilenet_v2_base
from keras_blocks.models.mobilenet_v3 import mobilenet_v3_small_base
from keras_blocks.models.preprocessing import ImagePreprocessing
from keras_blocks.models.pretrained import BaseSpec, pretrained_base, register_base
from keras_blocks.models.resnet50 import resnet50_base
from keras_blocks.models.squeezenet import squeezenet_base
from keras_blocks.models.tuning import find_base, fine_tune, set_trainable, unfreeze_top
from keras_blocks.models.vgg16 import vgg16_base
from keras_blocks.models.zoo import create, create_model, list_models

# `create` is `create_model` under the short name `keras_blocks.models.create`; only the
# long name is re-exported at the top level (next to `keras_blocks.registry.create`).

__all__: list[str] = [
    "BaseSpec",
    "Classifier",
    "ImagePreprocessing",
    "InferenceMode",
    "build_classifier",
    "build_conv_net",
    "compile_classifier",
    "convnext_tiny_base",
    "course_conv_net",
    "create_model",
    "efficientnet_b0_base",
    "efficientnet_v2_b0_base",
    "find_base",
    "fine_tune",
    "list_models",
    "make_block_specs",
    "mobilenet_v2_base",
    "mobilenet_v3_small_base",
    "pretrained_base",
    "register_base",
    "resnet50_base",
    "set_trainable",
    "squeezenet_base",
    "unfreeze_top",
    "vgg16_base",
]
