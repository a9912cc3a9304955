"""Shared fixtures. Tests never use the network: downloads are served from 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Trained models are cached (medlab.cache) in a folder of this run, shared by the chapters it
    executes, never the user's: a test must not pass because of an earlier run's model."""
    os.environ["MEDLAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="medlab-cache-")


@pytest.fixture(scope="session")
def book_dir(tmp_path_factory):
    """Output folder of the test build (tests/test_notebooks.py): its jupyter-cache is filled by the
    execution tests, then the book is built into it; tests/test_site.py reads the built pages."""
    return tmp_path_factory.mktemp("book")


@pytest.fixture(autouse=True)
def _keep_matplotlib_settings():
    """medlab.setup applies the book's figure style to matplotlib's global rcParams; a test that
    calls it must not change the figures of the tests after it."""
    import matplotlib

    with matplotlib.rc_context():
        yield


@pytest.fixture
def http_server(tmp_path):
    """Serve files from a temporary folder on 127.0.0.1; yields (base_url, folder)."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty download folder (MEDLAB_DOWNLOAD_DIR), and no MEDLAB_DATA_DIR: the only folder searched."""
    d = tmp_path / "medlab-data"
    d.mkdir()
    monkeypatch.delenv("MEDLAB_DATA_DIR", raising=False)
    monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(d))
    return d


def medmnist_dir() -> Path | None:
    """Folder holding the real MedMNIST files, if this machine has one."""
    env = os.environ.get("MEDLAB_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data" / "medmnist")
    for c in candidates:
        if (c / "pneumoniamnist.npz").is_file():
            return c
    return None
