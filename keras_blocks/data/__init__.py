"""Input pipelines: tf.data datasets of (images, labels) ready for model.fit."""

__all__: list[str] = []
