"""Entry points and tables for running keras_blocks under every Keras backend (issue 8).

`layer_table.py` holds one representative configuration per public layer and the table
of layers that cannot run on a backend; `run_backend.py` is the subprocess entry point
that `tests/test_backends.py` starts once per non-default backend.
"""
