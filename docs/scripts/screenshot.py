"""Renders the built docs site in headless Chromium: screenshots, rendered text, JS errors.

    python docs/scripts/screenshot.py                    # build the site, then render it
    python docs/scripts/screenshot.py --site-dir site    # render an existing build
    python docs/scripts/screenshot.py --out build/shots --dark

Saves screenshots of the home page and of the `ConvBlock` API page (default folder
`build/screenshots/`), prints every console message of every page it rendered, and
exits non-zero when a page logged a JavaScript error. The site is served over
`http://127.0.0.1:<free port>` (search runs in a web worker, which `file://` blocks).

Needs Debian's `chromium` (`apt-get install -y chromium`) or any Chromium/Chrome named
by `$CHROMIUM`. `tests/test_docs.py` (marker `browser`) uses the functions below.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import html
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading

REPO = pathlib.Path(__file__).resolve().parents[2]

# Flags for a quiet, reproducible, offline headless run.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
# Chromium writes console messages to stderr as:
#   [pid:tid:date:INFO:CONSOLE:12] "message", source: http://... (12)
_CONSOLE = re.compile(r':CONSOLE(?:\(\d+\)|:\d+)\] "(?P<message>.*)", source: (?P<source>.*)$')
# What counts as a JavaScript error among the console messages.
_ERROR = re.compile(r"Uncaught|\b\w*Error\b|Failed to load|Refused to|is not defined")

# The pages the docs check renders, relative to the site root.
PAGES = {
    "home": "",
    "convblock-api": "api/blocks/",  # ConvBlock is its first entry
}


def find_chromium() -> str | None:
    """The Chromium executable: `$CHROMIUM`, else the first of the usual names on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@contextlib.contextmanager
def serve(site_dir: pathlib.Path):
    """Serves `site_dir` on 127.0.0.1 at a free port, in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output readable
        pass


@dataclasses.dataclass
class Rendered:
    """One page as Chromium rendered it."""

    url: str
    dom: str
    console: list[str]
    errors: list[str]

    @property
    def text(self) -> str:
        """The rendered DOM's visible text, whitespace collapsed."""
        body = re.sub(r"<(script|style)\b.*?</\1>", " ", self.dom, flags=re.S | re.I)
        return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def render(
    url: str,
    *,
    chromium: str | None = None,
    screenshot: pathlib.Path | None = None,
    window=(1280, 1000),
    dark: bool = False,
    timeout: float = 120,
) -> Rendered:
    """Loads `url` in a fresh headless Chromium profile.

    Returns the DOM after scripts ran (`--dump-dom`) and the console messages; with
    `screenshot`, a second run saves a PNG of the viewport.
    """
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("Chromium not found: install Debian's `chromium` or set $CHROMIUM")
    extra = [f"--window-size={window[0]},{window[1]}", "--virtual-time-budget=5000"]
    if dark:
        extra.append("--force-dark-mode")
    dom, console = _run(chromium, [*extra, "--dump-dom", url], timeout)
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        _, more = _run(chromium, [*extra, f"--screenshot={screenshot}", url], timeout)
        console += [m for m in more if m not in console]
        if not screenshot.exists():
            raise RuntimeError(f"Chromium wrote no screenshot for {url}")
    errors = [m for m in console if _ERROR.search(m)]
    return Rendered(url, dom, console, errors)


def _run(chromium: str, args: list[str], timeout: float) -> tuple[str, list[str]]:
    with tempfile.TemporaryDirectory(prefix="kb-chromium-") as profile:
        process = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout,
        )
    if process.returncode:
        raise RuntimeError(
            f"Chromium exited {process.returncode} for {args[-1]}:\n{process.stderr[-3000:]}"
        )
    console = []
    for line in process.stderr.splitlines():
        match = _CONSOLE.search(line)
        if match:
            console.append(f"{match['message']} ({match['source']})")
    return process.stdout, console


def build_site(site_dir: pathlib.Path) -> None:
    """`mkdocs build --strict` into `site_dir`."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=REPO, env=env, check=True,
    )


def site_pages(site_dir: pathlib.Path) -> list[str]:
    """Every HTML page of a built site, as paths relative to its root (404 excluded)."""
    pages = []
    for path in sorted(site_dir.rglob("index.html")):
        relative = path.parent.relative_to(site_dir).as_posix()
        pages.append("" if relative == "." else f"{relative}/")
    return pages


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--site-dir", type=pathlib.Path, help="an existing build (default: build one now)"
    )
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "build" / "screenshots")
    parser.add_argument("--dark", action="store_true", help="also screenshot the dark palette")
    parser.add_argument("--all-pages", action="store_true", help="check every page for JS errors")
    args = parser.parse_args(argv)
    if find_chromium() is None:
        print("Chromium not found: apt-get install -y chromium (or set $CHROMIUM)", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        site = args.site_dir
        if site is None:
            site = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory())) / "site"
            build_site(site)
        base = stack.enter_context(serve(site))
        failed = False
        targets = dict(PAGES)
        if args.all_pages:
            targets.update({page or "home": page for page in site_pages(site)})
        for name, page in targets.items():
            shot = args.out / f"{name}.png" if name in PAGES else None
            result = render(base + page, screenshot=shot)
            status = "JS ERRORS" if result.errors else "ok"
            print(f"{status:9s} {page or '/'}" + (f" -> {shot}" if shot else ""))
            for message in result.console:
                print(f"          console: {message}")
            failed |= bool(result.errors)
            if args.dark and shot is not None:
                dark = args.out / f"{name}-dark.png"
                render(base + page, screenshot=dark, dark=True)
                print(f"{'':9s} {page or '/'} (dark) -> {dark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
