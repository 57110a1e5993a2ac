"""Third-party plugins: the `keras_blocks.plugins` entry points, loaded once, lazily."""

from __future__ import annotations

import importlib.metadata

ENTRY_POINT_GROUP = "keras_blocks.plugins"
"""The entry-point group a plugin package declares its registration function in."""

# Set by the first `load_plugins` call; a name not found triggers that call.
_PLUGINS_LOADED = False


def load_plugins(*, force: bool = False) -> list[str]:
    """Loads the `keras_blocks.plugins` entry points (once unless `force=True`).

    Each entry point's object is called with no arguments when it is callable; a module
    registers its components on import. Looking up a name that is not registered calls
    this first, so users rarely need to.

    Args:
        force: load the entry points again even if an earlier call loaded them.

    Returns:
        The names of the entry points loaded by this call.

    Raises:
        RuntimeError: a plugin failed to load; the message names the entry point.

    Example:
        ```python
        from keras_blocks.registry import load_plugins
        load_plugins()  # the plugins loaded now; [] when none is installed or already loaded
        ```
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED and not force:
        return []
    _PLUGINS_LOADED = True
    loaded = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = entry_point.load()
            if callable(obj):
                obj()
        except Exception as error:  # a broken plugin must say which one it is
            raise RuntimeError(
                f"keras_blocks plugin {entry_point.name!r} ({entry_point.value}) "
                f"failed to load: {error}"
            ) from error
        loaded.append(entry_point.name)
    return loaded
