"""The classroom edition (tools.classroom): student notebooks and grading."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from medlab.exercises import get, keys
from tools import classroom

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebook_holds_no_solution_and_every_exercise(path):
    original = nbformat.read(path, as_version=4)
    student = classroom.strip_solutions(path)
    text = "\n".join(c.source for c in student.cells)
    assert "{solution-start}" not in text and "{solution-end}" not in text
    assert "assert check(" not in text
    assert text.count("{exercise}") == "\n".join(c.source for c in original.cells).count("{exercise}")
    assert classroom.exercise_keys(student) == keys(path.stem)
    first = next(c for c in student.cells if c.cell_type == "code")
    assert first.source == next(c for c in original.cells if c.cell_type == "code").source  # Colab setup kept
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    # every exercise cell is unanswered: a student notebook run as it is scores nothing
    for cell in student.cells:
        if cell.cell_type == "code" and "check(" in cell.source:
            assert "answer = None" in cell.source, cell.source
    assert nbformat.read(path, as_version=4) == original  # the chapter itself is untouched


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(s[3:]) if s.startswith("md:") else nbformat.v4.new_code_cell(s)
        for s in cells])


def test_strip_keeps_text_around_the_markers():
    nb = _nb("md:intro", "answer = None\ncheck('background.q1', answer)",
             "md:````{solution-start} ex-1\n:class: dropdown\n````", "solution = 200",
             "md:why it works\n\n````{solution-end}\n````\n\n````{exercise}\n:label: ex-2\n\nNext?\n````")
    out = classroom.strip_solutions(nb)
    assert [c.source for c in out.cells] == ["intro", "answer = None\ncheck('background.q1', answer)",
                                             "````{exercise}\n:label: ex-2\n\nNext?\n````"]


@pytest.mark.parametrize("cells", [
    ("md:````{solution-start} ex-1\n````", "x = 1"),
    ("md:````{solution-end}\n````",),
    ("md:````{solution-start} a\n````", "md:````{solution-start} b\n````"),
])
def test_unbalanced_markers_are_an_error(cells):
    with pytest.raises(ValueError, match="solution"):
        classroom.strip_solutions(_nb(*cells))


def test_bad_input():
    with pytest.raises(FileNotFoundError):
        classroom.strip_solutions("no/such/chapter.ipynb")
    with pytest.raises(TypeError):
        classroom.strip_solutions(42)


def test_write_student_notebooks(tmp_path):
    written = classroom.write_student_notebooks(tmp_path, CHAPTERS[:2])
    assert [p.name for p in written] == [p.name for p in CHAPTERS[:2]]
    assert all("{solution-start}" not in p.read_text() for p in written)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Four submissions of the background chapter's exercises, graded once."""
    subs = tmp_path_factory.mktemp("submissions")
    q1 = get("background.q1").expected()
    cases = {
        "ada": [f"check('background.q1', {q1})", "check('background.q3', 1.0)"],
        "bob": [f"check('background.q1', {q1})", "raise RuntimeError('boom')",
                "check('background.q4', {'CT'})"],
        "cy": [f"check('background.q1', {q1})", "while True:\n    pass"],
        "dee": ["import os, shutil\nfor f in os.listdir('.'):\n    os.remove(f)\n"
                "shutil.rmtree(os.path.expanduser('~'), ignore_errors=True)\n"
                "for f in ('../keep.txt', '../../keep.txt'):\n"
                "    if os.path.exists(f):\n        os.remove(f)",
                f"check('background.q1', {q1})"],
    }
    for student, cells in cases.items():
        (subs / student).mkdir()
        nb = _nb("from medlab.exercises import check", *cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, subs / student / "background.ipynb")
    (subs / "keep.txt").write_text("instructor file")
    out = tmp_path_factory.mktemp("out") / "scores.csv"
    rows = classroom.grade(subs, out, timeout=30)
    return subs, out, {(r.student, r.exercise): r for r in rows}


def test_grading_scores_each_exercise(graded):
    _, out, rows = graded
    assert rows["ada", "background.q1"].passed and not rows["ada", "background.q1"].hint
    assert not rows["ada", "background.q3"].passed and "Hint:" in rows["ada", "background.q3"].hint
    assert not rows["ada", "background.q2"].passed  # never attempted
    table = list(csv.DictReader(out.open()))
    assert len(table) == 4 * len(keys("background"))
    assert {"student", "exercise", "passed", "hint", "error", "timed_out"} <= set(table[0])


def test_a_crash_is_reported_and_later_cells_still_run(graded):
    rows = graded[2]
    assert rows["bob", "background.q1"].passed
    assert "RuntimeError: boom" in rows["bob", "background.q1"].error
    after = rows["bob", "background.q4"]
    assert after.passed or after.hint  # the check after the crash ran and was recorded


def test_a_loop_times_out_without_stopping_the_run(graded):
    rows = graded[2]
    assert rows["cy", "background.q1"].timed_out and rows["cy", "background.q1"].passed
    assert not rows["dee", "background.q1"].timed_out


def test_a_file_deleting_submission_harms_nothing_outside_its_scratch(graded):
    subs, out, rows = graded
    assert (subs / "keep.txt").read_text() == "instructor file"
    assert all((subs / s / "background.ipynb").is_file() for s in ("ada", "bob", "cy", "dee"))
    assert out.is_file() and rows["dee", "background.q1"].passed


def test_bad_submission_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        classroom.submissions(tmp_path / "absent")
    with pytest.raises(ValueError, match="no notebooks"):
        classroom.submissions(tmp_path)
    (tmp_path / "eve").mkdir()
    nbformat.write(_nb("x = 1"), tmp_path / "eve" / "not_a_chapter.ipynb")
    with pytest.raises(ValueError, match="not a chapter"):
        classroom.submissions(tmp_path)


@pytest.mark.notebook
def test_grading_a_real_chapter_solution_passes_all_student_passes_none(tmp_path):
    """The background chapter graded twice: as written (solutions in) and as a student gets it."""
    subs = tmp_path / "submissions"
    (subs / "teacher").mkdir(parents=True)
    (subs / "student").mkdir()
    shutil.copy(ROOT / "chapters" / "background.ipynb", subs / "teacher" / "background.ipynb")
    nbformat.write(classroom.strip_solutions(ROOT / "chapters" / "background.ipynb"),
                   subs / "student" / "background.ipynb")
    rows = classroom.grade(subs, tmp_path / "scores.csv", timeout=900)
    teacher = [r for r in rows if r.student == "teacher"]
    student = [r for r in rows if r.student == "student"]
    assert len(teacher) == len(student) == len(keys("background"))
    assert all(r.passed and not r.error and not r.timed_out for r in teacher), teacher
    assert not any(r.passed for r in student) and not any(r.error for r in student), student
