"""Extracts the ```python blocks of the docs and runs them, page by page.

Used by `tests/test_docs.py`, which runs this module in a subprocess:

    python -m tests.docs_snippets RESULTS.json WORKDIR PAGE.md [PAGE.md ...]

Rules the docs follow (also written in `docs/changelog.md`'s contributor notes):

- Every fenced block whose language is `python` (or `py`) runs, in page order, in one
  namespace per page, so a later block may use what an earlier one defined. Fences
  indented inside admonitions or content tabs count too.
- `<!-- docs-test: skip -->` on the line just above a fence (blank lines allowed) leaves
  that block out: only for code that cannot run here, such as `weights="imagenet"`
  downloads. Use it sparingly and say why in the text.
- `<!-- docs-test: setup` ... `-->` is a hidden block: it runs first at its place in the
  page but does not render (for example, to make a tiny image folder a page then reads).
- Each page runs in its own empty working directory with `../shared` pointing at the
  shared data, so paths like `../shared/data/cifar10-car-truck` work as they do from the
  repository root. Keras state (dtype policy, session, seed) is reset between pages.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import sys
import textwrap
import time
import traceback

SKIP_MARKER = "<!-- docs-test: skip -->"
SETUP_OPEN = "<!-- docs-test: setup"
_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})\s*(?P<lang>[\w+-]*)(?P<rest>.*)$")


@dataclasses.dataclass
class Snippet:
    """One runnable block: its source and where it starts (1-based line of the fence)."""

    page: str
    index: int
    line: int
    source: str
    hidden: bool = False


def extract(path: pathlib.Path, label: str | None = None) -> tuple[list[Snippet], list[int]]:
    """Returns the page's runnable snippets in order, and the lines of skipped blocks."""
    label = label or str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    skipped: list[int] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith(SETUP_OPEN):
            body, start = [], i + 1
            rest = line.strip()[len(SETUP_OPEN):]
            if rest.strip():
                body.append(rest)
            i += 1
            while i < len(lines) and "-->" not in lines[i]:
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"{label}:{start}: unclosed '{SETUP_OPEN}' comment")
            tail = lines[i].split("-->", 1)[0]
            if tail.strip():
                body.append(tail)
            snippets.append(
                Snippet(label, len(snippets), start, textwrap.dedent("\n".join(body)), True)
            )
            i += 1
            continue
        match = _FENCE_OPEN.match(line)
        if not match:
            i += 1
            continue
        indent, ticks, lang = match["indent"], match["ticks"], match["lang"].lower()
        start = i + 1
        body = []
        i += 1
        closing = re.compile(rf"^{re.escape(indent)}{ticks}`*\s*$|^\s*{ticks}`*\s*$")
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"{label}:{start}: unclosed code fence")
        i += 1
        if lang not in ("python", "py"):
            continue
        previous = start - 2
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        if previous >= 0 and lines[previous].strip() == SKIP_MARKER:
            skipped.append(start)
            continue
        snippets.append(Snippet(label, len(snippets), start, "\n".join(body)))
    return snippets, skipped


def _reset_state() -> None:
    import keras

    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    try:
        import matplotlib.pyplot as plt

        plt.close("all")
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass


def run_page(path: pathlib.Path, label: str, workdir: pathlib.Path) -> dict:
    """Runs one page's snippets in one namespace; returns a JSON-able result."""
    started = time.perf_counter()
    result = {"page": label, "status": "passed", "blocks": 0, "skipped": 0}
    try:
        snippets, skipped = extract(path, label)
    except ValueError as error:
        return {**result, "status": "failed", "error": str(error)}
    result["skipped"] = len(skipped)
    workdir.mkdir(parents=True, exist_ok=True)
    old_cwd = os.getcwd()
    os.chdir(workdir)
    namespace = {"__name__": "__docs__"}
    try:
        _reset_state()
        for snippet in snippets:
            kind = "hidden setup block" if snippet.hidden else "block"
            where = f"{label}, {kind} {snippet.index} (line {snippet.line})"
            try:
                code = compile(snippet.source, where, "exec")
                exec(code, namespace)
            except BaseException as error:  # report which block broke, then stop the page
                if isinstance(error, KeyboardInterrupt):
                    raise
                result.update(
                    status="failed",
                    block=snippet.index,
                    line=snippet.line,
                    error=f"{where}: {type(error).__name__}: {error}",
                    traceback=traceback.format_exc(limit=-6),
                    source=snippet.source,
                )
                break
            result["blocks"] += 1
    finally:
        os.chdir(old_cwd)
        _reset_state()
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def main(argv: list[str]) -> int:
    results_path, workdir, *pages = argv
    os.environ.setdefault("MPLBACKEND", "Agg")
    root = pathlib.Path(workdir)
    results = []
    for number, page in enumerate(pages):
        path = pathlib.Path(page)
        slug = re.sub(r"[^\w]+", "-", page).strip("-") or f"page{number}"
        results.append(run_page(path, page, root / "pages" / slug))
        pathlib.Path(results_path).write_text(json.dumps(results, indent=1))
        print(f"{results[-1]['status']:7s} {page} ({results[-1].get('seconds', 0)} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
