"""The package a reader installs: built as a wheel, it holds medlab and nothing of the workshop.

The wheel is built from a copy of the files the build reads (so nothing is written into the
checkout), unpacked into a temporary folder, and every module of it is imported in a fresh Python
whose working directory and ``PYTHONPATH`` exclude the checkout: a module that needs a file the
wheel lacks (a registry, a table) or a module of ``tools/`` fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "medlab", src / "medlab", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                           "--quiet", "-w", str(out)], cwd=src, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("medlab-*.whl")
    return path


def test_the_wheel_holds_the_package_and_nothing_of_the_workshop(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"medlab", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert not [n for n in names if "bench" in n or "classroom" in n or n.startswith("tools")]
    for data in ("medmnist_registry.json", "bccd_registry.json", "msd_hippocampus_registry.json",
                 "ps315_basic_profile.json"):
        assert f"medlab/{data}" in names, data
    assert "medlab/exercises/background.py" in names


def test_every_module_of_the_wheel_imports_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = f"""
import importlib, importlib.util, json, pkgutil, sys
import medlab
assert medlab.__file__.startswith({str(site)!r}), medlab.__file__
light = "tensorflow" not in sys.modules and "keras" not in sys.modules
names = sorted(m.name for m in pkgutil.walk_packages(medlab.__path__, "medlab."))
for name in names:
    importlib.import_module(name)
print(json.dumps({{"light": light, "modules": names, "version": medlab.__version__,
                  "tools": importlib.util.find_spec("tools") is not None,
                  "tf_after_all": "tensorflow" in sys.modules}}))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["light"], "import medlab must not import TensorFlow"
    assert not result["tf_after_all"], "no medlab module may import TensorFlow when imported"
    assert not result["tools"], "the workshop (tools/) must not be importable from an installed medlab"
    assert {"medlab.train", "medlab.segmentation", "medlab.validate", "medlab.cache",
            "medlab.exercises.unet"} <= set(result["modules"])
    assert not [m for m in result["modules"] if "bench" in m or "classroom" in m]
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "medlab" / "_version.py").read_text()).group(1)
    assert result["version"] == version and wheel.name.startswith(f"medlab-{version}-")  # one source
