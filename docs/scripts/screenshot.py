"""Renders the built docs site in headless Chromium: screenshots, rendered text, JS errors.

    python docs/scripts/screenshot.py                    # build the site, then render it
    python docs/scripts/screenshot.py --site-dir site    # render an existing build
    python docs/scripts/screenshot.py --out build/shots --dark

Saves screenshots of the home page and of the `ConvBlock` API page (default folder
`build/screenshots/`), prints every console message of every page it rendered, and
exits non-zero when a page logged a JavaScript error. The site is served over
`http://127.0.0.1:<free port>` (search runs in a web worker, which `file://` blocks).

Needs Debian's `chromium` (`apt-get install -y chromium`) or any Chromium/Chrome named
by `$CHROMIUM`. `tests/test_docs.py` (marker `browser`) uses the functions below, and
`Browser`, which drives Chromium over the DevTools protocol on a pipe to see every
request a page makes (the site must work offline), whether its images loaded, and
what the search box finds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import html
import http.server
import json
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
# For `Browser`: no name resolves but the local server's, so nothing can leave the machine
# (a page's external request is still recorded, and then fails).
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
# JavaScript for `Browser.evaluate`: every image of the page, loaded eagerly.
IMAGES_JS = """Promise.all([...document.images].map((image) => {
  image.loading = "eager";
  return image.decode().then(() => [image.currentSrc, image.naturalWidth],
                             () => [image.currentSrc, 0]);
}))"""
# The results Material's search shows for the page's `?q=` query: [[href, title], ...].
SEARCH_JS = """new Promise((resolve) => {
  const start = Date.now();
  (function poll() {
    const links = [...document.querySelectorAll(
      ".md-search-result__item > .md-search-result__link")];
    if (links.length || Date.now() - start > 15000) {
      resolve(links.map((a) => [a.getAttribute("href"),
                                (a.querySelector("h1, h2") || a).textContent.trim()]));
    } else {
      setTimeout(poll, 100);
    }
  })();
})"""

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


class Browser:
    """One headless Chromium driven over the DevTools protocol on a pipe (no extra package).

    `--remote-debugging-pipe` makes Chromium read JSON commands, each ending in a NUL
    byte, from file descriptor 3 and write answers and events to descriptor 4. Each
    `visit` opens the page in a fresh tab and records what the page did: every
    request's URL and status, failed loads, console errors and uncaught exceptions.

        with Browser() as browser:
            visit = browser.visit("http://127.0.0.1:8000/")
            visit.requests, visit.errors, browser.evaluate(visit, "document.title")
    """

    def __init__(self, chromium: str | None = None, window=(1280, 1000), timeout: float = 60):
        self.chromium = chromium or find_chromium()
        if self.chromium is None:
            raise FileNotFoundError(
                "Chromium not found: install Debian's `chromium` or set $CHROMIUM"
            )
        self.window, self.timeout = window, timeout
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict] = []

    def __enter__(self):
        self._profile = tempfile.TemporaryDirectory(prefix="kb-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_pipes():  # in the child: its fd 3 reads our commands, fd 4 answers
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self._process = subprocess.Popen(
            [self.chromium, *CHROMIUM_FLAGS, "--remote-debugging-pipe", OFFLINE,
             f"--window-size={self.window[0]},{self.window[1]}",
             f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes, close_fds=False,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        return self

    def __exit__(self, *exc):
        with contextlib.suppress(Exception):  # already gone
            self.command("Browser.close")
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._profile.cleanup()

    # ------------------------------------------------------------------ protocol
    def _read_message(self, deadline: float) -> dict:
        import select
        import time

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def command(self, method: str, params: dict | None = None, session: str | None = None):
        """Sends one command and returns its result (events that arrive meanwhile are kept)."""
        import time

        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._events.append(answer)

    def _pump(self, seconds: float) -> None:
        import time

        deadline = time.monotonic() + seconds
        while True:
            try:
                self._events.append(self._read_message(deadline))
            except TimeoutError:
                return

    # ------------------------------------------------------------------ pages
    def visit(self, url: str, settle: float = 1.0) -> Visit:
        """Opens `url` in a new tab, waits for its load event (plus `settle` seconds)."""
        import time

        target = self.command("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.command(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.command(f"{domain}.enable", session=session)
        self._events = []
        self.command("Page.navigate", {"url": url}, session=session)
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" and
                      e.get("sessionId") == session for e in self._events):
            self._events.append(self._read_message(deadline))
        self._pump(settle)
        return Visit(url, target, session, self._events_of(session))

    def _events_of(self, session: str) -> list[dict]:
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    def evaluate(self, visit: Visit, expression: str, *, await_promise: bool = False):
        """The JSON value of a JavaScript expression in the visited page."""
        result = self.command(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            session=visit.session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        visit.events += self._events_of(visit.session)
        return result["result"].get("value")

    def close(self, visit: Visit) -> None:
        self.command("Target.closeTarget", {"targetId": visit.target})


@dataclasses.dataclass
class Visit:
    """What one page did while it loaded: requests, failures, errors."""

    url: str
    target: str
    session: str
    events: list[dict]

    @property
    def external(self) -> list[str]:
        """Requests that would leave the machine (not the local server, not `data:`)."""
        return [u for u in self.requests
                if not u.startswith(("http://127.0.0.1", "data:", "blob:", "about:"))]

    @property
    def requests(self) -> list[str]:
        """Every URL the page requested (documents, styles, scripts, images, workers)."""
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    @property
    def failed(self) -> list[str]:
        """Requests that failed or answered with an HTTP error status."""
        urls = {e["params"]["requestId"]: e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"}
        failed = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Network.loadingFailed":
                failed.append(f"{urls.get(params['requestId'], '?')}: {params['errorText']}")
            elif event.get("method") == "Network.responseReceived" and \
                    params["response"]["status"] >= 400:
                failed.append(f"{params['response']['url']}: HTTP {params['response']['status']}")
        return failed

    @property
    def errors(self) -> list[str]:
        """Uncaught exceptions, `console.error` calls and error-level log entries."""
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                errors.append(f"uncaught: {text}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                errors.append("console.error: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(f"log: {params['entry']['text']} ({params['entry'].get('url', '')})")
        return errors


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
