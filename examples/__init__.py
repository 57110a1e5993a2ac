"""Runnable examples built on keras_blocks (run them with `python -m examples.NAME`)."""
