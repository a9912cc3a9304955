"""The classroom edition (tools.classroom): student notebooks and grading."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from medlab.exercises import keys
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


def test_bad_submission_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        classroom.submissions(tmp_path / "absent")
    assert classroom.submissions(tmp_path) == ([], [])  # nothing to grade is not an error
    (tmp_path / "eve").mkdir()
    nbformat.write(_nb("x = 1"), tmp_path / "eve" / "not_a_chapter.ipynb")
    subs, problems = classroom.submissions(tmp_path)
    assert subs == [] and "not named after a chapter" in problems[0].message


@pytest.mark.notebook
def test_grading_a_real_chapter_solution_passes_all_student_passes_none(tmp_path):
    """The smallest chapter graded in the sandbox twice: as written (solutions in: full marks) and
    as a student gets it (zero), against the package's own key."""
    chapter = "images_as_data"
    subs = tmp_path / "submissions"
    (subs / "teacher").mkdir(parents=True)
    (subs / "student").mkdir()
    shutil.copy(ROOT / "chapters" / f"{chapter}.ipynb", subs / "teacher" / f"{chapter}.ipynb")
    nbformat.write(classroom.strip_solutions(ROOT / "chapters" / f"{chapter}.ipynb"),
                   subs / "student" / f"{chapter}.ipynb")
    rows = classroom.grade(subs, tmp_path / "scores.csv", timeout=900, jobs=2)
    teacher = [r for r in rows if r.student == "teacher"]
    student = [r for r in rows if r.student == "student"]
    assert len(teacher) == len(student) == len(keys(chapter))
    assert all(r.passed and not r.error and not r.timed_out for r in teacher), teacher
    assert not any(r.passed or r.answered for r in student) and not any(r.error for r in student), student
