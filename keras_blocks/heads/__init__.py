"""Dense heads: the classifying half of a convolutional classifier."""

__all__: list[str] = []
