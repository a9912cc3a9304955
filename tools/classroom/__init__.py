"""The classroom edition: student notebooks, a book without solutions, and grading.

Generated from the chapters of a clone of the repository, never maintained by hand (see the
book's page *For instructors*); part of the workshop (``tools/``), not of the installed package::

    python -m tools.classroom student OUTDIR          # one student notebook per chapter
    python -m tools.classroom student-book OUTDIR     # the book without solutions (HTML)
    python -m tools.classroom grade SUBMISSIONS --out scores.csv
    python -m tools.classroom otter SLUG --out DIR    # the chapter as an Otter-Grader assignment

A solution is everything from a ``{solution-start}`` directive to the matching
``{solution-end}``; exercise cells (``answer = None`` and ``check(...)``) stay,
so :func:`medlab.exercises.check` still gives feedback. Grading
(:mod:`tools.classroom.grading`) executes every submission in a bubblewrap
sandbox (:mod:`tools.classroom.sandbox`) against a student build of medlab that
holds no answers; ``check`` records the answers, and the grader compares them
with the instructor's key in its own process.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.classroom.grading import Problem, Score, Session, Submission, grade, submissions, summary

__all__ = ["Problem", "Score", "Session", "Submission", "grade", "submissions", "summary", "strip_solutions",
           "exercise_keys", "write_student_notebooks", "build_student_book", "main"]

ROOT = Path(__file__).resolve().parents[2]
"""The repository checkout (the classroom tools read its chapters and book files)."""
START = re.compile(r"(`{3,})\{solution-start\}[^\n]*\n(?:.*?\n)??\1[ \t]*(?:\n|$)", re.S)
END = re.compile(r"(`{3,})\{solution-end\}[^\n]*\n(?:.*?\n)??\1[ \t]*(?:\n|$)", re.S)
EXERCISE_KEY = re.compile(r"""check\(\s*["']([\w]+\.\w+)["']""")


def _read(nb: Any) -> Any:
    import nbformat

    if isinstance(nb, (str, os.PathLike)):
        path = Path(nb)
        if not path.is_file():
            raise FileNotFoundError(f"no notebook at {path}")
        return nbformat.read(path, as_version=4)
    if not hasattr(nb, "cells"):
        raise TypeError(f"expected a notebook or a path to one, got {type(nb).__name__}")
    return nb


def strip_solutions(nb: Any, keep_outputs: bool = False) -> Any:
    """Return a copy of a chapter notebook with every solution removed.

    Markdown before a ``{solution-start}`` and after a ``{solution-end}`` in
    the same cell is kept (the next exercise often shares the cell). Taught in
    the page *For instructors*.

    Raises
    ------
    ValueError
        Unbalanced or nested solution markers, naming the cell.
    """
    src = _read(nb)
    out = copy.deepcopy(src)
    cells, inside = [], False
    for i, cell in enumerate(src.cells):
        text = cell.source
        if cell.cell_type != "markdown":
            if not inside:
                new = copy.deepcopy(cell)
                if not keep_outputs and new.cell_type == "code":
                    new.outputs, new.execution_count = [], None
                cells.append(new)
            continue
        kept, pos = [], 0
        for mark in sorted([(m.start(), m.end(), "S") for m in START.finditer(text)]
                           + [(m.start(), m.end(), "E") for m in END.finditer(text)]):
            start, end, kind = mark
            if (kind == "S") == inside:
                raise ValueError(f"cell {i}: {'nested' if inside else 'unmatched'} solution-"
                                 f"{'start' if kind == 'S' else 'end'}")
            if kind == "S":
                kept.append(text[pos:start])
            inside, pos = kind == "S", end
        if not inside:
            kept.append(text[pos:])
        body = "".join(kept).strip("\n")
        if body.strip():
            new = copy.deepcopy(cell)
            new.source = body
            cells.append(new)
    if inside:
        raise ValueError("a solution-start has no solution-end")
    out.cells = cells
    return out


def exercise_keys(nb: Any) -> list[str]:
    """The exercise keys a notebook checks, in order of first appearance."""
    keys: list[str] = []
    for cell in _read(nb).cells:
        if cell.cell_type == "code":
            keys += [k for k in EXERCISE_KEY.findall(cell.source) if k not in keys]
    return keys


def write_student_notebooks(outdir: str | os.PathLike, chapters: list[Path] | None = None) -> list[Path]:
    """Write the student notebook of every chapter (no outputs, no solutions) into ``outdir``."""
    import nbformat

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapters or sorted((ROOT / "chapters").glob("*.ipynb")):
        target = out / Path(path).name
        nbformat.write(strip_solutions(path), target)
        written.append(target)
    return written


def build_student_book(outdir: str | os.PathLike, build_dir: str | os.PathLike = ROOT / "_build") -> Path:
    """Build the book without solutions into ``outdir/_build/html``, from an executed build.

    The chapters are not executed again: each one's executed copy is taken from
    ``build_dir``'s jupyter-cache (a full ``bash scripts/build.sh`` or a test
    build), its solutions are removed, and the pages are built with ``-W`` and
    execution off. (sphinx-exercise's ``hide_solutions`` does not support the
    gated ``solution-start``/``solution-end`` the chapters use.)
    """
    import nbformat
    import yaml
    from jupyter_cache import get_cache

    from tools.book_config import portable_config

    cache_dir = Path(build_dir) / ".jupyter_cache"
    if not cache_dir.is_dir():
        raise FileNotFoundError(f"no executed book in {build_dir}: run bash scripts/build.sh first")
    cache, out = get_cache(str(cache_dir)), Path(outdir)
    src = out / "source"
    shutil.rmtree(src, ignore_errors=True)
    (src / "chapters").mkdir(parents=True)
    for name in ["_toc.yml", "references.bib", *[p.name for p in ROOT.glob("*.md")]]:
        shutil.copy(ROOT / name, src / name)
    config = portable_config()  # offline assets and _ext/ extensions: the book's own
    config["title"] += " (student edition)"
    config["execute"]["execute_notebooks"] = "off"
    config["exclude_patterns"] = [*config.get("exclude_patterns", []), "source"]
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        try:
            _, executed = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
        except KeyError as err:
            raise FileNotFoundError(f"{path.name} has no executed copy in {cache_dir} (changed since the "
                                    "last build?): run bash scripts/build.sh first") from err
        nbformat.write(strip_solutions(executed, keep_outputs=True), src / "chapters" / path.name)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(src), "-W", "-n",
           "--keep-going", "--path-output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError("the student book did not build:\n" + (proc.stdout + proc.stderr)[-4000:])
    return out / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.classroom", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("student", help="write one student notebook per chapter (no solutions, no outputs)")
    p.add_argument("outdir")
    p = sub.add_parser("student-book", help="build the book without solutions from an executed build")
    p.add_argument("outdir")
    p.add_argument("--build-dir", default=str(ROOT / "_build"), help="build whose jupyter-cache to use")
    p = sub.add_parser("grade", help="execute and score SUBMISSIONS/<student>/<chapter>.ipynb in a sandbox")
    p.add_argument("submissions")
    p.add_argument("--out", default="scores.csv", help="the long table (default scores.csv); the gradebook, "
                   "problems and feedback pages are written next to it")
    p.add_argument("--timeout", type=int, default=900, help="seconds per notebook (default 900)")
    p.add_argument("--memory", type=int, default=4096,
                   help="MiB of resident memory per notebook (default 4096)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks graded at the same time (default 1)")
    p.add_argument("--key", help="a Python file of EXERCISES that add to or override the package's key")
    p.add_argument("--feedback", help="folder of the HTML feedback pages (default <out>-feedback)")
    p.add_argument("--full", action="store_true", help="run in full mode instead of quick mode")
    p.add_argument("--unsafe", action="store_true",
                   help="grade without a sandbox (trusted notebooks only: a submission can then forge "
                        "its score and change the grader's files)")
    p = sub.add_parser("otter", help="write a chapter as an Otter-Grader master notebook (otter assign)")
    p.add_argument("slug", help="the chapter, e.g. images_as_data")
    p.add_argument("--out", help="folder to write <slug>.ipynb into (default otter-<slug>)")
    p.add_argument("--notebook", help="your variant of the chapter (default chapters/<slug>.ipynb)")
    p.add_argument("--key", help="a Python file of EXERCISES that add to or override the package's key")
    p.add_argument("--full", action="store_true", help="compute the key in full mode instead of quick mode")
    args = parser.parse_args(argv)
    if args.command == "otter":
        from tools.classroom.otter import write_assignment

        try:
            path = write_assignment(args.slug, args.out or f"otter-{args.slug}", notebook=args.notebook,
                                    quick=not args.full, key_file=args.key)
        except (KeyError, ValueError, FileNotFoundError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"==> {path}\nnext: otter assign {path} {path.parent / 'dist'}")
    elif args.command == "student":
        for path in write_student_notebooks(args.outdir):
            print(path)
    elif args.command == "student-book":
        print(f"==> {build_student_book(args.outdir, args.build_dir) / 'index.html'}")
    else:
        from tools.classroom.sandbox import Limits

        def stop(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, stop)  # Ctrl-C and kill both clean up the temporary folders
        try:
            grade(args.submissions, args.out, quick=not args.full, jobs=args.jobs, key_file=args.key,
                  unsafe=args.unsafe, feedback=args.feedback,
                  limits=Limits(wall_s=args.timeout, memory_mb=args.memory))
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 2
        print(f"==> {args.out}")
    return 0
