"""TensorFlow, imported on first use.

`keras_blocks.data` is built on tf.data, but `import keras_blocks` must stay cheap on the
JAX and PyTorch backends, where Keras does not import TensorFlow. Modules here use this
`tf` proxy, which imports TensorFlow the first time an attribute is read.
"""

import importlib


class _LazyModule:
    def __init__(self, name: str):
        self._name = name
        self._module = None

    def __getattr__(self, attribute: str):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)


tf = _LazyModule("tensorflow")
