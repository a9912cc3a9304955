"""Export a chapter as an Otter-Grader assignment (``python -m tools.classroom otter SLUG``).

The export is a *master notebook* in the format of ``otter assign`` (Otter-Grader 7): the
assignment-config raw cell, the chapter's cells, and one question per exercise, its solution
taken from the chapter's ``{solution-start}``/``{solution-end}`` block and its tests generated
from the instructor's key (:mod:`medlab.exercises`, plus ``--key``):

- a *public* test, worth no points, that tells only what the book's student build tells (an
  answer was given, of the expected kind, length or shape: :func:`medlab.exercises.public_spec`);
- a *hidden* test, worth the exercise's points, that compares the answer with the key's value,
  computed here at export time in the chosen mode, with the key's tolerances (the rules of
  :func:`medlab.exercises.matches`, written out in the test so that grading needs neither the key
  nor the book's checker). An exercise with ``partial=True`` whose answer is a tuple or list gets
  one hidden test per item, each worth its share of the points.

``otter assign`` then writes the student notebook (no solutions, public tests only) and the
autograder (``autograder.zip``, hidden tests included) that ``otter run``, Otter's containers
and Gradescope use. Exercises answered in words become manually graded questions. Taught in the
page *For instructors* ("Grading with Otter-Grader / Gradescope").
"""

from __future__ import annotations

import copy
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from tools.classroom import END, EXERCISE_KEY, ROOT, START, _read
from tools.classroom.grading import _mode, load_key

__all__ = ["master_notebook", "write_assignment", "hidden_test", "public_test", "literal"]

EXERCISE = re.compile(r"(`{3,})\{exercise\}[^\n]*\n(.*?)\n?\1[ \t]*(?:\n|$)", re.S)
ANSWER_LINE = re.compile(r"^(\s*)answer\s*=\s*None\s*(?:#\s*(.*))?$")
CHECK_LINE = re.compile(r"""^\s*(?:assert\s+)?check\(\s*["'][\w]+\.\w+["']""")
INSTALL = re.compile(r'%pip install[^\n]*?"([^"]+)"')


# -- values as Python source ---------------------------------------------------------------------

def literal(x: Any) -> str:
    """Python source that evaluates to ``x`` (numbers exactly; NumPy arrays with dtype and shape).

    Raises
    ------
    TypeError
        A value of another type, naming it.
    """
    if x is None or isinstance(x, (bool, str)):
        return repr(x)
    if isinstance(x, np.bool_):
        return repr(bool(x))
    if isinstance(x, (int, np.integer)):
        return repr(int(x))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return repr(x) if math.isfinite(x) else f"float({repr(x)!r})"
    if isinstance(x, tuple):
        return "(" + "".join(literal(v) + ", " for v in x).rstrip(" ") + ")"
    if isinstance(x, list):
        return "[" + ", ".join(literal(v) for v in x) + "]"
    if isinstance(x, (set, frozenset)):
        items = sorted(literal(v) for v in x)
        return "{" + ", ".join(items) + "}" if items else "set()"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in x.items()) + "}"
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biufU":
            raise TypeError(f"cannot write an array of dtype {x.dtype} into a test")
        return (f"np.array({literal(x.ravel().tolist())}, dtype={x.dtype.str!r})"
                f".reshape({literal(tuple(x.shape))})")
    raise TypeError(f"cannot write an answer of type {type(x).__name__} into a test")


# -- tests ---------------------------------------------------------------------------------------

_CONFIG = '""" # BEGIN TEST CONFIG\n{config}\n""" # END TEST CONFIG\n'

# The rules of medlab.exercises.matches, for the hidden tests (which must not import the checker:
# the grading environment need not hold the key, and a submission could replace the checker).
_SAME = '''\
    def same(g, e):
        if isinstance(e, (int, float)) and not isinstance(e, bool):
            if isinstance(g, (bool, np.bool_, str)) or g is None or np.ndim(g) != 0:
                return False
            try:
                g = float(g)
            except (TypeError, ValueError):
                return False
            return not math.isnan(g) and abs(g - e) <= ATOL + RTOL * abs(e)
        if isinstance(e, np.ndarray):
            try:
                g = np.asarray(g, dtype=float if e.dtype.kind in "biuf" else None)
                return g.shape == e.shape and bool(np.allclose(g, e, rtol=RTOL, atol=ATOL))
            except (TypeError, ValueError):
                return False
        if isinstance(e, str):
            return isinstance(g, str) and g.strip().lower() == e.strip().lower()
        if isinstance(e, (set, frozenset)):
            try:
                norm = [{v.strip().lower() if isinstance(v, str) else v for v in s} for s in (g, e)]
            except TypeError:
                return False
            return norm[0] == norm[1]
        if isinstance(e, (tuple, list)):
            return (isinstance(g, (tuple, list, np.ndarray)) and len(g) == len(e)
                    and all(same(a, b) for a, b in zip(g, e)))
        try:
            return bool(g == e)
        except (TypeError, ValueError):
            return False
'''


def _config(**items: Any) -> str:
    return _CONFIG.format(config="\n".join(f"{k}: {v}" for k, v in items.items()))


def public_test(name: str, variable: str, spec: dict) -> str:
    """A public test (0 points): the answer is given and has the kind, length or shape ``spec``
    says (what :func:`medlab.exercises.public_spec` allows a student build to tell)."""
    kind = spec.get("kind", "any")
    lines = [f"def test_{name}_given({variable}):", "    import numbers", "", "    import numpy as np",
             "", f"    x = {variable}",
             f'    assert x is not None and x is not ..., "{name} is not answered yet"']
    if kind == "number":
        lines.append("    assert isinstance(x, (numbers.Real, np.ndarray)) and not isinstance(x, bool) "
                     f'and np.ndim(x) == 0, "{name}: a number is expected"')
    elif kind == "word":
        lines.append(f'    assert isinstance(x, str), "{name}: a string is expected"')
    elif kind == "array":
        shape = tuple(spec.get("shape", ()))
        lines.append(f'    assert np.shape(x) == {shape!r}, "{name}: an array of shape {shape} is expected"')
    elif kind == "set":
        lines.append("    assert isinstance(x, (set, frozenset, list, tuple)), "
                     f'"{name}: a collection of items is expected"')
    elif kind == "sequence":
        n = int(spec.get("length", 0))
        lines.append(f"    assert isinstance(x, (tuple, list, np.ndarray)) and len(x) == {n}, "
                     f'"{name}: {n} values are expected"')
    lines.append(f"test_{name}_given({variable})")
    return _config(points=0) + "\n".join(lines)


def hidden_test(name: str, variable: str, expected: Any, ex: Any, item: int | None = None,
                points: float | None = None) -> str:
    """A hidden test worth ``points`` (default the exercise's): the answer, or its ``item``-th
    value, matches ``expected`` with the exercise's tolerances; a wrong answer fails with the
    exercise's hint (which never gives the answer away)."""
    suffix = "" if item is None else f"_{item + 1}"
    given, want = (variable, "expected") if item is None else (f"{variable}[{item}]", f"expected[{item}]")
    hint = " ".join(str(ex.hint).split())
    message = f"{name}{'' if item is None else f', item {item + 1}'}: not yet. Hint: {hint}"
    body = [f"def test_{name}{suffix}({variable}):", "    import math", "", "    import numpy as np", "",
            f"    RTOL, ATOL = {float(ex.rtol)!r}, {float(ex.atol)!r}", f"    expected = {literal(expected)}",
            "", _SAME.rstrip("\n"), ""]
    if item is not None:
        body.append(f"    assert isinstance({variable}, (tuple, list, np.ndarray)) "
                    f"and len({variable}) == len(expected), {message!r}")
    body += [f"    assert same({given}, {want}), {message!r}", f"test_{name}{suffix}({variable})"]
    worth = float(ex.points) if points is None else points
    return _config(hidden="true", points=repr(round(worth, 6))) + "\n".join(body)


# -- the chapter, cut into pieces ----------------------------------------------------------------

def _pieces(nb: Any) -> list[tuple[str, Any]]:
    """The chapter as ``("md", text)``, ``("cell", cell)``, ``("exercise", (label, text))``,
    ``("start", "")`` and ``("end", "")`` pieces, in order (markdown cells split at the markers)."""
    out: list[tuple[str, Any]] = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            out.append(("cell", cell))
            continue
        text = cell.source
        marks = sorted([(m.start(), m.end(), "start", m) for m in START.finditer(text)]
                       + [(m.start(), m.end(), "end", m) for m in END.finditer(text)]
                       + [(m.start(), m.end(), "exercise", m) for m in EXERCISE.finditer(text)],
                       key=lambda t: t[0])
        pos = 0
        for start, end, kind, m in marks:
            if start < pos:
                continue
            if text[pos:start].strip():
                out.append(("md", text[pos:start].strip("\n")))
            if kind == "exercise":
                options = re.findall(r"^:(\w[\w-]*):[ \t]*(.*)$", m.group(2), re.M)
                label = dict(options).get("label", "")
                body = re.sub(r"^:\w[\w-]*:[^\n]*\n?", "", m.group(2), flags=re.M).strip("\n")
                out.append(("exercise", (label, body)))
            else:
                out.append((kind, ""))
            pos = end
        if text[pos:].strip():
            out.append(("md", text[pos:].strip("\n")))
    return out


def _exercises(pieces: list[tuple[str, Any]]) -> list[dict]:
    """Group the pieces: each exercise with its answer cell, solution cells and solution text."""
    items: list[dict] = []
    current: dict | None = None
    inside = False
    for kind, value in pieces:
        if kind == "exercise":
            current = {"kind": "exercise", "label": value[0], "text": value[1], "answer": None,
                       "solution": [], "key": None}
            items.append(current)
        elif kind == "start":
            if current is None or inside:
                raise ValueError("a solution-start outside an exercise (or nested)")
            inside = True
        elif kind == "end":
            if not inside:
                raise ValueError("a solution-end without a solution-start")
            inside, current = False, None
        elif inside:
            current["solution"].append((kind, value))
        elif current is not None and kind == "cell" and value.cell_type == "code" \
                and current["answer"] is None and (found := EXERCISE_KEY.search(value.source)):
            current["answer"], current["key"] = value, found.group(1)
        else:
            items.append({"kind": kind, "value": value})
    if inside:
        raise ValueError("a solution-start has no solution-end")
    return items


# -- the master notebook -------------------------------------------------------------------------

def _raw(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_raw_cell(text)


def _md(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_markdown_cell(text)


def _code(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_code_cell(text)


def _answer_cell(answer_source: str, variable: str, solution_code: list[str]) -> str:
    """The question's code cell: the exercise cell's own lines, the chapter's solution (removed
    from the student version) and ``<variable> = solution  # SOLUTION`` where ``answer = None``
    was (the student sees ``<variable> = ...``)."""
    lines, placed = [], False
    for line in answer_source.splitlines():
        m = ANSWER_LINE.match(line)
        if m and not placed:
            indent, comment = m.group(1), m.group(2)
            lines.append(f"{indent}# BEGIN SOLUTION NO PROMPT")
            lines += [f"{indent}{x}" if x.strip() else "" for x in solution_code]
            lines.append(f"{indent}# END SOLUTION")
            if comment:
                lines.append(f"{indent}# {comment}")
            lines.append(f"{indent}{variable} = solution  # SOLUTION")
            placed = True
        elif not CHECK_LINE.match(line):
            lines.append(line)
    if not placed:
        raise ValueError(f"no `answer = None` line in the exercise cell:\n{answer_source}")
    return "\n".join(lines).strip("\n")


def _solution_code(solution: list[tuple[str, Any]]) -> tuple[list[str], list[str]]:
    """The solution's code lines (``check`` calls removed) and its text (markdown)."""
    code: list[str] = []
    text: list[str] = []
    for kind, value in solution:
        if kind == "cell" and value.cell_type == "code":
            code += [line for line in value.source.splitlines() if not CHECK_LINE.match(line)]
        elif kind == "md":
            text.append(value)
        elif kind == "cell" and value.cell_type == "markdown":
            text.append(value.source)
    return code, text


def _assignment_config(slug: str, requirement: str | None) -> str:
    import yaml

    config: dict[str, Any] = {
        "name": slug,
        "init_cell": True,
        "check_all_cell": True,
        "export_cell": {"pdf": False, "instructions": "Upload the zip file to your course's grader."},
        "generate": {"pdf": False, "show_stdout": True},
        "tests": {"files": False, "ok_format": False},
    }
    if requirement:
        config["requirements"] = "requirements.txt"
    return "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False).strip("\n")


def master_notebook(slug: str, *, notebook: str | os.PathLike | None = None, quick: bool = True,
                    key_file: str | os.PathLike | None = None) -> tuple[Any, dict]:
    """The Otter master notebook of chapter ``slug`` and a summary (questions, points, install line).

    ``notebook`` defaults to ``chapters/<slug>.ipynb`` (an instructor's variant of a chapter may be
    given instead, with its exercises in ``key_file``). The key's values are computed here, in
    quick or full mode; the notebook sets the same mode before anything else runs.

    Raises
    ------
    KeyError
        An exercise cell checks a key that neither the book nor ``key_file`` defines.
    ValueError
        Unbalanced solution markers, or an exercise cell without ``answer = None``.
    """
    import nbformat

    from medlab.exercises import public_spec

    src = _read(Path(notebook) if notebook is not None else ROOT / "chapters" / f"{slug}.ipynb")
    key = load_key(key_file, {slug})
    items = _exercises(_pieces(src))
    cells = []
    install = next((m.group(1) for c in src.cells if c.cell_type == "code"
                    for m in INSTALL.finditer(c.source)), None)
    cells.append(_raw(_assignment_config(slug, install)))
    cells.append(_code('import os\n\n# the hidden tests were computed in this mode: keep it\n'
                       f'os.environ["MEDLAB_QUICK"] = "{1 if quick else 0}"'))
    summary: dict[str, Any] = {"questions": [], "manual": [], "install": install, "quick": quick}
    with _mode(quick):
        for item in items:
            if item["kind"] == "md":
                cells.append(_md(item["value"]))
            elif item["kind"] == "cell":
                cell = copy.deepcopy(item["value"])
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
                cells.append(cell)
            else:
                cells += _question(item, key, public_spec, summary)
    for i, cell in enumerate(cells):
        cell["id"] = f"otter-{slug}-{i}"[:64]
    nb = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(src.metadata))
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3 (ipykernel)", "language": "python",
                                          "name": "python3"})  # otter assign reads the language here
    return nb, summary


def _question(item: dict, key: dict, public_spec: Any, summary: dict) -> list:
    label = item["label"]
    number = len(summary["questions"]) + len(summary["manual"]) + 1
    prompt = f"**Exercise {number}** ({label})\n\n{item['text']}"
    code, text = _solution_code(item["solution"])
    if item["answer"] is None:  # answered in words: graded by hand
        name = re.sub(r"\W", "_", label) or f"manual{number}"
        cells = [_raw(f"# BEGIN QUESTION\nname: {name}\nmanual: true"), _md(prompt),
                 _raw("# BEGIN SOLUTION")]
        if code:
            cells.append(_code("# BEGIN SOLUTION NO PROMPT\n" + "\n".join(code) + "\n# END SOLUTION"))
        cells += [_md(t) for t in text] or [_md("(no written solution in the chapter)")]
        cells += [_raw("# END SOLUTION"), _raw("# END QUESTION")]
        summary["manual"].append(name)
        return cells
    k = item["key"]
    if k not in key:
        raise KeyError(f"{label} checks {k!r}, which is not in the key (give it with --key)")
    ex = key[k]
    name = k.partition(".")[2]
    variable = f"answer_{name}"
    expected = ex.expected()
    tests = [public_test(name, variable, public_spec(expected))]
    if ex.partial and isinstance(expected, (tuple, list)) and len(expected) > 1:
        shares = [round(float(ex.points) / len(expected), 6)] * len(expected)
        tests += [hidden_test(name, variable, expected, ex, item=i, points=share)
                  for i, share in enumerate(shares)]
    else:
        shares = [float(ex.points)]
        tests.append(hidden_test(name, variable, expected, ex))
    points = round(sum(shares), 6)
    cells = [_raw(f"# BEGIN QUESTION\nname: {name}\npoints: {points!r}"), _md(prompt),
             _raw("# BEGIN SOLUTION"), _code(_answer_cell(item["answer"].source, variable, code))]
    cells += [_md(t) for t in text]
    cells += [_raw("# END SOLUTION"), _raw("# BEGIN TESTS"), *[_code(t) for t in tests],
              _raw("# END TESTS"), _raw("# END QUESTION")]
    summary["questions"].append({"name": name, "key": k, "points": points,
                                 "variable": variable, "hidden_tests": len(tests) - 1})
    return cells


def write_assignment(slug: str, out: str | os.PathLike, *, notebook: str | os.PathLike | None = None,
                     quick: bool = True, key_file: str | os.PathLike | None = None) -> Path:
    """Write ``OUT/<slug>.ipynb`` (the master notebook) and, when the chapter installs medlab on
    Colab, ``OUT/requirements.txt`` with the same install line (for Otter's grading image).

    Then run ``otter assign OUT/<slug>.ipynb DIST`` (Otter-Grader 7).
    """
    import nbformat

    nb, summary = master_notebook(slug, notebook=notebook, quick=quick, key_file=key_file)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}.ipynb"
    nbformat.write(nb, path)
    if summary["install"]:
        (folder / "requirements.txt").write_text(summary["install"] + "\n", encoding="utf-8")
    return path
