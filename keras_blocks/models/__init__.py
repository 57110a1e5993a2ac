"""Builders: custom convnets stacked from blocks, published architectures, classifiers."""

__all__: list[str] = []
