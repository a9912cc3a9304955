"""The classroom edition: student notebooks, a book without solutions, and grading.

Generated from the chapters of a clone of the repository, never maintained by hand (see the
book's page *For instructors*); part of the workshop (``tools/``), not of the installed package::

    python -m tools.classroom student OUTDIR          # one student notebook per chapter
    python -m tools.classroom student-book OUTDIR     # the book without solutions (HTML)
    python -m tools.classroom grade SUBMISSIONS --out scores.csv

A solution is everything from a ``{solution-start}`` directive to the matching
``{solution-end}``; exercise cells (``answer = None`` and ``check(...)``) stay,
so :func:`medlab.exercises.check` still gives feedback. Grading executes every
submission in a fresh kernel, in a scratch folder, with a time limit, and reads
which exercises passed from the log that ``check`` writes when
``MEDLAB_GRADE_LOG`` is set. It is not a sandbox: see :func:`grade_notebook`.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class Score:
    """One row of the grading table."""

    student: str
    chapter: str
    exercise: str
    passed: bool
    hint: str = ""
    error: str = ""
    timed_out: bool = False
    seconds: float = 0.0


def _run_kernel(notebook: Path, executed: Path, cell_timeout: int) -> None:
    """Execute ``notebook`` in a fresh kernel (errors recorded, not raised) and write ``executed``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    finally:
        nbformat.write(nb, executed)


def _cell_errors(executed: Path) -> list[str]:
    import nbformat

    if not executed.is_file():
        return []
    nb = nbformat.read(executed, as_version=4)
    return [f"cell {i}: {o.get('ename')}: {str(o.get('evalue'))[:200]}"
            for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def grade_notebook(path: str | os.PathLike, chapter: str, student: str = "", timeout: int = 900,
                   quick: bool = True) -> list[Score]:
    """Execute one submitted notebook and score each exercise of ``chapter``.

    The notebook runs in a new process group, in a fresh scratch folder that is
    also its ``HOME``, with ``timeout`` seconds for the whole notebook (the
    process group is killed when it runs over), offline data settings inherited,
    and quick mode unless ``quick=False``. An exercise passes when its last
    ``check`` call in the run was correct.

    What this does **not** do: it is not a sandbox. The submission runs as the
    grading user and can read, write or delete any file that user can, by
    absolute path, and reach the network if the machine has it. Relative paths
    and ``~`` land in the scratch folder, which protects against accidents,
    not against malice; and since ``check`` writes the log the grade is read from,
    a submission can forge it. Grade untrusted work inside a container or a
    throw-away account (e.g. ``docker run --network none --read-only``), and
    treat the scores as feedback, not as proof.
    """
    from medlab.exercises import GRADE_LOG_ENV, keys

    source, wanted = Path(path), keys(chapter)
    scratch, records_dir = Path(tempfile.mkdtemp(prefix="medlab-grade-")), Path(tempfile.mkdtemp())
    notebook, executed = scratch / f"{chapter}.ipynb", records_dir / "executed.ipynb"
    log = records_dir / "checks.jsonl"  # outside the scratch folder, which the submission may wipe
    shutil.copyfile(source, notebook)
    env = {**os.environ, "HOME": str(scratch), GRADE_LOG_ENV: str(log), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
    env["MEDLAB_QUICK"] = "1" if quick else "0"
    cmd = [sys.executable, "-m", "tools.classroom", "_run", str(notebook), str(executed), str(timeout)]
    start, timed_out, crash = time.perf_counter(), False, ""
    proc = subprocess.Popen(cmd, cwd=scratch, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=timeout)
        if proc.returncode:
            crash = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1][:300]
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    errors = "; ".join(_cell_errors(executed) + ([crash] if crash else []))
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(records_dir, ignore_errors=True)
    rows = []
    for key in wanted:
        mine = [r for r in records if r["key"] == key]
        last = mine[-1] if mine else {"status": "missing", "message": ""}
        wrong = [r["message"] for r in mine if r["status"] == "wrong"]
        rows.append(Score(student, chapter, key, last["status"] == "correct",
                          hint=wrong[-1] if wrong and last["status"] != "correct" else "",
                          error=errors, timed_out=timed_out, seconds=round(seconds, 1)))
    return rows


def submissions(folder: str | os.PathLike) -> list[tuple[str, str, Path]]:
    """``(student, chapter, path)`` for every ``FOLDER/<student>/<chapter>.ipynb``."""
    from medlab.exercises import keys

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no submissions folder at {root}")
    found = []
    for path in sorted(root.glob("*/*.ipynb")):
        try:
            keys(path.stem)
        except ModuleNotFoundError as err:
            raise ValueError(f"{path}: {path.stem!r} is not a chapter with exercises") from err
        found.append((path.parent.name, path.stem, path))
    if not found:
        raise ValueError(f"no notebooks in {root}; expected {root}/<student>/<chapter>.ipynb")
    return found


def grade(folder: str | os.PathLike, out: str | os.PathLike, timeout: int = 900,
          quick: bool = True) -> list[Score]:
    """Grade every submission in ``folder``; write the table to ``out`` (CSV) and print a summary."""
    rows: list[Score] = []
    for student, chapter, path in submissions(folder):
        rows += grade_notebook(path, chapter, student, timeout=timeout, quick=quick)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    print(summary(rows))
    return rows


def summary(rows: list[Score]) -> str:
    """One line per student and chapter: exercises passed, time-outs and errors."""
    lines, groups = [], {}
    for r in rows:
        groups.setdefault((r.student, r.chapter), []).append(r)
    for (student, chapter), rs in groups.items():
        note = " TIMED OUT" if rs[0].timed_out else (" errors: " + rs[0].error[:120] if rs[0].error else "")
        lines.append(f"{student:<16}{chapter:<18}{sum(r.passed for r in rs)}/{len(rs)} passed "
                     f"({rs[0].seconds:.0f} s){note}")
    return "\n".join(lines)


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

    cache_dir = Path(build_dir) / ".jupyter_cache"
    if not cache_dir.is_dir():
        raise FileNotFoundError(f"no executed book in {build_dir}: run bash scripts/build.sh first")
    cache, out = get_cache(str(cache_dir)), Path(outdir)
    src = out / "source"
    shutil.rmtree(src, ignore_errors=True)
    (src / "chapters").mkdir(parents=True)
    for name in ["_toc.yml", "references.bib", *[p.name for p in ROOT.glob("*.md")]]:
        shutil.copy(ROOT / name, src / name)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
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
    p = sub.add_parser("grade", help="execute and score SUBMISSIONS/<student>/<chapter>.ipynb")
    p.add_argument("submissions")
    p.add_argument("--out", default="scores.csv")
    p.add_argument("--timeout", type=int, default=900, help="seconds per notebook (default 900)")
    p.add_argument("--full", action="store_true", help="run in full mode instead of quick mode")
    p = sub.add_parser("_run")  # internal: executes one notebook in the grading subprocess
    p.add_argument("notebook")
    p.add_argument("executed")
    p.add_argument("timeout", type=int)
    args = parser.parse_args(argv)
    if args.command == "student":
        for path in write_student_notebooks(args.outdir):
            print(path)
    elif args.command == "student-book":
        print(f"==> {build_student_book(args.outdir, args.build_dir) / 'index.html'}")
    elif args.command == "grade":
        grade(args.submissions, args.out, timeout=args.timeout, quick=not args.full)
        print(f"==> {args.out}")
    else:
        _run_kernel(Path(args.notebook), Path(args.executed), args.timeout)
    return 0

