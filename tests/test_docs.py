"""The docs site: snippets run, the API reference is complete, the site builds and renders.

- Every visible ```python block in docs/**/*.md and README.md runs (each page in a
  fresh process, in order, one namespace per page; see `tests/docs_snippets.py` for the
  skip marker; hidden setup code is refused). A failure names the page, the block index
  and its line.
- Every name in `keras_blocks.__all__` has an entry in the built API reference.
- The site builds with `mkdocs build --strict` (broken links, anchors, missing
  references and pages left out of the nav all fail it).
- Marked `browser`: headless Chromium renders the built site (driven over the DevTools
  protocol, `docs/scripts/screenshot.py`): the ConvBlock API page shows the signature;
  every page loads with no JavaScript error, no request leaving the machine and every
  image loaded; search ranks the `ConvBlock` entry first and finds `sync_batch`. Skips
  only without Chromium (and fails without it in CI).
"""

from __future__ import annotations

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


def _has_snippets(path: pathlib.Path) -> bool:
    try:
        return bool(extract(path, _label(path))[0])
    except ValueError:  # a malformed page: its run reports the error
        return True


def _pages_with_snippets() -> list[str]:
    return [_label(p) for p in DOC_PAGES if _has_snippets(p)]


# ----------------------------------------------------------------------------------------
# The extractor itself (a runner that finds nothing would pass everything).


def test_extractor_finds_blocks_and_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        textwrap.dedent(
            """\
            # Title
            ```python
            a = 1
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
    assert [s.source for s in snippets] == ["a = 1", "if a:\n    b = a * 2"]
    assert [s.line for s in snippets] == [2, 17]
    assert skipped == [8]


def test_extractor_refuses_hidden_setup(tmp_path):
    # Only visible code runs: a page's setup must be shown, so copying its code works.
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n<!-- docs-test: setup\nhidden = 1\n-->\n```python\nx = 1\n```\n")
    with pytest.raises(ValueError, match=r"page.md:3: hidden '<!-- docs-test: setup'"):
        extract(page, "page.md")


def test_no_page_has_hidden_setup():
    pages = [_label(p) for p in DOC_PAGES if "docs-test: setup" in p.read_text()]
    assert not pages, f"hidden setup code (show it instead): {pages}"


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


def test_runner_runs_each_page_in_a_fresh_process(tmp_path):
    # A name one page defines (or imports) must not reach the next page.
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    first.write_text("```python\nimport sys\nsys.leaked = 1\nshared_name = 1\n```\n")
    second.write_text(
        "```python\nimport sys\nassert not hasattr(sys, 'leaked')\nprint(shared_name)\n```\n"
    )
    results = tmp_path / "results.json"
    subprocess.run(
        [sys.executable, "-m", "tests.docs_snippets", "--jobs", "2", str(results),
         str(tmp_path), str(first), str(second)],
        cwd=REPO, check=True, capture_output=True, timeout=300,
    )
    by_page = {r["page"]: r for r in json.loads(results.read_text())}
    assert by_page[str(first)]["status"] == "passed"
    assert by_page[str(second)]["status"] == "failed"
    assert "NameError" in by_page[str(second)]["error"], by_page[str(second)]["error"]


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})\s*(?P<lang>[\w+-]*)")


def _code_lines(path: pathlib.Path):
    """`(line number, language, code line)` of every fenced block (indent removed)."""
    lines, fence = path.read_text(encoding="utf-8").splitlines(), None
    for number, line in enumerate(lines, 1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = (match["indent"], match["ticks"], match["lang"].lower())
        elif match and match["ticks"] >= fence[1] and not line.strip().strip("`"):
            fence = None
        else:
            indent = fence[0]
            yield number, fence[2], line[len(indent):] if line.startswith(indent) else line


def test_code_lines_fit_80_columns():
    # Longer lines are cut off or scroll sideways in the rendered code blocks. The
    # README's bash blocks are exempt: CI runs its commands verbatim, one line each.
    too_long = [
        f"{_label(page)}:{number}: {len(code)} columns"
        for page in DOC_PAGES
        for number, lang, code in _code_lines(page)
        if len(code) > 80 and not (page.name == "README.md" and lang == "bash")
    ]
    assert not too_long, "code lines over 80 columns:\n" + "\n".join(too_long)


def test_code_line_check_sees_indented_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("!!! note\n    ```python\n    " + "x" * 81 + "\n    ```\n\n```\ny\n```\n")
    assert [(n, lang, len(code)) for n, lang, code in _code_lines(page)] == [
        (3, "python", 81), (7, "", 1),
    ]


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
    # A fresh process per page (two at a time): only what the page shows runs.
    process = subprocess.run(
        [sys.executable, "-m", "tests.docs_snippets", "--jobs", "2", str(results_path),
         str(workdir), *pages],
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


_ENTRY = re.compile(
    r'<div class="doc doc-object doc-(?P<kind>\w+)">\s*<h\d id="(?P<id>keras_blocks(?:\.\w+)+)"'
)


def _api_entries(site: pathlib.Path) -> dict[str, set[str]]:
    """`{id: kinds}` of every mkdocstrings entry in the built API pages."""
    entries: dict[str, set[str]] = {}
    for html in (site / "api").rglob("*.html"):
        for match in _ENTRY.finditer(html.read_text(encoding="utf-8")):
            entries.setdefault(match["id"], set()).add(match["kind"])
    return entries


def _kind(obj) -> str:
    if inspect.ismodule(obj):
        return "module"
    return "class" if inspect.isclass(obj) else "function"


def test_site_builds_strict(built_site):
    assert (built_site / "index.html").exists()
    assert (built_site / "api" / "blocks" / "index.html").exists()


def test_every_public_name_is_in_the_api_reference(built_site):
    # Each public name has its own entry, `keras_blocks.NAME` exactly, rendering the
    # object itself: a module of the same name (`::: keras_blocks.fine_tune` once showed
    # the module `models/fine_tune.py`, now `models/tuning.py`) or a same-named entry
    # elsewhere does not count.
    entries = _api_entries(built_site)
    assert len(entries) >= 50, sorted(entries)  # the pattern still matches the HTML
    problems = []
    for name in keras_blocks.__all__:
        expected = _kind(getattr(keras_blocks, name))
        kinds = entries.get(f"keras_blocks.{name}")
        if kinds is None:
            problems.append(f"{name}: no entry (add '::: keras_blocks.{name}' to its page)")
        elif kinds != {expected}:
            problems.append(f"keras_blocks.{name} renders as {sorted(kinds)}, not a {expected}")
    assert not problems, "\n".join(problems)


# Base classes for subclassing, not layers to call (their docstrings say so).
_BASE_CLASSES = {"AffineLayer", "AugmentationLayer", "GeometricLayer"}
_LAYER_SECTIONS = ("Input shape", "Output shape", "Call arguments")


def _public_layers() -> list[str]:
    import keras

    return [
        name for name in keras_blocks.__all__
        if inspect.isclass(getattr(keras_blocks, name))
        and issubclass(getattr(keras_blocks, name), keras.layers.Layer)
        and not issubclass(getattr(keras_blocks, name), keras.Model)
        and name not in _BASE_CLASSES
    ]


def test_every_public_layer_documents_shapes_and_call_arguments():
    # As keras.io's layer pages do: what goes in, what comes out, what `call` takes.
    layers = _public_layers()
    assert len(layers) >= 25, layers
    missing = [
        f"{name}: {section}"
        for name in layers
        for section in _LAYER_SECTIONS
        if f"\n    {section}:\n" not in getattr(keras_blocks, name).__doc__
    ]
    assert not missing, f"layer docstrings without the section: {missing}"


def test_layer_sections_render_as_sections(built_site):
    # griffe turns the sections into titled blocks; check one page's HTML.
    html = (built_site / "api" / "augment" / "index.html").read_text(encoding="utf-8")
    for section in _LAYER_SECTIONS:
        assert f"<summary>{section}</summary>" in html, section
    start = html.index('id="keras_blocks.RandomFlip"')
    entry = html[start:html.index('<div class="doc doc-object doc-', start)]
    assert entry.count("<summary>") >= 4  # the three sections and the Example


def test_entry_pattern_tells_a_module_from_a_function():
    # The check above can fail: a module rendered under a function's name is caught.
    html = (
        '<div class="doc doc-object doc-module">\n\n<h2 id="keras_blocks.fine_tune" '
        'class="doc doc-heading">'
    )
    (match,) = _ENTRY.finditer(html)
    assert (match["kind"], match["id"]) == ("module", "keras_blocks.fine_tune")
    assert _kind(keras_blocks.fine_tune) == "function"
    assert _kind(keras_blocks.ConvBlock) == "class"


def test_api_index_page_is_up_to_date():
    # docs/api/names.md lists every public name A-Z; a new name needs the page rewritten.
    process = subprocess.run(
        [sys.executable, str(DOCS / "scripts" / "api_index.py"), "--check"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, (
        f"run `python docs/scripts/api_index.py`:\n{process.stdout[-2000:]}{process.stderr[-2000:]}"
    )
    text = (DOCS / "api" / "names.md").read_text()
    for name in keras_blocks.__all__:
        assert f"`{name}`" in text, f"{name} is not on docs/api/names.md"


def test_site_header_shows_the_package_version(built_site):
    # Read from keras_blocks.__version__ by docs/scripts/hooks.py, not written twice.
    home = (built_site / "index.html").read_text(encoding="utf-8")
    assert f"keras_blocks {keras_blocks.__version__}" in home
    assert re.search(r"<title>[^<]*keras_blocks " + re.escape(keras_blocks.__version__), home)


def _resolves(dotted: str) -> bool:
    # Import the longest module prefix (a package may re-export a function under its
    # submodule's name), then walk the attributes.
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


@pytest.fixture(scope="session")
def devtools(browser):
    screenshot, base = browser
    with screenshot.Browser() as chromium:
        yield screenshot, base, chromium


@pytest.mark.browser
def test_browser_every_page_loads_offline_without_errors(devtools, built_site):
    # Every page: no JavaScript error, no request leaving the machine (fonts, CDNs), no
    # failed request, every image loaded (decoded, non-zero width), the theme rendered.
    screenshot, base, chromium = devtools
    pages = screenshot.site_pages(built_site)
    assert len(pages) >= 20, pages
    problems, images = [], 0
    for page in pages:
        visit = chromium.visit(base + page, settle=0.3)
        loaded = chromium.evaluate(visit, screenshot.IMAGES_JS, await_promise=True)
        has_theme = chromium.evaluate(visit, "!!document.querySelector('.md-header')")
        chromium.close(visit)
        images += len(loaded)
        where = page or "/"
        problems += [f"{where}: {e}" for e in visit.errors]
        problems += [f"{where}: external request {u}" for u in visit.external]
        problems += [f"{where}: failed {f}" for f in visit.failed]
        problems += [f"{where}: image not loaded {src}" for src, width in loaded if not width]
        if not has_theme:
            problems.append(f"{where}: the theme did not render")
    assert not problems, "\n".join(problems)
    assert images >= 10, images  # the figures were there to check


def _search(devtools, query):
    screenshot, base, chromium = devtools
    visit = chromium.visit(base + "?q=" + query, settle=0.2)
    results = chromium.evaluate(visit, screenshot.SEARCH_JS, await_promise=True)
    chromium.close(visit)
    assert not visit.errors, visit.errors
    return results


@pytest.mark.browser
def test_browser_search_ranks_the_api_entry_first(devtools):
    results = _search(devtools, "ConvBlock")
    # Material groups results by page: the API page first, and its first section the
    # entry itself.
    assert results, "no search results for ConvBlock"
    sections = [(href, title) for href, title in results if "#" in href]
    assert "/api/blocks/" in results[0][0], results[:3]
    assert sections[0][0].endswith("#keras_blocks.ConvBlock"), sections[:3]
    assert sections[0][1] == "keras_blocks.ConvBlock", sections[:3]


@pytest.mark.browser
def test_browser_search_finds_code_names(devtools):
    results = _search(devtools, "sync_batch")
    assert any("/guides/scaling-out/" in href for href, _ in results), results[:5]


@pytest.mark.browser
def test_browser_checks_can_fail(tmp_path):
    # The detectors above pass only if they can fail: a page with an uncaught error, a
    # broken image and an external request.
    screenshot = _require_chromium()
    (tmp_path / "index.html").write_text(
        '<html><body><p>broken</p><img src="missing.png">'
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        "<script>notAFunction();</script></body></html>"
    )
    with screenshot.serve(tmp_path) as base, screenshot.Browser() as chromium:
        visit = chromium.visit(base, settle=0.3)
        loaded = chromium.evaluate(visit, screenshot.IMAGES_JS, await_promise=True)
    assert any("notAFunction" in error for error in visit.errors), visit.errors
    assert visit.external == ["https://fonts.googleapis.com/css?family=Roboto"], visit.requests
    assert any("missing.png" in f and "404" in f for f in visit.failed), visit.failed
    assert [width for _, width in loaded] == [0]


@pytest.mark.browser
def test_js_error_detection_catches_an_uncaught_exception(tmp_path):
    # The screenshot script's detector (console messages of `render`) can fail too.
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
