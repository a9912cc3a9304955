"""Style: ruff on code and notebooks; codespell on prose, notebook markdown and code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
WORDS = ROOT / "tests" / "codespell-words.txt"


def tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    return str(path) if path.exists() else shutil.which(name)


def test_ruff_clean():
    proc = subprocess.run([tool("ruff"), "check", str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_spelling(tmp_path):
    """Spell-check markdown pages, the markdown cells of every chapter, and the code."""
    for nb_path in (ROOT / "chapters").glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        prose = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        (tmp_path / f"{nb_path.stem}.md").write_text(prose)
    targets = [str(tmp_path), *map(str, ROOT.glob("*.md")), str(ROOT / "medlab"),
               str(ROOT / "tests"), str(ROOT / "tools"), str(ROOT / "scripts")]
    # tests/known-failures: machine-written lists quoting the chapters' code cut at 50 characters
    proc = subprocess.run([tool("codespell"), "-I", str(WORDS), "--skip", "known-failures", *targets],
                          capture_output=True, text=True)
    assert proc.returncode == 0, "codespell found misspellings:\n" + proc.stdout + proc.stderr


def test_spell_checker_catches_a_typo(tmp_path):
    """Guard against a spell check that passes everything (e.g. a broken word list)."""
    typo = "segment" + "aion"  # spelled out in pieces so that this file itself passes
    (tmp_path / "typo.md").write_text(f"The {typo} of the image.\n")
    proc = subprocess.run([tool("codespell"), "-I", str(WORDS), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode != 0


def test_references_bib_parses_and_has_unique_keys():
    """A broken or duplicated entry would only surface late, in the book build."""
    import re
    from pathlib import Path

    from pybtex.database import parse_file

    path = Path(__file__).resolve().parents[1] / "references.bib"
    keys = re.findall(r"^@\w+\{([^,\s]+),", path.read_text(), re.M)
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert set(parse_file(str(path)).entries) == set(keys)


def test_public_functions_take_options_by_keyword():
    """Data arguments positional, options after ``*`` (as scikit-image does): no public function of
    medlab takes more than four positional parameters, so a call reads ``unet(shape, 4, depth=3)``."""
    import importlib
    import inspect
    import pkgutil

    import medlab

    too_many = []
    for info in pkgutil.iter_modules(medlab.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"medlab.{info.name}")
        for name, func in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(func) or func.__module__ != module.__name__:
                continue
            params = inspect.signature(func).parameters.values()
            positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            if len(positional) > 4:
                too_many.append(f"medlab.{info.name}.{name}({', '.join(positional)})")
    assert not too_many, "put the options after '*':\n" + "\n".join(too_many)
