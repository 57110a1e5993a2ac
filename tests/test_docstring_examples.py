"""Every public name's docstring `Example:` runs, as written.

Which names:

- required: everything in `keras_blocks.__all__`, and the public functions and classes
  defined in `keras_blocks.registry` that have a docstring. Each must have an
  `Example:` section with at least one fenced ```python block, or its test fails.
- optional: other public functions and classes defined in public `keras_blocks`
  modules (for example `keras_blocks.models.tuning.FineTuneHistory`), and public
  methods of the classes collected here, whenever their docstring has an `Example:`.

How they run: the ```python blocks of one name's `Example:` section (from
`inspect.getdoc`) run in order, in-process, in one fresh namespace per name (one test
per name, its id the name). The working directory is the test's `tmp_path`, and
`tempfile.mkdtemp()` and friends create their folders inside it, so examples that write
files leave nothing behind. Keras state is reset by `tests/conftest.py`; the component
registries are restored after each example (some examples register components), and
matplotlib figures are closed. An example must set up everything it needs itself: there
is no hidden setup code.
"""

from __future__ import annotations

import importlib
import inspect
import linecache
import pkgutil
import re
import tempfile
import textwrap

import matplotlib
import pytest

import keras_blocks
from keras_blocks import registry

matplotlib.use("Agg")

_SECTION = re.compile(r"^Examples?:[ \t]*$", re.M)
_FENCE = re.compile(r"^```[ \t]*(?:python|py)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def example_blocks(doc: str | None) -> list[str] | None:
    """The ```python blocks of `doc`'s `Example:` section; `None` when it has no section.

    `doc` is a cleaned docstring (`inspect.getdoc`): sections start at column 0 and their
    bodies are indented, so the section ends at the next non-blank line at column 0.
    """
    if not doc:
        return None
    match = _SECTION.search(doc)
    if match is None:
        return None
    body = []
    for line in doc[match.end():].splitlines()[1:]:
        if line.strip() and not line[0].isspace():
            break
        body.append(line)
    return _FENCE.findall(textwrap.dedent("\n".join(body)))


def _doc(obj) -> str | None:
    """`inspect.getdoc(obj)`, but only the object's own docstring (none inherited)."""
    return inspect.getdoc(obj) if getattr(obj, "__doc__", None) else None


def _own_public(module) -> dict[str, object]:
    """The public functions and classes defined in `module` itself (not imported)."""
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }


def _public_modules():
    yield keras_blocks
    for info in pkgutil.walk_packages(keras_blocks.__path__, "keras_blocks."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield importlib.import_module(info.name)


def collect() -> tuple[dict[str, object], set[str]]:
    """Name -> object of everything whose example runs, and the names that must have one."""
    names: dict[str, object] = {name: getattr(keras_blocks, name) for name in keras_blocks.__all__}
    for name, obj in _own_public(registry).items():
        if _doc(obj):
            names[f"registry.{name}"] = obj
    required = set(names)
    seen = {id(obj) for obj in names.values()}
    for module in _public_modules():
        prefix = module.__name__.removeprefix("keras_blocks").lstrip(".")
        for name, obj in _own_public(module).items():
            if id(obj) not in seen and example_blocks(_doc(obj)) is not None:
                names[f"{prefix}.{name}" if prefix else name] = obj
                seen.add(id(obj))
    for owner, cls in [(n, o) for n, o in names.items() if inspect.isclass(o)]:
        for attr, raw in vars(cls).items():
            if attr.startswith("_"):
                continue
            member = raw.fget if isinstance(raw, property) else getattr(cls, attr)
            if callable(member) and example_blocks(_doc(member)) is not None:
                names[f"{owner}.{attr}"] = member
    return names, required


NAMES, REQUIRED = collect()


# ----------------------------------------------------------------------------------------
# The collector and the extractor themselves (finding nothing would pass everything).


def test_extractor_reads_only_the_example_section():
    def documented():
        """Does a thing.

        ```python
        not_the_example = 1
        ```

        Example:
            ```python
            a = 1
            ```

            Then:

            ```py
            b = a + 1
            ```

            ```bash
            echo skipped
            ```

        Note:
            ```python
            not_the_example_either = 1
            ```
        """

    assert example_blocks(inspect.getdoc(documented)) == ["a = 1\n", "b = a + 1\n"]
    assert example_blocks("Summary.\n\nArgs:\n    x: y.") is None
    assert example_blocks("Summary.\n\nExample:\n    some prose only") == []
    assert example_blocks(None) is None


def test_every_public_name_is_collected_and_examples_were_found():
    assert set(keras_blocks.__all__) <= set(NAMES)
    assert {"registry.get_registry", "registry.Registry", "registry.create"} <= REQUIRED
    found = [name for name, obj in NAMES.items() if example_blocks(_doc(obj))]
    assert len(found) >= len(REQUIRED), found
    assert sum(len(example_blocks(_doc(NAMES[n]))) for n in found) >= len(found)


# ----------------------------------------------------------------------------------------
# The examples.


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Runs the test in `tmp_path` (also the temp root); restores registries and plots."""
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    saved = {kind: dict(r._factories) for kind, r in registry._core._REGISTRIES.items()}
    plugins_loaded = registry._plugins._PLUGINS_LOADED
    try:
        yield tmp_path
    finally:
        for kind, factories in saved.items():
            registry._core._REGISTRIES[kind]._factories.clear()
            registry._core._REGISTRIES[kind]._factories.update(factories)
        registry._plugins._PLUGINS_LOADED = plugins_loaded
        plt.close("all")


@pytest.mark.parametrize("name", list(NAMES), ids=list(NAMES))
def test_docstring_example_runs(name, sandbox):
    blocks = example_blocks(_doc(NAMES[name]))
    if blocks is None:
        pytest.fail(f"{name}'s docstring has no `Example:` section.")
    if not blocks:
        pytest.fail(f"{name}'s `Example:` section has no ```python block.")
    namespace = {"__name__": f"__example_{name.replace('.', '_')}__"}
    for index, source in enumerate(blocks):
        filename = f"<{name} docstring example, block {index}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)
