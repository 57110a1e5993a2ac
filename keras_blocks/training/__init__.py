"""Training techniques that work with any Keras model: weight averaging, test-time views,
the dtype policy that pays on this machine."""

from keras_blocks.training.ema import WeightEMA
from keras_blocks.training.precision import fast_precision
from keras_blocks.training.tta import predict_tta, tta_views

__all__: list[str] = ["WeightEMA", "fast_precision", "predict_tta", "tta_views"]
