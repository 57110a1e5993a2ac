"""Training techniques that work with any Keras model: weight averaging, test-time views."""

from keras_blocks.training.ema import WeightEMA
from keras_blocks.training.tta import predict_tta, tta_views

__all__: list[str] = ["WeightEMA", "predict_tta", "tta_views"]
