"""A Colab-like clean room: run every chapter as a reader on Google Colab would (issue #29).

1. Build a Python 3.13 virtual environment holding Colab's versions (``colab/pip-freeze.txt``) of
   every package the book touches: medlab's dependencies and extras that Colab preinstalls, and
   the Jupyter kernel. The environment is cached, keyed by the list, the interpreter and this file.
2. Copy it for the run (hard links), and put a stand-in ``google.colab`` package in it, imported
   by the kernel at start-up (an IPython startup file), so that ``"google.colab" in sys.modules``
   holds as on Colab and every setup cell takes its Colab branch.
3. Clone the commit under test (with the working tree's uncommitted changes to tracked files) and,
   for every chapter, take the install line of its own setup cell, point its URL at that clone
   (``git+file://``), and ask pip what it would install (``--dry-run --report``): a package Colab
   already has (CPU or GPU runtime) at another version is a failure.
4. Execute every chapter in quick mode with that environment's kernel; its setup cell installs
   medlab itself. PyTorch has no CPU wheel for Python 3.13 on the package index these machines
   reach, so where ``import torch`` fails the cells tagged ``needs-torch`` (the PyTorch half of
   *Tools of the trade*) are left out, and only those; the report says how many.

``python colab/cleanroom.py`` runs it all (``--help``). CI (``tests/test_colab.py``, ``.ci/run``)
runs a cheaper variant, ``--ci``: steps 1-3 for every chapter, every setup cell executed (its
install, its imports, ``medlab.setup``), and only the chapters of :data:`CI_EXECUTE` executed whole.
Only the standard library is used here; the chapters are executed by ``colab/_execute.py``
inside the clean environment.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import tomllib

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
FREEZE = HERE / "pip-freeze.txt"
FREEZE_GPU = HERE / "pip-freeze.gpu.txt"
KERNEL_PACKAGES = ("pip", "setuptools", "wheel", "ipykernel", "ipython", "jupyter-client",
                   "jupyter-core", "nbclient", "nbformat", "traitlets", "tornado", "pyzmq")
"""What a notebook kernel needs, at Colab's versions (Colab runs IPython 7 and ipykernel 6)."""
SKIP_TAG = "needs-torch"
"""Cell tag of the cells that need PyTorch (the PyTorch half of *Tools of the trade*)."""
CI_EXECUTE = ("convolution", "images_as_data", "tools")
"""The chapters that CI's variant (``--ci``) executes whole; the others run their setup cell only.
*The convolution* builds its widget with Colab's ipywidgets 7.7.1; *Medical images as data* reads
with pydicom, SimpleITK and nilearn, which only the setup cell installs; *Tools of the trade* leaves
out its PyTorch cells. The whole clean room takes too long for CI's time budget (README, "Google Colab")."""
BUILD_VERSION = "1"
"""Bump when the way the environment is built changes (part of the cache key)."""
STUB = '"""Stand-in for Google Colab\'s package in the clean room: only its presence matters."""\n'


def normalise(name: str) -> str:
    """A distribution name in PEP 503 normal form (``SimpleITK`` -> ``simpleitk``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_versions(path: Path = FREEZE) -> dict[str, str]:
    """``{normalised name: version}`` of a ``pip freeze`` list; ``name @ url`` lines give the
    version in the wheel's file name (``torch-2.11.0+cpu-...whl``) and are left out otherwise."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[normalise(name)] = version.strip()
        elif " @ " in line:
            name, url = (s.strip() for s in line.split(" @ ", 1))
            wheel = unquote(url.rsplit("/", 1)[-1])
            if wheel.endswith(".whl"):
                pins[normalise(name)] = wheel.split("-")[1]
    return pins


def _requirement_name(req: str) -> str:
    return normalise(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req).group(1))


def book_distributions() -> set[str]:
    """Every distribution named in ``pyproject.toml`` (dependencies and every extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {_requirement_name(r) for r in reqs}


def base_requirements(pins: dict[str, str] | None = None) -> list[str]:
    """``name==version`` for what the clean room preinstalls: the book's and the kernel's packages
    that Colab ships, at Colab's versions, except those Colab installs from a URL (PyTorch)."""
    pins = colab_versions() if pins is None else pins
    plain = colab_versions_plain()
    names = book_distributions() | {normalise(n) for n in KERNEL_PACKAGES}
    return sorted(f"{n}=={pins[n]}" for n in names if n in pins and n in plain)


def colab_versions_plain(path: Path = FREEZE) -> set[str]:
    """Names that the freeze list pins with ``==`` (installable from the package index)."""
    return {normalise(line.split("==", 1)[0]) for line in path.read_text().splitlines()
            if "==" in line and not line.lstrip().startswith("#")}


def constraints_text(path: Path = FREEZE) -> str:
    """The freeze list's ``name==version`` lines: constraints for every transitive dependency."""
    return "\n".join(line.strip() for line in path.read_text().splitlines()
                     if "==" in line and not line.lstrip().startswith("#")) + "\n"


def find_python() -> Path:
    """The newest Python 3.13 under pyenv, or ``$MEDLAB_COLAB_PYTHON``."""
    if os.environ.get("MEDLAB_COLAB_PYTHON"):
        return Path(os.environ["MEDLAB_COLAB_PYTHON"])
    roots = []
    try:
        roots.append(Path(subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                                         check=True).stdout.strip()))
    except (OSError, subprocess.CalledProcessError):
        pass
    roots.append(Path.home() / ".pyenv")
    for root in roots:
        found = sorted((root / "versions").glob("3.13.*/bin/python3.13"),
                       key=lambda p: [int(x) for x in re.findall(r"\d+", p.parents[1].name)])
        if found:
            return found[-1]
    exe = shutil.which("python3.13")
    if exe:
        return Path(exe)
    raise FileNotFoundError("no Python 3.13 found (pyenv install 3.13, or set MEDLAB_COLAB_PYTHON)")


def cache_root() -> Path:
    """Where built environments are kept: ``$MEDLAB_COLAB_CACHE`` or ``~/.cache/medlab/colab``."""
    if os.environ.get("MEDLAB_COLAB_CACHE"):
        return Path(os.environ["MEDLAB_COLAB_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "medlab" / "colab"


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(list(map(str, cmd)), check=True, **kwargs)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this project's development virtualenv and path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")}
    env.update(extra)
    return env


def build_base(python: Path | None = None, root: Path | None = None) -> Path:
    """Build (or reuse) the cached environment with Colab's versions; return its folder."""
    python = python or find_python()
    version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    reqs = base_requirements()
    key = hashlib.sha256("\n".join([BUILD_VERSION, version, FREEZE.read_text(), *reqs, STUB])
                         .encode()).hexdigest()[:16]
    base = (root or cache_root()) / f"py{version}-{key}"
    if (base / ".complete").is_file():
        print(f"==> clean room: reusing {base}")
        return base
    shutil.rmtree(base, ignore_errors=True)
    base.parent.mkdir(parents=True, exist_ok=True)
    print(f"==> clean room: building {base} with Python {version} ({len(reqs)} packages at Colab's versions)")
    _run([python, "-m", "venv", base])
    py = base / "bin" / "python"
    env = _clean_env()
    pins = colab_versions()
    _run([py, "-m", "pip", "install", "--quiet", f"pip=={pins['pip']}"], env=env)
    constraints = base / "colab-constraints.txt"
    constraints.write_text(constraints_text())
    _run([py, "-m", "pip", "install", "--quiet", "-c", constraints, *reqs], env=env)
    (base / "requirements-colab.txt").write_text("\n".join(reqs) + "\n")
    (base / ".complete").write_text(key + "\n")
    return base


def copy_env(base: Path, dest: Path) -> Path:
    """A throw-away copy of the base environment (hard links: fast, and the base stays clean)."""
    try:
        _run(["cp", "-al", base, dest])
    except subprocess.CalledProcessError:
        _run(["cp", "-a", base, dest])
    # a stand-in google.colab (only what the book calls: output.enable_custom_widget_manager),
    # written as new files: the hard-linked files of the base are never written to
    py = dest / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    stub = site / "google" / "colab"
    shutil.rmtree(stub, ignore_errors=True)
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(STUB)
    (stub / "output.py").write_text(
        'def enable_custom_widget_manager():\n    """On Colab: lets third-party widgets render."""\n')
    # the IPython profile of the kernel: Colab's kernel has imported google.colab at start-up
    startup = dest / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-google-colab.py").write_text("import google.colab  # noqa: F401  (as on Colab)\n")
    return dest


def clone_under_test(dest: Path, commit: str | None = None) -> str:
    """Clone this repository into ``dest`` at the commit under test; return that commit.

    Without ``commit``, uncommitted changes to tracked files are included (``git stash create``
    makes a commit of them without touching the working tree); untracked files are not.
    """
    sha = subprocess.run(["git", "stash", "create"] if commit is None else ["git", "rev-parse", commit],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    if not sha:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
    _run(["git", "clone", "--quiet", "--shared", "--no-checkout", ROOT, dest])
    _run(["git", "-C", dest, "checkout", "--quiet", "-B", "under-test", sha])
    return sha


def config_release() -> tuple[str, str]:
    """The repository URL and the release the book installs (``_config.yml``, one place)."""
    text = (ROOT / "_config.yml").read_text()
    url = re.search(r"^repository:\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(\S+)", text, re.M).group(1)
    ref = re.search(r"^repository:\n(?:[ \t]+.*\n)*?[ \t]+branch:\s*(\S+)", text, re.M).group(1)
    return url, ref


INSTALL_LINE = re.compile(r"^[ \t]*%pip install (.+)$", re.M)


def setup_install_args(notebook: Path) -> str:
    """The arguments of the ``%pip install`` line of a chapter's setup cell (its first code cell)."""
    cells = json.loads(notebook.read_text())["cells"]
    setup = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    found = INSTALL_LINE.findall(setup)
    if len(found) != 1:
        raise ValueError(f"{notebook.name}: expected one '%pip install' line in the setup cell")
    return found[0].strip()


def repository_pattern() -> str:
    """A regular expression for ``git+<repository>[@<ref>]`` in an install line."""
    return re.escape(f"git+{config_release()[0]}") + r"(?:@[\w./-]+)?"


def rewrite_install(args: str, clone: Path, sha: str) -> str:
    """Point the install line's ``git+<repository>@<release>`` at the local clone and commit."""
    new, n = re.subn(repository_pattern(), f"git+file://{clone}@{sha}", args)
    if n != 1:
        raise ValueError(f"the install line does not name git+{config_release()[0]}: {args}")
    return new


def dry_run(py: Path, args: str, env: dict) -> dict:
    """What pip would install for ``args``: ``{"install": {...}, "changes": [...]}``.

    A change is a package that Colab's CPU or GPU runtime already has at another version.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [str(py), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
               *shlex.split(args)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"install": {}, "changes": [], "error": (proc.stdout + proc.stderr)[-3000:]}
        items = json.loads(report.read_text())["install"]
    install = {normalise(i["metadata"]["name"]): i["metadata"]["version"] for i in items}
    changes = []
    for runtime, path in (("CPU", FREEZE), ("GPU", FREEZE_GPU)):
        for name, version in colab_versions(path).items():
            if name in install and install[name] != version and name != "medlab":
                changes.append(f"{name} {version} -> {install[name]} (Colab {runtime} runtime)")
    return {"install": install, "changes": sorted(set(changes))}


def has_torch(py: Path, env: dict) -> bool:
    return subprocess.run([str(py), "-c", "import torch"], env=env, capture_output=True).returncode == 0


def run(chapters: list[str] | None = None, out: Path | None = None, keep: bool = False,
        timeout: int = 1800, commit: str | None = None, setup_only: bool = False,
        execute: tuple[str, ...] | list[str] | None = None) -> dict:
    """Build the clean room, check every chapter's install line, execute every chapter.

    With ``setup_only``, only the setup cell of each chapter is executed; with ``execute``, the
    chapters it names are executed whole and the others' setup cell only (CI: :data:`CI_EXECUTE`).
    Returns the report (also written to ``out/report.json``): per chapter the packages pip would
    change, whether it executed, its time, the cells left out.
    """
    t0 = time.perf_counter()
    out = Path(out or ROOT / "_build" / "colab-cleanroom")
    out.mkdir(parents=True, exist_ok=True)
    base = build_base()
    t_base = time.perf_counter() - t0
    work = Path(tempfile.mkdtemp(prefix="medlab-colab-"))
    report = {"python": base.name, "base_seconds": round(t_base, 1), "chapters": {}}
    try:
        venv = copy_env(base, work / "venv")
        py = venv / "bin" / "python"
        clone = work / "repo"
        sha = clone_under_test(clone, commit)
        report["commit"] = sha
        env = _clean_env(
            MEDLAB_QUICK="1", IPYTHONDIR=str(venv / "ipython"), VIRTUAL_ENV=str(venv),
            PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            MEDLAB_CACHE_DIR=str(work / "model-cache"), PYTHONNOUSERSITE="1",
            MPLBACKEND="agg")
        torch_ok = has_torch(py, env)
        report["torch"] = torch_ok
        paths = sorted((clone / "chapters").glob("*.ipynb"))
        if chapters:
            paths = [p for p in paths if p.stem in chapters]
        for path in paths:
            whole = not setup_only and (execute is None or path.stem in execute)
            entry: dict = {"executed": "whole" if whole else "setup cell"}
            report["chapters"][path.stem] = entry
            args = rewrite_install(setup_install_args(path), clone, sha)
            entry["install_line"] = args
            check = dry_run(py, args, env)
            entry["pip_would_change"] = check["changes"]
            if "error" in check:
                entry["pip_error"] = check["error"]
            t = time.perf_counter()
            proc = subprocess.run(
                [str(py), str(HERE / "_execute.py"), str(path), str(out / f"{path.stem}.ipynb"),
                 json.dumps({"pattern": repository_pattern(), "new": f"git+file://{clone}@{sha}"}),
                 "" if torch_ok else SKIP_TAG, str(timeout)],
                env={**env, "MEDLAB_COLAB_SETUP_ONLY": "0" if whole else "1"}, capture_output=True, text=True)
            entry["seconds"] = round(time.perf_counter() - t, 1)
            result = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
            try:
                entry.update(json.loads(result))
            except json.JSONDecodeError:
                entry["error"] = (proc.stdout + proc.stderr)[-3000:]
            entry["ok"] = proc.returncode == 0 and not entry.get("error") and not check["changes"] \
                and "error" not in check
            print(f"==> {path.stem} ({entry['executed']}): {'ok' if entry['ok'] else 'FAILED'} "
                  f"in {entry['seconds']:.0f} s"
                  + (f"; pip would change {', '.join(check['changes'])}" if check["changes"] else "")
                  + (f"; left out {entry.get('skipped_cells')} cells tagged {SKIP_TAG}"
                     if entry.get("skipped_cells") else "")
                  + (f"\n{entry['error'][-1500:]}" if entry.get("error") else ""), flush=True)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"==> kept {work}")
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["ok"] = bool(report["chapters"]) and all(e["ok"] for e in report["chapters"].values())
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(f"==> clean room: {sum(e['ok'] for e in report['chapters'].values())} of "
          f"{len(report['chapters'])} chapters ok in {report['seconds']:.0f} s "
          f"(environment {report['base_seconds']:.0f} s); report in {out / 'report.json'}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter slugs (default: all)")
    parser.add_argument("--out", type=Path, help="folder for the report and executed notebooks")
    parser.add_argument("--keep", action="store_true", help="keep the run's environment and clone")
    parser.add_argument("--build-only", action="store_true", help="only build the cached environment")
    parser.add_argument("--commit", help="test this commit instead of the working tree")
    parser.add_argument("--setup-only", action="store_true", help="execute only each chapter's setup cell")
    parser.add_argument("--ci", action="store_true",
                        help=f"CI's variant: every setup cell, and only {', '.join(CI_EXECUTE)} whole")
    args = parser.parse_args(argv)
    if args.build_only:
        print(build_base())
        return 0
    report = run(args.chapters, args.out, args.keep, commit=args.commit, setup_only=args.setup_only,
                 execute=CI_EXECUTE if args.ci else None)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
