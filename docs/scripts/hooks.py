"""MkDocs hooks (mkdocs.yml `hooks:`): the version in the header, a portable 404 page.

The header shows `keras_blocks <version>`, the version read from
`keras_blocks/__init__.py` (`__version__`, the one place it is written) without
importing the package.

MkDocs writes 404.html with root-absolute links (`/assets/...`), which break when the
site is opened from a folder or served below a path. 404.html sits at the site's root,
so dropping the leading slash makes every such link relative and correct.
"""

from __future__ import annotations

import pathlib
import re

_ROOT_ABSOLUTE = re.compile(r'((?:href|src)=")/(?!/)')
_PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "keras_blocks" / "__init__.py"


def package_version() -> str:
    """`keras_blocks.__version__`, read from the source."""
    match = re.search(r'^__version__ = "([^"]+)"', _PACKAGE.read_text(encoding="utf-8"), re.M)
    if match is None:
        raise ValueError(f"no __version__ = \"...\" line in {_PACKAGE}")
    return match[1]


def on_config(config, **kwargs):
    version = package_version()
    config["site_name"] = f"{config['site_name']} {version}"
    return config


def on_post_build(config, **kwargs):
    page = pathlib.Path(config["site_dir"]) / "404.html"
    if page.is_file():
        text = _ROOT_ABSOLUTE.sub(r"\1", page.read_text(encoding="utf-8"))
        page.write_text(text.replace('href="."', 'href="index.html"'), encoding="utf-8")
