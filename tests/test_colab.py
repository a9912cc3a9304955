"""Google Colab as Colab ships (issue #29): the setup cells, launch buttons, declared dependencies,
Colab's package list, and the Colab-like clean room that runs every chapter on Colab's versions.

The clean room (``colab/cleanroom.py``) builds a Python 3.13 environment and runs the chapters
there: ``.ci/run`` sets ``MEDLAB_COLAB_TEST=1``, CI's variant (every chapter's install line and
setup cell, three chapters executed whole: ``cleanroom.CI_EXECUTE``); ``MEDLAB_COLAB_TEST=full``
executes every chapter whole; elsewhere it is skipped. Alone:
``MEDLAB_COLAB_TEST=full python -m pytest -m colab tests/test_colab.py``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "colab"))
import cleanroom  # noqa: E402
import set_release  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
URL, REF = CONFIG["repository"]["url"], CONFIG["repository"]["branch"]


def setup_source(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


# ------------------------------------------------------------------ one release, everywhere
def test_release_is_read_the_same_way_by_every_tool():
    assert set_release.read_release() == cleanroom.config_release() == (URL, REF)
    assert REF != "main", "the setup cells must install a release or a commit, not a moving branch"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_setup_cell_is_the_same_in_every_chapter_and_installs_the_configured_release(path):
    block, rest = set_release.split_setup(setup_source(path))
    assert block == set_release.setup_block(URL, REF), \
        f"{path.name}: run `python colab/set_release.py` (the Colab block differs from _config.yml's release)"
    assert cleanroom.setup_install_args(path) == \
        f'--quiet "medlab[book] @ git+{URL}@{REF}"'
    # pip's errors and warnings still show; what it installed or changed, and whether the session
    # must restart (Colab's own notice needs pip's full output), colab_after_install says
    assert "colab_after_install(before)" in block
    assert "medlab.setup(" in rest


def test_launch_buttons_open_the_configured_release():
    launch = CONFIG["launch_buttons"]
    assert launch["colab_url"] == "https://colab.research.google.com"
    # the JupyterLab button needs a BinderHub: mybinder.org builds the binder/ folder
    assert launch["notebook_interface"] == "jupyterlab" and launch["binderhub_url"] == "https://mybinder.org"
    assert (ROOT / "binder" / "requirements.txt").is_file() and (ROOT / "binder" / "runtime.txt").is_file()
    assert re.fullmatch(r"python-3\.\d+", (ROOT / "binder" / "runtime.txt").read_text().strip())
    assert CONFIG["repository"]["path_to_book"] == ""
    readme = (ROOT / "README.md").read_text()
    # the URLs a reader clicks, as Jupyter Book builds them from _config.yml
    owner_repo = URL.removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{owner_repo}/blob/{REF}/chapters/background.ipynb"
    binder = f"https://mybinder.org/v2/gh/{owner_repo}/{REF}"
    assert colab in readme and binder in readme, "README's Colab section must show the launch URLs"
    assert "python colab/set_release.py --url" in readme
    for page in (readme, (ROOT / "CONTRIBUTING.md").read_text()):
        for ref in re.findall(r"git\+https://github\.com/[\w.-]+/[\w.-]+@([\w./-]+)", page):
            assert ref == REF, "a document shows another release than _config.yml's"


def test_set_release_rewrites_config_and_setup_cells(tmp_path, monkeypatch):
    import shutil

    (tmp_path / "chapters").mkdir()
    for name in ("_config.yml", "README.md", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(CHAPTERS[0], tmp_path / "chapters" / CHAPTERS[0].name)
    monkeypatch.setattr(set_release, "ROOT", tmp_path)
    monkeypatch.setattr(set_release, "CONFIG", tmp_path / "_config.yml")
    assert set_release.main(["--url", "https://github.com/someone/book", "--ref", "v9.9"]) == 0
    assert set_release.read_release() == ("https://github.com/someone/book", "v9.9")
    config = yaml.safe_load((tmp_path / "_config.yml").read_text())
    assert config["repository"]["url"] == "https://github.com/someone/book"
    assert config["html"] == CONFIG["html"]
    text = setup_source(tmp_path / "chapters" / CHAPTERS[0].name)
    assert '"medlab[book] @ git+https://github.com/someone/book@v9.9"' in text
    assert set_release.split_setup(text)[1] == set_release.split_setup(setup_source(CHAPTERS[0]))[1]
    for name in ("README.md", "CONTRIBUTING.md"):
        page = (tmp_path / name).read_text()
        assert "medlab-book/" not in page and "someone/book" in page, name
    readme = (tmp_path / "README.md").read_text()
    assert "https://colab.research.google.com/github/someone/book/blob/v9.9/chapters/" in readme
    assert "https://mybinder.org/v2/gh/someone/book/v9.9" in readme
    before = (tmp_path / "chapters" / CHAPTERS[0].name).read_text()
    set_release.main([])  # idempotent
    assert (tmp_path / "chapters" / CHAPTERS[0].name).read_text() == before
    with pytest.raises(ValueError, match="--url"):
        set_release.write_release("git@github.com:x/y", "v1")
    with pytest.raises(ValueError, match="--ref"):
        set_release.write_release("https://github.com/x/y", "v1; rm -rf /")


# ------------------------------------------------------------------ Colab's package list
def test_colab_list_is_the_published_one_unchanged():
    pins = cleanroom.colab_versions()
    assert (ROOT / "colab" / "pip-freeze.txt").read_text().startswith("# Do not modify this file directly")
    assert pins["tensorflow"] == "2.20.0" and pins["keras"] == "3.13.2" and pins["pandas"] == "2.2.3"
    assert pins["numpy"] == "2.1.3" and pins["ipywidgets"] == "7.7.1" and pins["requests"] == "2.32.4"
    assert pins["torch"] == "2.11.0+cpu"  # from the wheel URL of the CPU runtime
    assert cleanroom.colab_versions(cleanroom.FREEZE_GPU)["torch"] == "2.11.0+cu128"
    for absent in ("pydicom", "simpleitk", "nilearn", "dicognito", "pydicom-data"):
        assert absent not in pins


def test_clean_room_preinstalls_colab_versions_of_the_book_packages():
    reqs = dict(r.split("==") for r in cleanroom.base_requirements())
    assert reqs["tensorflow"] == "2.20.0" and reqs["ipykernel"] == "6.17.1" and reqs["pip"] == "24.1.2"
    assert "torch" not in reqs  # Colab installs it from PyTorch's own index: not reachable here
    assert "pydicom" not in reqs and "medlab" not in reqs  # what the setup cell installs


def _requirements() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": project["dependencies"], **project["optional-dependencies"]}


def test_every_range_accepts_colab_versions():
    """Installing medlab[book] on Colab must not change a package Colab ships (CPU or GPU runtime)."""
    from packaging.requirements import Requirement

    for path in (cleanroom.FREEZE, cleanroom.FREEZE_GPU):
        pins = cleanroom.colab_versions(path)
        for group, reqs in _requirements().items():
            for req in map(Requirement, reqs):
                name = cleanroom.normalise(req.name)
                if name in pins:
                    version = pins[name].split("+")[0]
                    assert req.specifier.contains(version, prereleases=True), \
                        f"{req} ({group or 'dependencies'}) rejects Colab's {name} {pins[name]} ({path.name})"


# ------------------------------------------------------------------ every import is declared
OPTIONAL = {"google": "Colab's own package, imported only on Colab",
            "myst_nb": "present only in a book build (medlab.glue falls back without it)"}
IMPORT_TO_DIST = {"sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "pillow",
                  "SimpleITK": "simpleitk", "IPython": "ipython", "yaml": "pyyaml",
                  "jupyter_cache": "jupyter-cache"}


MAGIC_LINE = re.compile(r"^(\s*)(?:%%?[A-Za-z]|!(?!=)).*$", re.M)
"""An IPython magic (``%pip``, ``%%time``) or shell line (``!ls``), not a continuation line that
starts with an operator (``!= b``, ``% 2``)."""


def third_party_imports(source: str) -> set[str]:
    source = MAGIC_LINE.sub(r"\1pass", source)  # IPython magics and shell lines
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("medlab", "__future__")}


def chapter_imports(path: Path) -> set[str]:
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return third_party_imports("\n".join("".join(c["source"]) for c in code))


def _dist(module: str) -> str:
    return cleanroom.normalise(IMPORT_TO_DIST.get(module, module))


def test_every_third_party_import_is_declared():
    """Every chapter's and every medlab module's imports are declared in pyproject.toml (the package
    and its extras); the workshop (``tools/``, not installed) may use requirements.txt instead and is
    not checked here."""
    declared = {cleanroom._requirement_name(r) for reqs in _requirements().values() for r in reqs}
    missing = []
    sources = [(p, chapter_imports(p)) for p in CHAPTERS]
    sources += [(p, third_party_imports(p.read_text())) for p in sorted((ROOT / "medlab").rglob("*.py"))]
    for path, modules in sources:
        missing += [f"{path.relative_to(ROOT)}: {m}" for m in sorted(modules - set(OPTIONAL))
                    if _dist(m) not in declared]
    assert not missing, "undeclared imports:\n" + "\n".join(missing)


def test_mapping_of_import_names_matches_the_installed_distributions():
    """The test's own table (import name -> distribution) agrees with what is installed."""
    providers = importlib.metadata.packages_distributions()
    for module, dist in IMPORT_TO_DIST.items():
        if module in providers:
            assert dist in {cleanroom.normalise(d) for d in providers[module]}, module


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_chapter_imports_what_colab_and_the_setup_cell_do_not_provide(path):
    """On Colab a chapter may import what Colab ships or what ``medlab[book]`` installs."""
    reqs = _requirements()
    provided = {cleanroom._requirement_name(r) for r in reqs[""] + reqs["book"]}
    provided |= set(cleanroom.colab_versions())
    extra = sorted(m for m in chapter_imports(path) - set(OPTIONAL) if _dist(m) not in provided)
    assert not extra, f"{path.name} imports {extra}, neither on Colab nor installed by its setup cell"


def test_import_scanner_sees_imports_inside_blocks_and_skips_magics():
    src = 'import sys\nif x:\n    %pip install "y"\n    import numpy as np\nfrom scipy import ndimage\n!ls\n'
    assert third_party_imports(src) == {"numpy", "scipy"}
    # a continuation line that starts with an operator is code, not a magic
    wrapped = 'import pandas as pd\nsame = (a\n        != b)\nodd = (n\n       % 2)\n'
    assert third_party_imports(wrapped) == {"pandas"}


# ------------------------------------------------------------------ the clean room itself
def test_install_line_is_rewritten_to_the_local_clone():
    args = cleanroom.setup_install_args(CHAPTERS[0])
    new = cleanroom.rewrite_install(args, Path("/tmp/clone"), "abc123")
    assert new == '--quiet "medlab[book] @ git+file:///tmp/clone@abc123"'
    with pytest.raises(ValueError, match="does not name"):
        cleanroom.rewrite_install('"medlab @ git+https://example.org/x"', Path("/tmp"), "abc")


def code_without_strings(source: str) -> str:
    """The names and operators of a cell, without its string literals and comments."""
    import io
    import tokenize

    source = MAGIC_LINE.sub(r"\1pass", source)
    drop = {tokenize.STRING, tokenize.COMMENT} | {getattr(tokenize, n) for n in ("FSTRING_MIDDLE",)
                                                   if hasattr(tokenize, n)}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(t.string for t in tokens if t.type not in drop)


def test_tools_chapter_marks_only_its_pytorch_cells():
    """The clean room may leave out the cells tagged needs-torch, and only those: every cell that
    uses PyTorch carries the tag, and no cell that does not."""
    nb = json.loads((ROOT / "chapters" / "tools.ipynb").read_text())
    tagged = [c for c in nb["cells"] if cleanroom.SKIP_TAG in c["metadata"].get("tags", [])]
    assert 5 <= len(tagged) <= 10
    torch_names = r"\btorch\b|\bnn\.|\bp_torch\b|\btorch_cnn\b|\bauc_torch\b|\btorch_seconds\b"
    for cell in (c for c in nb["cells"] if c["cell_type"] == "code"):
        src = "".join(cell["source"])
        code = code_without_strings(src)  # without the scripts run in subprocesses, or comments
        if re.search(torch_names, code):
            assert cell in tagged, f"uses PyTorch but is not tagged: {src[:200]}"
        if cell in tagged:
            assert re.search(torch_names, src), f"tagged but does not use PyTorch: {src[:200]}"
    for other in CHAPTERS:
        if other.stem != "tools":
            assert cleanroom.SKIP_TAG not in other.read_text(), other.name


def test_ci_variant_executes_existing_chapters_including_the_one_without_pytorch():
    stems = {p.stem for p in CHAPTERS}
    assert set(cleanroom.CI_EXECUTE) <= stems and "tools" in cleanroom.CI_EXECUTE
    assert 2 <= len(cleanroom.CI_EXECUTE) < len(stems)


@pytest.mark.colab
def test_every_chapter_runs_in_a_colab_like_environment():
    """Python 3.13 with Colab's versions; each chapter's own install line must change no package
    Colab has; each chapter's setup cell runs on the Colab branch (installing medlab, importing
    what the chapter needs); each chapter (CI: those of ``cleanroom.CI_EXECUTE``) executes whole in
    quick mode."""
    mode = os.environ.get("MEDLAB_COLAB_TEST")
    if mode not in ("1", "full"):
        pytest.skip("the clean room takes minutes: MEDLAB_COLAB_TEST=1 (CI's variant, .ci/run) "
                    "or MEDLAB_COLAB_TEST=full (every chapter whole) runs it")
    report = cleanroom.run(execute=None if mode == "full" else cleanroom.CI_EXECUTE)
    failures = {k: {f: v.get(f) for f in ("pip_would_change", "pip_error", "error") if v.get(f)}
                for k, v in report["chapters"].items() if not v["ok"]}
    assert not failures, json.dumps(failures, indent=1)[-8000:]
    assert len(report["chapters"]) == len(CHAPTERS)
    whole = {k for k, v in report["chapters"].items() if v["executed"] == "whole"}
    assert whole == ({p.stem for p in CHAPTERS} if mode == "full" else set(cleanroom.CI_EXECUTE))
    for name, entry in report["chapters"].items():
        assert "pip added" in entry["setup_output"], f"{name}: the Colab branch of the setup cell did not run"
        assert entry["skipped_cells"] == 0 or (name == "tools" and not report["torch"])
