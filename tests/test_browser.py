"""The chapters with widgets, run in a live JupyterLab by a real headless browser.

JupyterLab is served on 127.0.0.1 (free port, random token) over a scratch copy of the chapters;
Debian's Chromium, driven by Selenium through Debian's chromedriver (no browser download), opens
each chapter that has widgets, runs it in quick mode with *Run All*, waits for the kernel, and
checks: no error output, the setup cell's mode line, every widget rendered with its picture, and
that moving the first slider redraws the picture. Screenshots go to ``_build/browser/``.

Run it alone: ``MEDLAB_QUICK=1 python -m pytest -m browser tests/test_browser.py``. Without
Chromium it is skipped, except where ``MEDLAB_BROWSER_TEST=1`` (``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDGET_CHAPTERS = [p for p in sorted((ROOT / "chapters").glob("*.ipynb"))
                   if "interactive_figure" in p.read_text() or "slice_viewer" in p.read_text()]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
RUN_TIMEOUT = 900  # seconds for one chapter's Run All

pytestmark = pytest.mark.browser

STATE_JS = """
const app = window.jupyterapp, w = app && app.shell.currentWidget;
if (!w || !w.sessionContext || !w.content) return {ready: false};
const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
const cells = w.content.widgets.filter(c => c.model.type === 'code');
const outputs = cells.map(c => c.model.outputs.toJSON());
return {
  ready: !!kernel, status: kernel ? kernel.status : 'none', n: cells.length, path: w.context.path,
  counted: cells.filter(c => c.model.executionCount !== null).length,
  busy: cells.filter(c => (c.node.querySelector('.jp-InputPrompt') || {}).textContent === '[*]:').length,
  errors: outputs.flat().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
  setup: (outputs[0] || []).map(o => o.text || '').join(''),
  widgets: outputs.flat().filter(o => (o.data || {})['application/vnd.jupyter.widget-view+json']).length,
};
"""

ROOTS = ".jp-OutputArea-output > .jupyter-widgets"  # the top-level view of each widget output
PAGE = "window.jupyterapp.shell.currentWidget.node"  # this notebook's tab only, not the others
WIDGETS_JS = f"const ROOTS = '{ROOTS}', page = {PAGE};" + """
const roots = [...page.querySelectorAll(ROOTS)];
const text = [...page.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join(' ');
return {
  roots: roots.map(r => ({
    images: [...r.querySelectorAll('img')].filter(i => i.naturalWidth > 0).length,
    sliders: r.querySelectorAll('.noUi-handle').length,
    selects: r.querySelectorAll('select').length,
    texts: r.querySelectorAll('input[type=number], input[type=text]').length,
  })),
  failed: /Error displaying widget|Loading widget/.test(text),
};
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> Path:
    """JupyterLab settings: render every cell (no windowing), no news pop-up."""
    for name, value in [("notebook-extension/tracker", {"windowingMode": "none"}),
                        ("apputils-extension/notification", {"fetchNews": "false"})]:
        path = folder / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a scratch copy of the chapters, and a headless Chromium."""
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("MEDLAB_BROWSER_TEST") == "1":
            pytest.fail("chromium and chromedriver are required: apt-get install chromium chromium-driver")
        pytest.skip("no chromium/chromedriver on this machine")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "chapters", root / "chapters")  # the browser saves what it runs: never the repo's
    port, token = _free_port(), os.urandom(16).hex()
    env = {**os.environ, "MEDLAB_QUICK": "1", "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(_settings(root / ".settings"))}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed in the finally below
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    driver = None
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not start:\n" + (root / "server.log").read_text()[-3000:])
                time.sleep(1)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(120)
        driver.set_script_timeout(60)
        yield driver, f"http://127.0.0.1:{port}", token
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _wait(driver, predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = driver.execute_script(STATE_JS)
        if predicate(state):
            return state
        time.sleep(2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last state: {state}")


def _picture(driver, root_index: int) -> str:
    return driver.execute_script(
        f"const r = {PAGE}.querySelectorAll('{ROOTS}')[arguments[0]];"
        "const i = r && r.querySelector('img'); return i ? i.src : '';", root_index)


def change_first_control(driver, roots: list[dict]) -> tuple[str, str, str]:
    """Move the first slider (else pick another option, else type a number) of the first widget.

    Returns what was done and the picture's source before and after it.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    index = next(i for i, r in enumerate(roots) if r["sliders"] or r["selects"] or r["texts"])
    root = driver.execute_script(f"return {PAGE};").find_elements(By.CSS_SELECTOR, ROOTS)[index]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", root)
    before = _picture(driver, index)
    if roots[index]["sliders"]:
        handle, what = root.find_element(By.CSS_SELECTOR, ".noUi-handle"), "slider moved"
        handle.click()
        handle.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    elif roots[index]["selects"]:
        select, what = Select(root.find_element(By.CSS_SELECTOR, "select")), "option chosen"
        current = select.first_selected_option.text
        select.select_by_visible_text(next(o.text for o in select.options if o.text != current))
    else:
        box, what = root.find_element(By.CSS_SELECTOR, "input[type=number], input[type=text]"), "number typed"
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys("7", Keys.ENTER)
    deadline = time.time() + 60
    while time.time() < deadline and _picture(driver, index) == before:
        time.sleep(1)
    return what, before, _picture(driver, index)


RUN_ALL_JS = """
const app = window.jupyterapp, w = app.shell.currentWidget;
app.shell.activateById(w.id);
app.commands.execute('notebook:run-all-cells');
"""


def run_all(driver, tries: int = 3) -> None:
    """*Run All* on this chapter's tab, and wait until a cell has started.

    The command acts on the notebook that has focus; a restored tab of the chapter opened before
    once held it (a CI run waited 15 minutes on a Run All that went to that tab). So each chapter
    opens in a workspace of its own, its tab is activated, and the command is repeated if nothing
    starts.
    """
    for _ in range(tries):
        driver.execute_script(RUN_ALL_JS)
        deadline = time.time() + 60
        while time.time() < deadline:
            state = driver.execute_script(STATE_JS)
            if state.get("busy") or state.get("counted") or state.get("status") == "busy":
                return
            time.sleep(2)
    pytest.fail(f"Run All did not start a cell in {tries} tries; last state: {state}")


def test_there_are_widget_chapters():
    assert {p.stem for p in WIDGET_CHAPTERS} >= {"convolution", "evaluation"}


@pytest.mark.parametrize("path", WIDGET_CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_in_jupyterlab(lab, path):
    driver, base, token = lab
    # a workspace of its own, so the tabs of the chapters opened before are not restored
    driver.get(f"{base}/lab/workspaces/{path.stem}/tree/chapters/{path.name}?token={token}")
    _wait(driver, lambda s: s.get("ready") and s["status"] == "idle" and s["path"] == f"chapters/{path.name}",
          180, "the kernel to start")
    run_all(driver)
    state = _wait(driver, lambda s: s.get("errors") or (s["status"] == "idle" and s["busy"] == 0
                                                       and s["counted"] == s["n"]), RUN_TIMEOUT, "Run All")
    shots = ROOT / "_build" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shots / f"{path.stem}.png"))
    assert not state["errors"], f"{path.name}: error output in the browser: {state['errors']}"
    assert "mode: quick" in state["setup"], "the setup cell's mode line is missing"
    deadline = time.time() + 60  # widget views render after the kernel is idle
    while (widgets := driver.execute_script(WIDGETS_JS))["failed"] and time.time() < deadline:
        time.sleep(2)
    roots = widgets["roots"]
    assert not widgets["failed"], f"{path.name}: a widget shows 'Error displaying widget' or never loaded"
    assert state["widgets"] and len(roots) >= state["widgets"], f"{path.name}: widget outputs not shown"
    assert all(r["images"] for r in roots), f"{path.name}: a widget has no picture: {roots}"
    what, before, after = change_first_control(driver, roots)
    driver.save_screenshot(str(shots / f"{path.stem}-control.png"))
    assert before and after != before, f"{path.name}: {what}, but the picture was not redrawn"
