"""Every chapter: conventions, no stored outputs, executes in quick mode, and the book builds.

The notebooks are executed once, with the same executor myst-nb uses, and the
executed copies are stored in the jupyter-cache of a temporary book build; the
final test then builds the whole book with ``-W`` (warnings are errors, cell
errors raise) from that cache, so no chapter runs twice.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks in chapters/"


def test_toc_lists_every_chapter_and_every_entry_exists():
    listed = toc_files()
    for path in CHAPTERS:
        assert f"chapters/{path.stem}" in listed, f"{path.name} is not in _toc.yml"
    for entry in listed:
        assert any((ROOT / f"{entry}{ext}").is_file() for ext in (".md", ".ipynb")), entry


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_stored_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(code_cells(nb)):
        assert not cell.get("outputs"), f"{path.name}: code cell {i} has stored outputs"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {i} has a count"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_conventions(path):
    nb = nbformat.read(path, as_version=4)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    opening = "\n".join(c.source for c in nb.cells[:first_code] if c.cell_type == "markdown")
    assert re.match(r"# [^\d]", opening), f"{path.name}: title must be '# Title', not numbered"
    assert "What you will learn" in opening and "Prerequisites" in opening
    setup = code_cells(nb)[0]
    assert "remove-stderr" in setup.metadata.get("tags", []), "setup cell must hide stderr"
    assert "book-setup" in setup.metadata.get("tags", []), "setup cell: its long line wraps on the page"
    assert 'if "google.colab" in sys.modules:' in setup.source
    # the whole Colab block, release included, is checked against _config.yml in tests/test_colab.py
    install = re.search(r'%pip install .*"medlab\[book\] @ git\+(\S+)@(\S+)"', setup.source)
    assert install and install.group(1) == REPO_URL, "Colab install URL must be _config.yml's"
    assert "medlab.setup(" in setup.source
    text = "\n".join(c.source for c in nb.cells)
    assert text.count("{exercise}") >= 3, "at least three exercises"
    assert text.count("{solution-start}") == text.count("{exercise}"), "one solution each"
    assert "## Summary" in text and "## Further reading" in text
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "{glue:figure}" in cell.source:
            assert ":alt:" in cell.source, f"{path.name}: every glued figure needs alt text"
            # a continuation line would silently become the start of the caption
            assert not re.search(r":alt:[^\n]*\n[ \t]+\S", cell.source), \
                f"{path.name}: write each :alt: text on one line"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_import_only_public_medlab_modules(path):
    """A chapter teaches with what a reader installs: public modules of medlab, never a private one
    (``medlab._x``) and never the workshop (``tools``)."""
    import ast

    for cell in code_cells(nbformat.read(path, as_version=4)):
        if "%pip" in cell.source:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                assert parts[0] != "tools", f"{path.name} imports the workshop: {module}"
                if parts[0] == "medlab":
                    assert not any(p.startswith("_") for p in parts), f"{path.name} imports {module}"


def assert_no_hint_before_an_attempt(nb, name: str) -> None:
    """An executed chapter shows no exercise hint and no bare ``False``/``True`` result.

    Hints belong after a wrong answer: the unanswered exercise cells must print
    "not answered yet." and nothing else, and no cell's result is a bare bool.
    """
    for i, cell in enumerate(code_cells(nb)):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else \
                out.get("data", {}).get("text/plain", "")
            assert "Hint:" not in text and "not yet" not in text, \
                f"{name}: code cell {i} prints a hint before any attempt: {text.strip()[:200]}"
            if out.get("output_type") == "execute_result":
                assert text.strip() not in ("True", "False"), f"{name}: code cell {i} shows a bare {text}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes_in_quick_mode(path, book_dir, monkeypatch):
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    monkeypatch.setenv("MEDLAB_QUICK", "1")
    log = book_dir / f"{path.stem}.checks.jsonl"  # what tools.classroom's grader reads
    monkeypatch.setenv("MEDLAB_GRADE_LOG", str(log))
    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(path.parent), allow_errors=False,
                                 timeout=1800, meta_override=True)
    if result.err is not None:
        pytest.fail(f"{path.name} failed to execute:\n{result.exc_string}", pytrace=False)
    # graded as a submission, the chapter's own solutions pass every exercise
    from medlab.exercises import keys

    passed = {r["key"] for r in map(json.loads, log.read_text().splitlines()) if r["status"] == "correct"}
    missing = set(keys(path.stem)) - passed
    assert not missing, f"{path.name}: the solutions do not pass {sorted(missing)}"
    assert "mode: quick" in "".join(
        o.get("text", "") for o in code_cells(nb)[0].outputs if o.get("output_type") == "stream")
    assert_no_hint_before_an_attempt(nb, path.name)
    cache = get_cache(str(book_dir / "_build" / ".jupyter_cache"))
    cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": result.time}),
                                check_validity=False, overwrite=True)
    print(f"{path.name}: executed in {result.time:.1f} s")


@pytest.mark.book
def test_book_builds_without_warnings(book_dir):
    """``jupyter-book build -W``: any warning, broken reference or cell error fails."""
    env = {**os.environ, "MEDLAB_QUICK": "1"}
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT), "-W", "-n",
           "--keep-going", "--path-output", str(book_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    html = book_dir / "_build" / "html"
    for path in CHAPTERS:
        page = (html / "chapters" / f"{path.stem}.html").read_text()
        assert "mode: quick" in page, f"{path.stem}: the page must state its mode"
        # a traceback only where a cell is tagged raises-exception (an error the page shows on purpose)
        nb = nbformat.read(path, as_version=4)
        allowed = sum("raises-exception" in c.metadata.get("tags", []) for c in code_cells(nb))
        assert page.count("Traceback") <= allowed, f"{path.stem}: a traceback on the page"
    gallery = (html / "chapters" / "background.html").read_text()
    assert gallery.count("<img") >= 3
    shutil.copytree(html, ROOT / "_build" / "test-html", dirs_exist_ok=True)


@pytest.mark.book
def test_student_book_builds_without_solutions(book_dir, tmp_path):
    """The classroom edition's book: the executed chapters without their solutions, built with -W."""
    from tools.classroom import build_student_book

    if not (book_dir / "_build" / ".jupyter_cache").is_dir():
        pytest.skip("needs the executed chapters of the test build (run the whole file)")
    html = build_student_book(tmp_path / "student", book_dir / "_build")
    solution = re.compile(r'class="[^"]*\bsolution\b')  # sphinx-exercise's solution admonition
    for path in CHAPTERS:
        full = (book_dir / "_build" / "html" / "chapters" / f"{path.stem}.html").read_text()
        page = (html / "chapters" / f"{path.stem}.html").read_text()
        assert solution.search(full) and not solution.search(page), path.stem
        assert "not answered yet." in page, f"{path.stem}: the exercise cells must stay"
    assert "student edition" in (html / "intro.html").read_text()  # index.html only redirects there


@pytest.mark.book
def test_book_build_fails_on_a_cell_error(tmp_path):
    """The book's own configuration must turn a failing cell into a failed build."""
    from tools.book_config import portable_config

    config = portable_config()  # the book's, its folder-relative paths made absolute
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy(ROOT / "references.bib", tmp_path / "references.bib")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n- file: broken\n")
    (tmp_path / "index.md").write_text("# Index\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Broken"),
                                         nbformat.v4.new_code_cell("1 / 0")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "broken.ipynb")
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(tmp_path), "-W", "-n"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "ZeroDivisionError" in proc.stdout + proc.stderr


def test_figure_and_exercise_labels_are_unique_across_the_book():
    """Sphinx labels are global: the same :name: or :label: in two chapters breaks the -W build late."""
    seen: dict[str, str] = {}
    for path in CHAPTERS:
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        for label in re.findall(r"^:(?:name|label): (\S+)", text, re.M):
            assert label not in seen, f"label {label!r} is in {seen[label]} and {path.name}"
            seen[label] = path.name
