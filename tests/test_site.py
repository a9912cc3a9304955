"""The built book as a reader's browser shows it, with no network (issue #28).

The site is served from 127.0.0.1 and opened in Debian's headless Chromium with every other host
unresolvable (``--host-resolver-rules``); Chromium's network log lists every request a page makes.

*Offline* (must pass): on every page of the book, each formula is typeset by MathJax (no raw
``\\(``, ``$$`` left, no MathJax error), each embedded widget is drawn by the ipywidgets manager
with its picture, and no request leaves 127.0.0.1. A minimal two-page book (a formula, a widget,
a glued figure) is built and checked the same way, so the offline setup is tested even without
the whole book.

*Layout* (a known-failures list that can only shrink, ``tests/known_failures.py``): at a 1300 px
window, no figure's smallest text below :data:`medlab.viz.MIN_TEXT_PX` (measured from the SVG's
font sizes and the size the page shows the image at; for matplotlib PNGs estimated from their dpi
and the style's 12 pt), and no code block that scrolls sideways (every fold and dropdown opened
first); at a 390 px window, no page wider than the window. The list for quick-mode builds is
``tests/known-failures/site_quick.json``.

The whole book comes from the ``-W`` build of ``tests/test_notebooks.py`` in the same session
(this file runs after it), or from ``MEDLAB_SITE_HTML=<folder with index.html>``, e.g.
``_build/quick/_build/html`` after ``MEDLAB_QUICK=1 bash scripts/build.sh``. Alone:
``MEDLAB_SITE_HTML=_build/quick/_build/html python -m pytest -m browser tests/test_site.py``.
``python tests/test_site.py SITE`` prints the layout report by page (``--record`` also writes it
as the known-failures list: only when the list is introduced, never to hide a new violation).
Screenshots go to ``_build/browser/site/``.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from known_failures import compare

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SHOTS = ROOT / "_build" / "browser" / "site"
WIDE, NARROW = 1300, 390  # window widths of the checks (the reader review of issue #28 used these)
ASSUMED_PNG_PT = 12.0  # smallest font assumed in a matplotlib PNG (the style's; a PNG has no text sizes)


# --- serving and browsing -------------------------------------------------------------------------

@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port); yields the base URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def need_chromium() -> None:
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("MEDLAB_BROWSER_TEST") == "1":
            pytest.fail("chromium and chromedriver are required: apt-get install chromium chromium-driver")
        pytest.skip("no chromium/chromedriver on this machine")


@contextlib.contextmanager
def offline_chromium(width: int = WIDE, height: int = 1000):
    """Headless Chromium that can reach 127.0.0.1 only, with its network log on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={width},{height}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-features=OptimizationHints,MediaRouter,Translate"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def requests_made(driver) -> list[str]:
    """URLs of every request since the last call (Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def external(urls: list[str], base: str) -> list[str]:
    local = (base + "/", "blob:", "data:", "about:", "chrome:", "devtools:")
    return sorted({u for u in urls if not u.startswith(local)})


READY_JS = """
const done = arguments[arguments.length - 1];
const mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
(mj || Promise.resolve()).then(() => done(!!mj), () => done(!!mj));
"""

OFFLINE_JS = r"""
const art = document.querySelector('.bd-article') || document.body;
const skip = 'pre, code, script, style, mjx-container, .highlight, textarea';
const raw = [];
const walker = document.createTreeWalker(art, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.parentElement.closest(skip)) continue;
  const t = n.textContent;
  if (/\\\(|\\\[|\$\$|(^|[^\\])\$[^$\s][^$]*[^\\\s]\$/.test(t)) raw.push(t.trim().slice(0, 80));
}
const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
const drawn = views.map(v => {
  const area = v.previousElementSibling;
  const root = area && area.classList.contains('widget-subarea')
    ? area.querySelector('.jupyter-widgets') : null;
  const pictures = root ? [...root.querySelectorAll('img')].filter(i => i.naturalWidth > 0) : [];
  const controls = root ? root.querySelectorAll('.widget-slider, .widget-dropdown, select, input') : [];
  return {drawn: !!root, pictures: pictures.length, controls: controls.length};
});
return {
  math: art.querySelectorAll('.math').length,
  typeset: art.querySelectorAll('.math mjx-container, mjx-container').length,
  untypeset: [...art.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container')).length,
  errors: art.querySelectorAll('mjx-merror').length,
  raw: raw.slice(0, 5),
  views: drawn,
  failed: /Error displaying widget|Loading widget/.test(art.innerText),
};
"""


def open_page(driver, url: str, settle: float = 0.5) -> None:
    driver.get(url)
    deadline = time.time() + 60
    while driver.execute_script("return document.readyState") != "complete" and time.time() < deadline:
        time.sleep(0.2)
    driver.execute_async_script(READY_JS)
    time.sleep(settle)


def wait_for_widgets(driver, timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while True:
        state = driver.execute_script(OFFLINE_JS)
        if all(v["drawn"] for v in state["views"]) or time.time() > deadline:
            return state
        time.sleep(0.5)


def offline_problems(page: str, state: dict, leaked: list[str]) -> list[str]:
    """What is wrong with one page read offline (an empty list when nothing is)."""
    problems = []
    if state["untypeset"] or state["math"] and not state["typeset"]:
        problems.append(f"{page}: {state['untypeset']} of {state['math']} formulas not typeset by MathJax")
    if state["errors"]:
        problems.append(f"{page}: {state['errors']} MathJax errors")
    if state["raw"]:
        problems.append(f"{page}: raw TeX left in the text: {state['raw']}")
    if state["failed"] or not all(v["drawn"] for v in state["views"]):
        problems.append(f"{page}: widgets not drawn: {state['views']}")
    if leaked:
        problems.append(f"{page}: requests that left 127.0.0.1: {leaked[:5]}")
    return problems


# --- measuring figures -----------------------------------------------------------------------------

def png_info(data: bytes) -> dict:
    """Width, height, dpi (pHYs chunk, else None) and the ``Software`` text of a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    info, pos = {"dpi": None, "software": ""}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            info["width"], info["height"] = struct.unpack(">II", body[:8])
        elif kind == b"pHYs" and body[8] == 1:  # pixels per metre
            info["dpi"] = struct.unpack(">I", body[:4])[0] * 0.0254
        elif kind in (b"tEXt", b"iTXt") and body.startswith(b"Software\0"):
            info["software"] = body.split(b"\0")[-1].decode("latin-1")
        elif kind == b"IEND":
            break
        pos += 12 + length
    return info


def smallest_text(data: bytes, shown_width: float) -> tuple[float | None, str]:
    """Smallest text of an image shown ``shown_width`` CSS px wide: (px or None, how it was found)."""
    from medlab.viz import svg_text_sizes

    head = data[:400].lstrip()
    if head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head:
        units, sizes = svg_text_sizes(data.decode("utf-8", "replace"))
        if not sizes:
            return None, "svg without text elements"
        return min(sizes) * shown_width / units, "svg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        info = png_info(data)
        if "matplotlib" not in info["software"].lower():
            return None, "png, not a matplotlib figure"
        dpi = info["dpi"] or 100.0
        px = ASSUMED_PNG_PT * dpi / 72 * shown_width / info["width"]
        return px, f"png at {dpi:.0f} dpi, {ASSUMED_PNG_PT:g} pt assumed"
    return None, "raster, not measured"


WHERE_JS = r"""
function where(el) {  // the nearest named place: a figure, an exercise or solution, a section
  const fig = el.closest('figure[id]');
  if (fig) return '#' + fig.id;
  const box = el.closest('.admonition[id]');
  if (box) return '#' + box.id.split('/').pop();
  let sec = el.closest('section[id]');
  while (sec && sec.id === 'solution-content') sec = sec.parentElement.closest('section[id]');
  return '§' + (sec ? sec.id : 'page');
}
"""

OPEN_ALL_JS = """
document.querySelectorAll('details').forEach(d => d.open = true);
document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
"""

ELEMENTS_JS = WHERE_JS + r"""
const art = document.querySelector('.bd-article') || document.body;
const images = [...art.querySelectorAll('img')].filter(i => i.getBoundingClientRect().width > 0).map(i => ({
  where: where(i), src: i.currentSrc || i.src, shown: i.getBoundingClientRect().width,
  natural: i.naturalWidth, widget: !!i.closest('.jupyter-widgets')}));
const code = [...art.querySelectorAll('pre')].filter(p => p.clientWidth > 0).map(p => ({
  where: where(p),
  kind: p.closest('.cell_input') ? (p.closest('details') ? 'folded input' : 'input')
        : p.closest('.cell_output, .output') ? 'output' : 'literal',
  first: (p.textContent.split('\n').find(l => l.trim()) || '').trim().slice(0, 200),
  over: p.scrollWidth - p.clientWidth}));
return {images, code};
"""

WIDTH_JS = WHERE_JS + r"""
// Content wider than the window that is not inside a box of its own that scrolls sideways: the
// page scrolls sideways, or (the theme clips the body) the content is cut off. The theme's own
// off-screen parts (skip link, closed side bars) are not content and are not measured.
const W = document.documentElement.clientWidth;
const art = document.querySelector('.bd-article') || document.body;
function inScrollBox(el) {
  for (let a = el.parentElement; a && a !== art.parentElement; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll') return true;
  }
  return false;
}
const wide = [...art.querySelectorAll('*')].filter(e => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.right > W + 1 && !inScrollBox(e) && !e.closest('mjx-assistive-mml')
    && getComputedStyle(e).visibility !== 'hidden';
});
const outer = wide.filter(e => !wide.includes(e.parentElement));
const over = Math.round(Math.max(0, ...outer.map(e => e.getBoundingClientRect().right - W)));
const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
  (e.classList.length ? '.' + [...e.classList].slice(0, 2).join('.') : '');
return {over, culprits: outer.slice(0, 4).map(e => name(e) + ' in ' + where(e))};
"""


def fetch_bytes(driver, src: str, site: Path) -> bytes:
    parsed = urlparse(src)
    if parsed.scheme in ("http", "https") and parsed.hostname == "127.0.0.1":
        return (site / unquote(parsed.path).lstrip("/")).read_bytes()
    if parsed.scheme == "data":
        head, _, payload = src.partition(",")
        return base64.b64decode(payload) if head.endswith(";base64") else unquote(payload).encode()
    encoded = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => {
          let s = ''; const u = new Uint8Array(b);
          for (let i = 0; i < u.length; i += 0x8000)
            s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
          done(btoa(s)); }, () => done(''));""", src)
    return base64.b64decode(encoded)


def _numbered(items: list[tuple[str, str]]) -> list[str]:
    """Keys made unique on a page by numbering repeats: 'x', 'x (2)', ..."""
    seen: Counter = Counter()
    keys = []
    for where, what in items:
        seen[(where, what)] += 1
        n = seen[(where, what)]
        keys.append(f"{where} {what}" + (f" ({n})" if n > 1 else ""))
    return keys


def layout_violations(driver, base: str, site: Path, pages: list[str],
                      min_px: float | None = None) -> dict[str, dict[str, str]]:
    """``{page: {element: what is wrong}}`` for the three layout checks (see the module doc)."""
    from medlab.viz import MIN_TEXT_PX

    min_px = MIN_TEXT_PX if min_px is None else min_px
    found: dict[str, dict[str, str]] = {}
    driver.set_window_size(WIDE, 1000)
    for page in pages:
        open_page(driver, f"{base}/{page}.html")
        driver.execute_script(OPEN_ALL_JS)
        time.sleep(0.3)
        elements = driver.execute_script(ELEMENTS_JS)
        out = found.setdefault(page, {})
        images = elements["images"]
        keys = _numbered([(im["where"], "widget picture" if im["widget"] else "image") for im in images])
        for key, im in zip(keys, images, strict=True):
            px, how = smallest_text(fetch_bytes(driver, im["src"], site), im["shown"])
            if px is not None and px < min_px - 1e-6:
                out[f"figure text: {key}"] = (f"{px:.1f} px < {min_px:g} "
                                              f"({how}; shown at {im['shown']:.0f} px)")
        code = elements["code"]
        # digits vary between runs (timings, seeds of quick mode): keys keep the words only, cut
        # after the digits are collapsed (else a longer number pushes a word out of the key)
        keys = _numbered([(c["where"], f"{c['kind']} `{re.sub(r'[0-9]+', '#', c['first'])[:50]}`")
                          for c in code])
        for key, c in zip(keys, code, strict=True):
            if c["over"] > 1:
                out[f"code scrolls: {key}"] = f"{c['over']} px too wide"
    # a phone: 390 CSS px, overlay scrollbars (a desktop window that narrow would lose 15 px to
    # its scrollbar and flag every full-width element)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": NARROW, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    for page in pages:
        open_page(driver, f"{base}/{page}.html", settle=0.2)
        width = driver.execute_script(WIDTH_JS)
        if width["over"] > 1:
            found.setdefault(page, {})[f"page wider than {NARROW} px"] = (
                f"{width['over']} px too wide: {', '.join(width['culprits']) or '?'}")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return {p: v for p, v in found.items() if v}


def book_pages(site: Path) -> list[str]:
    """Every page of the book (no search, index or source pages), without '.html'."""
    skip = {"search", "genindex", "py-modindex"}
    pages = [p.relative_to(site).with_suffix("").as_posix() for p in site.rglob("*.html")]
    return sorted(p for p in pages if p not in skip and not p.startswith(("_", ".")))


def site_mode(site: Path) -> str:
    text = (site / "intro.html").read_text() if (site / "intro.html").is_file() else ""
    pages = [text] + [p.read_text() for p in sorted((site / "chapters").glob("*.html"))[:1]]
    return "quick" if any("mode: quick" in t for t in pages) else "full"


def report(found: dict[str, dict[str, str]]) -> str:
    """Counts per page and check, then every violation."""
    checks = ("figure text", "code scrolls", "page wider")
    lines = [f"{'page':<34}" + "".join(f"{c:>14}" for c in checks)]
    totals = Counter()
    for page, entries in sorted(found.items()):
        counts = Counter(next(c for c in checks if k.startswith(c)) for k in entries)
        totals.update(counts)
        lines.append(f"{page:<34}" + "".join(f"{counts[c]:>14}" for c in checks))
    lines.append(f"{'total':<34}" + "".join(f"{totals[c]:>14}" for c in checks))
    for page, entries in sorted(found.items()):
        lines += [f"\n{page}"] + [f"  {k}: {v}" for k, v in sorted(entries.items())]
    return "\n".join(lines)


# --- the whole book ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(request) -> Path:
    """The built book: this session's -W test build, else MEDLAB_SITE_HTML."""
    need_chromium()
    env = os.environ.get("MEDLAB_SITE_HTML")
    if env:
        path = Path(env).resolve()
        if not (path / "index.html").is_file():
            pytest.fail(f"MEDLAB_SITE_HTML={env} holds no built book (no index.html)")
        return path
    book_dir = request.getfixturevalue("book_dir")
    path = book_dir / "_build" / "html"
    if not (path / "index.html").is_file():
        pytest.skip("no book built in this session: run the whole suite, or set MEDLAB_SITE_HTML")
    return path


@pytest.fixture(scope="module")
def browser(site):
    with serve(site) as base, offline_chromium() as driver:
        yield driver, base


@pytest.mark.browser
def test_every_page_reads_offline(site, browser):
    """Maths typeset, widgets drawn and nothing fetched from another host, on every page."""
    driver, base = browser
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems, maths, widgets = [], 0, 0
    requests_made(driver)
    for page in book_pages(site):
        open_page(driver, f"{base}/{page}.html")
        state = wait_for_widgets(driver)
        problems += offline_problems(page, state, external(requests_made(driver), base))
        maths += state["typeset"]
        widgets += len(state["views"])
        if state["views"] or page == "chapters/convolution":  # the first widget (or formula) in view
            driver.execute_script("const e = document.querySelector('.widget-subarea') || "
                                  "document.querySelector('.bd-article mjx-container'); "
                                  "if (e) e.scrollIntoView({block: 'center'});")
            driver.save_screenshot(str(SHOTS / f"{page.replace('/', '-')}.png"))
    assert not problems, "\n".join(problems)
    assert maths > 0 and widgets > 0, f"the book should have formulas ({maths}) and widgets ({widgets})"


@pytest.mark.browser
def test_layout_known_failures_only_shrink(site, browser):
    """Figure text, code blocks and page width: no violation beyond tests/known-failures/site_<mode>.json."""
    driver, base = browser
    found = layout_violations(driver, base, site, book_pages(site))
    out = ROOT / "_build" / "site-report.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report(found) + "\n")
    print(report(found).split("\n\n")[0])
    compare(f"site_{site_mode(site)}", found, same=lambda k, f: True, what="layout violations")


# --- a minimal book, built here ---------------------------------------------------------------------

MATHS_PAGE = r"""# Maths

Inline $\hat y = \sigma(w^\top x + b)$ and a display:

$$
\mathcal{L}(w) = -\frac{1}{N}\sum_{i=1}^{N} y_i \log \hat y_i + (1 - y_i) \log (1 - \hat y_i)
$$
"""

WIDGET_CELLS = [
    "# Widget\n\nA formula in a notebook: $x^2$.",
    "import ipywidgets as widgets\nimport matplotlib.pyplot as plt\nimport numpy as np\n\nimport medlab\n"
    "from medlab.viz import interactive_figure\n\ninfo = medlab.setup(seed=0)",
    "def render(k):\n    fig, ax = plt.subplots(figsize=(5, 3))\n    ax.plot(np.arange(10) ** k)\n"
    "    ax.set_xlabel('x (mm)')\n    return fig\n\n\n"
    "interactive_figure(render, [widgets.IntSlider(value=1, min=1, max=3)])",
    "fig, ax = plt.subplots()\nax.plot([0, 1, 4])\nax.set_xlabel('epoch')\nax.set_ylabel('loss')\n"
    "medlab.glue('fig_loss', fig, display=False)\nplt.close(fig)",
    "```{glue:figure} fig_loss\n:name: fig-loss\n:alt: a rising line\n\nThe loss.\n```",
]


@pytest.fixture(scope="module")
def mini_book(tmp_path_factory) -> Path:
    """A two-page book with the repository's _config.yml and assets: a formula, a widget, a figure."""
    import nbformat
    import yaml

    need_chromium()
    if not (ROOT / "_assets").is_dir():
        pytest.fail("no _assets: run python tools/static_assets.py (scripts/test.sh does)")
    src = tmp_path_factory.mktemp("mini-book")
    from tools.book_config import portable_config

    config = portable_config()  # the book's, its folder-relative paths made absolute
    config["execute"]["execute_notebooks"] = "force"
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy(ROOT / "references.bib", src / "references.bib")
    (src / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n- file: maths\n- file: widget\n")
    (src / "index.md").write_text("# A minimal book\n\nTwo pages.\n")
    (src / "maths.md").write_text(MATHS_PAGE)
    cells = [nbformat.v4.new_markdown_cell(WIDGET_CELLS[0])]
    cells += [nbformat.v4.new_code_cell(c) for c in WIDGET_CELLS[1:4]]
    cells.append(nbformat.v4.new_markdown_cell(WIDGET_CELLS[4]))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src / "widget.ipynb")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(src), "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return src / "_build" / "html"


@pytest.mark.browser
def test_minimal_book_reads_offline(mini_book):
    """The repository's configuration serves MathJax and the widget scripts from the site."""
    page = (mini_book / "widget.html").read_text()
    assert "cdn.jsdelivr.net" not in page and "cdnjs" not in page and "unpkg.com/@jupyter" not in page
    assert "_static/vendor/mathjax-" in page and "_static/vendor/html-manager-" in page
    with serve(mini_book) as base, offline_chromium() as driver:
        requests_made(driver)
        states = {}
        for name in ("maths", "widget"):
            open_page(driver, f"{base}/{name}.html")
            states[name] = wait_for_widgets(driver)
            problems = offline_problems(name, states[name], external(requests_made(driver), base))
            assert not problems, problems
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / "minimal-widget.png"))
        assert states["maths"]["typeset"] >= 2 and states["widget"]["typeset"] >= 1
        views = states["widget"]["views"]
        assert [v["drawn"] and v["pictures"] == 1 and v["controls"] >= 1 for v in views] == [True]
        elements = driver.execute_script(ELEMENTS_JS)  # at the 1300 px window
        found = layout_violations(driver, base, mini_book, ["maths", "widget"])
        assert not found, found
    # the glued figure is an SVG in the book's style, shown at its natural size: 12 pt = 16 px
    figure = next(im for im in elements["images"] if im["where"] == "#fig-loss")
    assert figure["src"].endswith(".svg")
    svg = (mini_book / urlparse(figure["src"]).path.lstrip("/")).read_bytes()
    px, how = smallest_text(svg, figure["shown"])
    assert how == "svg" and px == pytest.approx(16.0, abs=0.05)


@pytest.mark.browser
def test_offline_check_catches_a_cdn_page(tmp_path):
    """The offline check fails a page that loads MathJax from a CDN (no test that cannot fail)."""
    need_chromium()
    (tmp_path / "cdn.html").write_text(
        "<html><body><article class='bd-article'><p><span class='math'>\\(x^2\\)</span></p></article>"
        "<script src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js'></script></body></html>")
    with serve(tmp_path) as base, offline_chromium() as driver:
        requests_made(driver)
        open_page(driver, f"{base}/cdn.html")
        problems = offline_problems("cdn", wait_for_widgets(driver), external(requests_made(driver), base))
    assert any("not typeset" in p for p in problems) and any("left 127.0.0.1" in p for p in problems)
    assert any("raw TeX" in p for p in problems)


@pytest.mark.browser
def test_layout_checks_catch_small_text_wide_code_and_wide_pages(tmp_path):
    """Each layout check flags a page built to fail it."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    need_chromium()
    fig, ax = plt.subplots(figsize=(14, 4))  # twice the column: 10 pt text shown at about 6.7 px
    ax.plot([0, 1])
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    (tmp_path / "small.svg").write_text(buf.getvalue())
    (tmp_path / "bad.html").write_text(
        "<html><head><meta name='viewport' content='width=device-width'></head><body>"
        "<article class='bd-article' style='max-width: 700px'><section id='s'>"
        "<img src='small.svg' style='max-width: 100%'>"
        "<div class='cell_input'><pre style='overflow: auto'>" + "x" * 200 + "</pre></div>"
        "<table style='width: 600px'><tr><td>wide</td></tr></table></section></article></body></html>")
    with serve(tmp_path) as base, offline_chromium() as driver:
        found = layout_violations(driver, base, tmp_path, ["bad"])["bad"]
    assert any(k.startswith("figure text: §s image") for k in found), found
    assert any(k.startswith("code scrolls: §s input `xxx") for k in found), found
    assert any(k.startswith("page wider than 390 px") and "table" in v for k, v in found.items()), found


def test_png_and_svg_measurements():
    from medlab.viz import svg_text_sizes

    svg = '<svg width="360pt" height="100pt" viewBox="0 0 360 100"><text style="font-size: 12px">a</text>' \
          '<text style="font: 9px \'DejaVu Sans\'">b</text></svg>'
    assert svg_text_sizes(svg) == (360.0, [12.0, 9.0])
    px, how = smallest_text(svg.encode(), 480)  # natural size: 360 pt = 480 px
    assert how == "svg" and px == pytest.approx(12.0)
    with pytest.raises(ValueError, match="viewBox"):
        svg_text_sizes("<svg><text>a</text></svg>")
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    info = png_info(buf.getvalue())
    assert (info["width"], round(info["dpi"])) == (360, 90) and "Matplotlib" in info["software"]
    px, how = smallest_text(buf.getvalue(), 360)
    assert px == pytest.approx(ASSUMED_PNG_PT * 90 / 72, rel=1e-3) and how.startswith("png at 90 dpi")


if __name__ == "__main__":  # python tests/test_site.py SITE [--record]: the layout report of a built book
    sys.path.insert(0, str(ROOT))
    folder = Path(sys.argv[1]).resolve()
    with serve(folder) as base, offline_chromium() as drv:
        violations = layout_violations(drv, base, folder, book_pages(folder))
    print(report(violations))
    if "--record" in sys.argv[2:]:  # only when the list is (re)introduced, e.g. after a rebase
        from known_failures import save

        print("written:", save(f"site_{site_mode(folder)}", violations))
