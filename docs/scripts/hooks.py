"""MkDocs hooks (mkdocs.yml `hooks:`): a 404 page that works wherever the site is opened.

MkDocs writes 404.html with root-absolute links (`/assets/...`), which break when the
site is opened from a folder or served below a path. 404.html sits at the site's root,
so dropping the leading slash makes every such link relative and correct.
"""

from __future__ import annotations

import pathlib
import re

_ROOT_ABSOLUTE = re.compile(r'((?:href|src)=")/(?!/)')


def on_post_build(config, **kwargs):
    page = pathlib.Path(config["site_dir"]) / "404.html"
    if page.is_file():
        text = _ROOT_ABSOLUTE.sub(r"\1", page.read_text(encoding="utf-8"))
        page.write_text(text.replace('href="."', 'href="index.html"'), encoding="utf-8")
