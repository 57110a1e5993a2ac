"""Augmentation layers: per-sample random transforms computed for the whole batch."""

__all__: list[str] = []
