"""Input pipelines: tf.data datasets of (images, labels) ready for model.fit."""

from keras_blocks.data._cifar import make_car_truck_from_cifar10
from keras_blocks.data.benchmark import benchmark_pipeline, trace_pipeline
from keras_blocks.data.pipeline import make_pipeline
from keras_blocks.data.synthetic import make_synthetic_car_truck

__all__: list[str] = [
    "benchmark_pipeline",
    "make_car_truck_from_cifar10",
    "make_pipeline",
    "make_synthetic_car_truck",
    "trace_pipeline",
]
