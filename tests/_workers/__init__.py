"""Subprocess entry points for the scale-out tests (tests/test_distribute.py).

Each one must start in a fresh interpreter: logical devices, `TF_CONFIG`, `XLA_FLAGS`
and `KERAS_BACKEND` only take effect before TensorFlow, JAX or Keras initialize.
"""
