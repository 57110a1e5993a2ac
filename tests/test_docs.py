"""The docs site: snippets run, the API reference is complete, the site builds and renders.

- Every ```python block in docs/**/*.md and README.md runs (page by page, in order, one
  namespace per page; see `tests/docs_snippets.py` for the skip and setup markers). A
  failure names the page, the block index and its line.
- Every name in `keras_blocks.__all__` has an entry in the built API reference.
- The site builds with `mkdocs build --strict` (broken links, anchors, missing
  references and pages left out of the nav all fail it).
- Marked `browser`: headless Chromium renders the built site; the ConvBlock API page
  shows the signature and no page logs a JavaScript error. Skips only without Chromium.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

import keras_blocks
from tests.conftest import REPO, SHARED
from tests.docs_snippets import extract
from tests.figures import assert_figure

DOCS = REPO / "docs"
DOC_PAGES = sorted(
    [p for p in DOCS.rglob("*.md") if "scripts" not in p.relative_to(DOCS).parts]
    + [REPO / "README.md"]
)
SNIPPET_TIMEOUT_S = 900


def _label(path: pathlib.Path) -> str:
    return str(path.relative_to(REPO))


def _pages_with_snippets() -> list[str]:
    return [_label(p) for p in DOC_PAGES if extract(p, _label(p))[0]]


# ----------------------------------------------------------------------------------------
# The extractor itself (a runner that finds nothing would pass everything).


def test_extractor_finds_blocks_markers_and_setup(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        textwrap.dedent(
            """\
            # Title
            <!-- docs-test: setup
            hidden = 1
            -->
            ```python
            a = hidden + 1
            ```

            <!-- docs-test: skip -->

            ```python
            raise SystemExit("downloads")
            ```

            ```bash
            echo not python
            ```

            !!! note
                ```python
                if a:
                    b = a * 2
                ```
            """
        )
    )
    snippets, skipped = extract(page)
    assert [s.source for s in snippets] == ["hidden = 1", "a = hidden + 1", "if a:\n    b = a * 2"]
    assert [s.hidden for s in snippets] == [True, False, False]
    assert [s.line for s in snippets] == [2, 5, 20]  # setup: the marker line
    assert skipped == [11]


def test_runner_reports_page_block_and_line(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text("```python\nx = 1\n```\n\ntext\n\n```python\ny = x + undefined_name\n```\n")
    results = tmp_path / "results.json"
    subprocess.run(
        [sys.executable, "-m", "tests.docs_snippets", str(results), str(tmp_path), str(page)],
        cwd=REPO, check=True, capture_output=True, timeout=300,
    )
    (result,) = json.loads(results.read_text())
    assert result["status"] == "failed"
    assert (result["block"], result["line"]) == (1, 7)
    assert "block 1 (line 7)" in result["error"] and "undefined_name" in result["error"]


def test_docs_pages_have_snippets():
    # Guards the glob: the tutorials are code-first, so most pages must yield blocks.
    pages = _pages_with_snippets()
    assert "docs/quickstart.md" in pages and "README.md" in pages, pages
    assert len(pages) >= 8, pages


# ----------------------------------------------------------------------------------------
# Run every page's snippets (one subprocess for all pages: TensorFlow loads once).


@pytest.fixture(scope="session")
def snippet_results(request, tmp_path_factory):
    # Only the pages whose tests were selected (`-k quickstart` runs one page).
    selected = [
        item.callspec.params["page"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_page_snippets_run"
    ]
    pages = [p for p in _pages_with_snippets() if p in selected]
    workdir = tmp_path_factory.mktemp("docs-snippets")
    (workdir / "pages").mkdir()
    if SHARED.exists():
        (workdir / "pages" / "shared").symlink_to(SHARED, target_is_directory=True)
    results_path = workdir / "results.json"
    env = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    process = subprocess.run(
        [sys.executable, "-m", "tests.docs_snippets", str(results_path), str(workdir), *pages],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=SNIPPET_TIMEOUT_S,
    )
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    return {r["page"]: r for r in results}, process


@pytest.mark.parametrize("page", _pages_with_snippets())
def test_page_snippets_run(page, snippet_results):
    results, process = snippet_results
    if page not in results:
        pytest.fail(
            f"{page}: the snippet runner died before reaching this page "
            f"(exit {process.returncode}).\n{process.stderr[-3000:]}"
        )
    result = results[page]
    if result["status"] != "passed":
        pytest.fail(
            f"{result['error']}\n\n--- block source ---\n{result.get('source', '')}\n\n"
            f"--- traceback ---\n{result.get('traceback', '')}",
            pytrace=False,
        )
    assert result["blocks"] > 0


# ----------------------------------------------------------------------------------------
# The built site: strict build, complete API reference, generated figures.


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    process = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    if process.returncode:
        pytest.fail(f"mkdocs build --strict failed:\n{process.stderr[-6000:]}", pytrace=False)
    return site


def _api_ids(site: pathlib.Path) -> set[str]:
    ids = set()
    for html in (site / "api").rglob("*.html"):
        ids.update(re.findall(r'id="(keras_blocks(?:\.\w+)+)"', html.read_text(encoding="utf-8")))
    return ids


def test_site_builds_strict(built_site):
    assert (built_site / "index.html").exists()
    assert (built_site / "api" / "blocks" / "index.html").exists()


def test_every_public_name_is_in_the_api_reference(built_site):
    ids = _api_ids(built_site)
    documented = {i.rsplit(".", 1)[1] for i in ids}
    missing = sorted(set(keras_blocks.__all__) - documented)
    assert not missing, (
        f"public names with no entry in docs/api/*.md (add '::: keras_blocks.NAME' to the "
        f"area's page): {missing}"
    )


def _resolves(dotted: str) -> bool:
    # Import the longest module prefix (a package may re-export a function under its
    # submodule's name, as `keras_blocks.models.fine_tune`), then walk the attributes.
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return False


def test_api_directives_name_real_objects():
    # A typo in a `:::` line fails the strict build; this says which line, quicker.
    for page in (DOCS / "api").glob("*.md"):
        for number, line in enumerate(page.read_text().splitlines(), 1):
            match = re.match(r"^:::\s*(keras_blocks[\w.]*)", line)
            if not match:
                continue
            assert _resolves(match[1]), f"{_label(page)}:{number}: no {match[1]}"


def test_figures_are_generated_small_and_used():
    sys.path.insert(0, str(DOCS / "scripts"))
    try:
        import make_figures
    finally:
        sys.path.pop(0)
    on_disk = {p.name: p for p in (DOCS / "images").glob("*.png")}
    missing = sorted({f"{n}.png" for n in make_figures.FIGURES} - set(on_disk))
    assert not missing, f"run docs/scripts/make_figures.py: {missing} are not in docs/images"
    # Figures of other pages come from their own scripts: each PNG must be named by one.
    sources = [REPO / d for d in ("docs/scripts", "examples", "keras_blocks", "benchmarks")]
    scripts = "".join(p.read_text() for d in sources for p in d.rglob("*.py"))
    unmade = sorted(n for n in on_disk if pathlib.Path(n).stem not in scripts)
    assert not unmade, f"figures that no script in the repository generates: {unmade}"
    referenced = set()
    for page in DOC_PAGES:
        referenced.update(re.findall(r"images/([\w.-]+\.png)", page.read_text()))
    assert set(on_disk) <= referenced, f"figures no page shows: {sorted(set(on_disk) - referenced)}"
    for name, png in on_disk.items():
        assert png.stat().st_size < 200_000, f"{name} is {png.stat().st_size} bytes (max 200 KB)"
        assert_figure(png, min_size=(400, 200))  # a real PNG, not blank (smallest: 446, 201)


def test_figure_script_draws_from_the_library(tmp_path):
    # One cheap figure, end to end, so the script cannot rot between regenerations.
    if not (SHARED / "data").exists():
        pytest.skip(f"{SHARED / 'data'} is absent (a fresh clone without ../shared)")
    process = subprocess.run(
        [sys.executable, str(DOCS / "scripts" / "make_figures.py"), "receptive-field",
         "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    # The same pixel size as the committed figure (no `bbox_inches="tight"`: it is exact).
    from PIL import Image

    with Image.open(DOCS / "images" / "receptive-field.png") as committed:
        size = committed.size
    assert_figure(tmp_path / "receptive-field.png", size=size)


def test_search_index_holds_the_api(built_site):
    index = (built_site / "search" / "search_index.json").read_text()
    assert "keras_blocks.ConvBlock" in index


# ----------------------------------------------------------------------------------------
# The rendered site, in headless Chromium (CI installs Debian's `chromium`).


def _screenshot_module():
    sys.path.insert(0, str(DOCS / "scripts"))
    try:
        import screenshot
    finally:
        sys.path.pop(0)
    return screenshot


def _require_chromium():
    screenshot = _screenshot_module()
    if screenshot.find_chromium() is None:
        message = "Chromium is not installed (apt-get install -y chromium, or set $CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must install it.")
        pytest.skip(message)
    return screenshot


@pytest.fixture(scope="session")
def browser(built_site):
    screenshot = _require_chromium()
    with screenshot.serve(built_site) as base:
        yield screenshot, base


def _expected_signature(cls) -> str:
    parts = []
    for parameter in inspect.signature(cls).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            parts.append(f"**{parameter.name}")
        elif parameter.default is parameter.empty:
            parts.append(parameter.name)
        else:
            default = parameter.default
            text = json.dumps(default) if isinstance(default, str) else repr(default)
            parts.append(f"{parameter.name}={text}")
    return f"{cls.__name__}({', '.join(parts)},)"


@pytest.mark.browser
def test_browser_renders_convblock_signature(browser, tmp_path):
    screenshot, base = browser
    shot = tmp_path / "convblock-api.png"
    page = screenshot.render(base + "api/blocks/", screenshot=shot)
    signature = _expected_signature(keras_blocks.ConvBlock)
    squeeze = lambda text: re.sub(r"\s+", "", text)  # noqa: E731
    assert squeeze(signature) in squeeze(page.text), (
        f"rendered API page lacks {signature}; text starts: {page.text[:600]}"
    )
    assert not page.errors, page.errors
    _assert_real_screenshot(shot)


@pytest.mark.browser
def test_browser_home_page(browser, tmp_path):
    screenshot, base = browser
    shot = tmp_path / "home.png"
    page = screenshot.render(base, screenshot=shot)
    assert "The 30-second example" in page.text
    assert "Tutorials" in page.text and "API reference" in page.text  # the navigation
    assert not page.errors, page.errors
    _assert_real_screenshot(shot)


@pytest.mark.browser
def test_browser_no_page_logs_a_javascript_error(browser, built_site):
    screenshot, base = browser
    pages = screenshot.site_pages(built_site)
    assert len(pages) >= 10, pages
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda p: screenshot.render(base + p), pages)
        rendered = dict(zip(pages, results, strict=True))
    errors = {page: result.errors for page, result in rendered.items() if result.errors}
    assert not errors, f"JavaScript errors: {errors}"
    for page, result in rendered.items():
        assert "md-header" in result.dom, f"{page or '/'} did not render the theme"


@pytest.mark.browser
def test_js_error_detection_catches_an_uncaught_exception(tmp_path):
    # The browser checks above pass only if the detector can fail: feed it a broken page.
    screenshot = _require_chromium()
    (tmp_path / "index.html").write_text(
        "<html><body><p>broken</p><script>notAFunction();</script></body></html>"
    )
    with screenshot.serve(tmp_path) as base:
        result = screenshot.render(base)
    assert "broken" in result.text
    assert any("notAFunction" in error for error in result.errors), result.console


def _assert_real_screenshot(path: pathlib.Path) -> None:
    # A page is mostly white background: the colour count is what says it rendered.
    assert_figure(path, size=(1280, 1000), min_colours=51, max_background=1.0)
