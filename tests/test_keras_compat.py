"""keras_blocks/_keras_compat.py: the one home of Keras' private API.

When a Keras release moves a private name, `test_private_name_exists` fails naming the
Keras version and the name, and the function tests below say which behaviour broke.
"""

import importlib
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_blocks import _keras_compat as compat

PACKAGE = pathlib.Path(compat.__file__).parent
PRIVATE_USE = re.compile(
    r"keras\.src|_flatten_layers|_convert_input_args|jax_utils|backend_utils|"
    r"_allow_non_tensor_positional_args|\._(trainable|tracker|layers|seed_generators|"
    r"dtype_policy)\b"
)


@pytest.mark.parametrize("owner, name", compat.PRIVATE_NAMES,
                         ids=[f"{o}.{n}" for o, n in compat.PRIVATE_NAMES])
def test_private_name_exists(owner, name):
    if owner == "keras.layers.Layer instance":
        found = hasattr(keras.layers.Dense(1), name)
    else:
        try:
            found = hasattr(importlib.import_module(owner), name)
        except ImportError:
            found = False
    if not found:
        pytest.fail(
            f"Keras {keras.__version__} has no {owner}.{name}, which keras_blocks uses "
            "through keras_blocks/_keras_compat.py: update that module for this release."
        )


def test_missing_private_name_raises_naming_version_and_name():
    with pytest.raises(ImportError) as error:
        compat._private("keras.src.utils.backend_utils", "no_such_name")
    message = str(error.value)
    assert f"Keras {keras.__version__}" in message, message
    assert "keras.src.utils.backend_utils.no_such_name" in message, message


def test_only_the_compat_module_touches_private_keras():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py")) if path.name != "_keras_compat.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE_USE.search(line)
    ]
    assert offenders == [], "\n".join(offenders)


class _Holder(keras.layers.Layer):
    def __init__(self, *sublayers, **kwargs):
        super().__init__(**kwargs)
        self.sublayers = list(sublayers)


def _nested_model():
    inner = _Holder(keras.layers.Dense(2, name="inner_dense"), name="inner")
    return _Holder(keras.layers.Dense(3, name="first"), inner, name="outer")


@pytest.mark.parametrize("include_self, recursive, expected", [
    (True, True, ["outer", "first", "inner", "inner_dense"]),
    (False, True, ["first", "inner", "inner_dense"]),
    (True, False, ["outer", "first", "inner"]),
    (False, False, ["first", "inner"]),
])
def test_flatten_layers_breadth_first(include_self, recursive, expected):
    layers = compat.flatten_layers(_nested_model(), include_self, recursive)
    assert [layer.name for layer in layers] == expected


def test_in_tf_graph_only_while_tracing():
    tf = pytest.importorskip("tensorflow")
    seen = []

    @tf.function
    def traced():
        seen.append(compat.in_tf_graph())
        return tf.constant(0)

    assert compat.in_tf_graph() is False
    traced()
    assert seen == [True]


def test_in_jax_tracing_scope():
    pytest.importorskip("jax")
    script = (
        "import jax, numpy as np\n"
        "from keras_blocks import _keras_compat as compat\n"
        "seen = []\n"
        "jax.jit(lambda x: seen.append(compat.in_jax_tracing_scope(x)) or x)(np.ones(2))\n"
        "print(seen, compat.in_jax_tracing_scope(np.ones(2)))\n"
    )
    env = {"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, cwd=PACKAGE.parent, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[True] False", result.stdout
    if keras.backend.backend() != "jax":  # no private name needed on this backend
        assert compat.in_jax_tracing_scope(np.ones(2)) is False


def test_dynamic_backend_switches_and_resets():
    pytest.importorskip("tensorflow")
    ops = compat.dynamic_backend()
    assert ops.name == keras.backend.backend()
    ops.set_backend("tensorflow")
    assert ops.name == "tensorflow"
    assert type(ops.numpy.ones((2,))).__module__.startswith("tensorflow")
    ops.reset()
    assert ops.name == keras.backend.backend()


class _Recorder(keras.layers.Layer):
    def call(self, x):
        self.seen = type(x)
        return x


def test_input_conversion_disabled_passes_inputs_as_they_are():
    layer = _Recorder()
    layer(np.ones((1, 2), "float32"))
    assert layer.seen is not np.ndarray  # converted to a backend tensor
    compat.allow_non_tensor_positional_args(layer)
    with compat.input_conversion_disabled(layer):
        layer(np.ones((1, 2), "float32"))
    assert layer.seen is np.ndarray
    layer(np.ones((1, 2), "float32"))
    assert layer.seen is not np.ndarray  # restored after the block


def test_input_conversion_restored_after_an_error():
    layer = _Recorder()
    with pytest.raises(RuntimeError), compat.input_conversion_disabled(layer):
        raise RuntimeError("inside")
    layer(np.ones((1, 2), "float32"))
    assert layer.seen is not np.ndarray


def test_non_tensor_positional_args_refused_unless_allowed():
    layer = _Recorder()
    with compat.input_conversion_disabled(layer):
        with pytest.raises(ValueError, match="Only input tensors"):
            layer(np.ones((1, 2), "float32"))
        compat.allow_non_tensor_positional_args(layer)
        layer(np.ones((1, 2), "float32"))
    assert layer.seen is np.ndarray
