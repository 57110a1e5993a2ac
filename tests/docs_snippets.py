"""Extracts the ```python blocks of the docs and runs them, each page in a fresh process.

Used by `tests/test_docs.py`, which runs this module in a subprocess:

    python -m tests.docs_snippets [--jobs N] RESULTS.json WORKDIR PAGE.md [PAGE.md ...]

Rules the docs follow (also in the README's "Docs" section):

- Every fenced block whose language is `python` (or `py`) runs, in page order, in one
  namespace per page, so a later block may use what an earlier one defined. Fences
  indented inside admonitions or content tabs count too. Only code the reader sees
  runs: a hidden setup comment (`<!-- docs-test: setup ... -->`, once allowed) is an
  error, so what a page needs (generated data, a small folder) is shown on the page.
- `<!-- docs-test: skip -->` on the line just above a fence (blank lines allowed) leaves
  that block out: only for code that cannot run here, such as `weights="imagenet"`
  downloads. Use it sparingly and say why in the text.
- Each page runs in a fresh Python process (nothing carries over from another page:
  imports, Keras state, the working directory), up to `--jobs` pages at once, in its
  own empty working directory with `../shared` pointing at the shared data, so paths
  like `../shared/data/cifar10-car-truck` work as they do from the repository root.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
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


def extract(path: pathlib.Path, label: str | None = None) -> tuple[list[Snippet], list[int]]:
    """Returns the page's runnable snippets in order, and the lines of skipped blocks.

    Raises:
        ValueError: an unclosed fence, or a hidden setup comment (naming its line).
    """
    label = label or str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    skipped: list[int] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith(SETUP_OPEN):
            raise ValueError(
                f"{label}:{i + 1}: hidden '{SETUP_OPEN}' code is not allowed: show the "
                "setup in a ```python block, so that copying the page's code runs."
            )
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
            where = f"{label}, block {snippet.index} (line {snippet.line})"
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


def _slug(page: str) -> str:
    return re.sub(r"[^\w]+", "-", page).strip("-") or "page"


def _run_isolated(page: str, root: pathlib.Path, timeout: float) -> dict:
    """Runs one page in a fresh `python -m tests.docs_snippets --single` process."""
    out = root / "results" / f"{_slug(page)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tests.docs_snippets", "--single", str(out), str(root), page]
    started = time.perf_counter()
    try:
        process = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"page": page, "status": "failed", "blocks": 0,
                "error": f"{page}: still running after {timeout:.0f} s (killed)"}
    if out.exists():
        (result,) = json.loads(out.read_text())
        return result
    return {
        "page": page, "status": "failed", "blocks": 0,
        "seconds": round(time.perf_counter() - started, 2),
        "error": f"{page}: the page's process died (exit {process.returncode})",
        "traceback": process.stderr[-3000:],
    }


def main(argv: list[str]) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    jobs, single = 1, False
    while argv and argv[0].startswith("--"):
        flag = argv.pop(0)
        if flag == "--single":
            single = True
        elif flag == "--jobs":
            jobs = max(1, int(argv.pop(0)))
        else:
            raise SystemExit(f"unknown option {flag}")
    results_path, workdir, *pages = argv
    root = pathlib.Path(workdir)
    if single:  # this process is the fresh one: run the page here
        (page,) = pages
        result = run_page(pathlib.Path(page), page, root / "pages" / _slug(page))
        pathlib.Path(results_path).write_text(json.dumps([result], indent=1))
        return 0
    timeout = float(os.environ.get("DOCS_SNIPPET_PAGE_TIMEOUT_S", "600"))
    results: dict[str, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_run_isolated, page, root, timeout): page for page in pages}
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            ordered = [results[p] for p in pages if p in results]
            pathlib.Path(results_path).write_text(json.dumps(ordered, indent=1))
            print(f"{result['status']:7s} {result['page']} ({result.get('seconds', 0)} s)",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
