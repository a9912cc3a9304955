"""Quick/full mode, seeding, glue, and the promise that `import medlab` is fast and light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import medlab
from medlab import env


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("YES", True), ("0", False),
                                          ("", False), ("off", False)])
def test_quick_mode_values(monkeypatch, value, quick):
    monkeypatch.setenv("MEDLAB_QUICK", value)
    assert env.is_quick() is quick
    assert env.pick(full=10, quick=1) == (1 if quick else 10)


def test_quick_mode_default_is_full(monkeypatch):
    monkeypatch.delenv("MEDLAB_QUICK", raising=False)
    assert env.is_quick() is False
    assert env.mode_name() == "full"


def test_quick_mode_rejects_garbage(monkeypatch):
    monkeypatch.setenv("MEDLAB_QUICK", "maybe")
    with pytest.raises(ValueError, match="MEDLAB_QUICK"):
        env.is_quick()


def test_seed_everything_is_deterministic():
    env.seed_everything(3)
    a = np.random.rand(5)
    env.seed_everything(3)
    assert np.array_equal(a, np.random.rand(5))
    with pytest.raises(ValueError):
        env.seed_everything(-1)


def test_setup_reports_mode_and_device(monkeypatch, capsys):
    monkeypatch.setenv("MEDLAB_QUICK", "1")
    info = medlab.setup(seed=1)
    out = capsys.readouterr().out
    assert info.mode == "quick" and "mode: quick" in out and "device:" in out


def test_glue_converts_numpy_scalars(monkeypatch):
    seen = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: seen.update({name: value}))
    medlab.glue("x", np.float64(0.25))
    assert type(seen["x"]) is float
    assert medlab.env.GLUED["x"] == 0.25 and type(medlab.env.GLUED["x"]) is float  # for claim checks


def test_import_is_fast_and_does_not_load_tensorflow():
    """`import medlab` costs under a second of CPU time (CPU, not wall clock: stable on a busy machine)."""
    code = (
        "import json, sys, time; t = time.process_time(); import medlab; "
        "dt = time.process_time() - t; "
        "print(json.dumps({'seconds': dt, 'tf': 'tensorflow' in sys.modules, "
        "'keras': 'keras' in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert not result["tf"] and not result["keras"]
    assert result["seconds"] < 1.0, result


def test_submodules_load_lazily():
    assert medlab.data.__name__ == "medlab.data"
    with pytest.raises(AttributeError):
        medlab.not_a_module  # noqa: B018


def test_every_public_submodule_is_listed_and_reachable():
    """The lazy list is read from the package folder: compare it with pkgutil and import each."""
    import pkgutil

    public = {m.name for m in pkgutil.iter_modules(medlab.__path__) if not m.name.startswith("_")}
    assert {"cache", "centernet", "segmentation", "validate", "data"} <= public
    assert set(medlab._SUBMODULES) == public and public <= set(dir(medlab))
    for name in public:
        assert getattr(medlab, name).__name__ == f"medlab.{name}"


def test_no_module_imports_names_back_from_the_package():
    """``from medlab import x`` inside the package may name a submodule only (no import cycle
    through ``medlab/__init__.py``, as ``env`` once did for ``__version__``)."""
    import ast
    import pkgutil
    from pathlib import Path

    root = Path(medlab.__file__).parent
    modules = {m.name for m in pkgutil.iter_modules(medlab.__path__)}
    for path in [*root.glob("*.py"), *root.glob("*/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "medlab" and node.level == 0:
                for alias in node.names:
                    assert alias.name in modules, f"{path.name} imports {alias.name!r} from medlab/__init__"
    assert medlab.__version__ == env._version()


def test_doctor_reports_problems_and_advice(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MEDLAB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(medlab.data, "user_cache_dir", lambda: tmp_path / "cache")
    problems = medlab.doctor(check_tensorflow=False)
    out = capsys.readouterr().out
    assert "pneumoniamnist.npz" in out
    assert any("pneumoniamnist.npz not cached" in p and "tools.fetch_data" in p for p in problems)


def _versions():
    import importlib.metadata as md

    return {d.metadata["Name"]: d.version for d in md.distributions() if d.metadata["Name"]}


def test_colab_after_install_reports_nothing_changed(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MEDLAB_DOWNLOAD_DIR", raising=False)
    out = medlab.env.colab_after_install(_versions(), drive=tmp_path / "no-drive")
    assert out == {"added": {}, "changed": {}, "restart": []}
    text = capsys.readouterr().out
    assert "pip added 0 package(s); changed 0" in text and "mount Google Drive" in text
    assert "MEDLAB_DOWNLOAD_DIR" not in os.environ


def test_colab_after_install_asks_for_a_restart_when_an_imported_package_changed(tmp_path, capsys):
    import numpy  # noqa: F401  (imported: a change needs a restart)

    before = _versions()
    numpy_name = next(k for k in before if k.lower() == "numpy")
    before[numpy_name] = "0.0.1"
    before["no-such-imported-package"] = "1.0"  # uninstalled since: not reported as changed
    not_imported = next(k for k in before if k.lower() == "codespell")  # installed, never imported here
    before[not_imported] = "0.0.1"
    removed = next(k for k in before if k.lower() == "pytest")
    del before[removed]
    with pytest.raises(RuntimeError, match=r"Restart the session .* numpy 0\.0\.1 -> ") as err:
        medlab.env.colab_after_install(before, drive=tmp_path / "no-drive")
    assert "codespell" not in str(err.value)
    text = capsys.readouterr().out
    assert f"pip added 1 package(s): {removed}" in text and "codespell 0.0.1 ->" in text


def test_colab_after_install_keeps_downloads_on_a_mounted_drive(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", "")  # restored after the test, whatever the function sets
    monkeypatch.delenv("MEDLAB_DOWNLOAD_DIR")
    medlab.env.colab_after_install(_versions(), drive=tmp_path)
    assert os.environ["MEDLAB_DOWNLOAD_DIR"] == str(tmp_path / "medlab")
    assert medlab.data.user_cache_dir() == tmp_path / "medlab"
    assert "kept in" in capsys.readouterr().out
    with pytest.raises(TypeError, match="before"):
        medlab.env.colab_after_install(["numpy"])
