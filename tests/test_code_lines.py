"""Code lines of the chapters fit the book's column (issue #28): ruff's E501 at chapters/ruff.toml's limit.

A code cell's line longer than the column makes its block scroll sideways on the page. The limit
(77 characters) is ``line-length`` in ``chapters/ruff.toml``; the long lines found when the check
was introduced are listed per code cell in ``tests/known-failures/notebook_lines.json`` (see
``tests/known_failures.py``): a cell may not gain long lines, and a cell whose long lines are
fixed must leave the list.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from known_failures import compare, diff

ROOT = Path(__file__).resolve().parents[1]


def ruff() -> str:
    path = Path(sys.executable).with_name("ruff")
    return str(path) if path.exists() else shutil.which("ruff")


def long_lines(folder: Path = ROOT / "chapters") -> dict[str, dict[str, int]]:
    """``{chapter: {cell id: number of lines over the limit}}``, from ruff's E501 with the
    notebooks' E501 exemption (pyproject.toml) lifted."""
    proc = subprocess.run([ruff(), "check", str(folder), "--select", "E501", "--output-format", "json",
                           "--config", "lint.per-file-ignores = {}", "--no-cache", "--exit-zero", "-q"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    found: dict[str, Counter] = {}
    cells: dict[str, list] = {}
    for v in json.loads(proc.stdout):
        path = Path(v["filename"])
        if path.suffix != ".ipynb":
            continue
        if path.stem not in cells:
            cells[path.stem] = nbformat.read(path, as_version=4).cells
        cell = cells[path.stem][v["cell"] - 1]  # ruff numbers all cells from 1
        found.setdefault(path.stem, Counter())[cell.get("id") or f"cell {v['cell']}"] += 1
    return {k: dict(v) for k, v in found.items()}


def test_limit_is_the_column_width():
    """One definition: the chapters' ruff limit is the 77 characters the page's code blocks hold."""
    config = (ROOT / "chapters" / "ruff.toml").read_text()  # (tomllib is Python 3.11+)
    assert re.search(r"^line-length = 77$", config, re.M)
    assert re.search(r'^extend = "../pyproject.toml"$', config, re.M)


def test_ruff_counts_long_lines_per_cell(tmp_path):
    """The check finds a long line (and only it) in a notebook, by the cell's id."""
    shutil.copy(ROOT / "chapters" / "ruff.toml", tmp_path / "ruff.toml")
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 110\n")
    (tmp_path / "ruff.toml").write_text((tmp_path / "ruff.toml").read_text().replace("../pyproject.toml",
                                                                                  "pyproject.toml"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T " + "x" * 100),
                                         nbformat.v4.new_code_cell("a = 1\nb = '" + "y" * 80 + "'\n")])
    nb.cells[1]["id"] = "long-one"
    nbformat.write(nb, tmp_path / "demo.ipynb")
    assert long_lines(tmp_path) == {"demo": {"long-one": 1}}


def test_known_failures_can_only_shrink():
    new, fixed = diff({"a": {"c1": 2, "c2": 1}}, {"a": {"c1": 3, "c3": 1}})
    assert new == ["a: c1: 3 (listed: 2)", "a: c3: 1"] and fixed == ["a: c2 (listed: 1)"]
    with pytest.raises(AssertionError, match="1 listed .* no longer occur"):
        compare("x", {"a": {"c1": 2}}, known={"a": {"c1": 2, "c2": 1}})
    with pytest.raises(AssertionError, match="1 new"):
        compare("x", {"a": {"c1": 2, "c9": 1}}, known={"a": {"c1": 2}})
    compare("x", {"a": {"c1": 2}}, known={"a": {"c1": 2}})


def test_chapter_code_lines_fit_the_column():
    compare("notebook_lines", long_lines(), what="code cells with lines over 77 characters")
