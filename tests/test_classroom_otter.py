"""The Otter-Grader export of a chapter (``python -m tools.classroom otter``, issue #30).

The fast tests check the master notebook and run its generated tests in this process. The round
trip uses Otter's own tooling: ``otter assign`` on the export of one small chapter, then
``otter run`` on the autograder's solution notebook (full marks) and on the blank student
notebook (zero). It runs in a virtual environment of its own, cached in
``~/.cache/medlab/otter-venv/`` (``$MEDLAB_OTTER_VENV`` overrides), that holds Otter-Grader
(version pinned below) and sees this environment's packages (a ``.pth`` file) for the chapter's
own imports; the chapter imports a *student build* of medlab (no answer key), so the grading
relies only on the hidden tests of the export. Without PyPI the round trip is skipped, except
where ``MEDLAB_REQUIRE_OTTER=1`` (``.ci/run``): there it fails.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from values import assert_same_value

from tools.classroom import main as classroom_main
from tools.classroom.otter import literal, master_notebook, write_assignment

ROOT = Path(__file__).resolve().parents[1]
OTTER_VERSION = "7.0.0"
CHAPTER = "images_as_data"  # the chapter the sandboxed grader's own test uses: the cheapest


def _nb(*cells: str):
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(s[3:]) if s.startswith("md:") else nbformat.v4.new_code_cell(s)
        for s in cells])


def _exercise(n: int, text: str, answer_cell: str, solution: str) -> list[str]:
    return [f"md:````{{exercise}}\n:label: ex-demo-{n}\n\n{text}\n````", answer_cell,
            f"md:````{{solution-start}} ex-demo-{n}\n:class: dropdown\n````", solution,
            "md:````{solution-end}\n````"]


DEMO = _nb(
    "import numpy as np\nfrom medlab.exercises import check",
    "md:## Exercises",
    *_exercise(1, "How many mm?", 'answer = None  # mm\ncheck("demo.q1", answer)',
               'solution = 2.5 * 4\nassert check("demo.q1", solution)'),
    *_exercise(2, "The shape, as a tuple.", 'x = np.zeros((3, 4))\nanswer = None  # a tuple\n'
               'check("demo.q2", answer)', 'solution = x.shape\nassert check("demo.q2", solution)'),
    *_exercise(3, "Which modalities use X-rays?", 'answer = None  # a set\ncheck("demo.q3", answer)',
               'solution = {"CT", "CR"}'),
    *_exercise(4, "The kernel.", 'answer = None  # an array\ncheck("demo.q4", answer)',
               'solution = np.eye(2)'),
    "md:````{exercise}\n:label: ex-demo-5\n\nExplain in words.\n````\n\n"
    "````{solution-start} ex-demo-5\n:class: dropdown\n````\n\nBecause.\n\n````{solution-end}\n````",
    "md:## Summary",
)
KEY = """\
import numpy as np
from medlab.exercises import Exercise

EXERCISES = {
    "demo.q1": Exercise(answer=10.0, hint="area = side x side", rtol=0.01),
    "demo.q2": Exercise(answer=(3, 4), hint="rows first", points=2, partial=True),
    "demo.q3": Exercise(answer={"CT", "CR"}, hint="not MR"),
    "demo.q4": Exercise(answer=lambda: np.eye(2), hint="ones on the diagonal"),
}
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("otter-demo")
    nbformat.write(DEMO, base / "demo.ipynb")
    (base / "key.py").write_text(KEY)
    nb, summary = master_notebook("demo", notebook=base / "demo.ipynb", key_file=base / "key.py")
    return nb, summary, base


def _tests(nb, question: str) -> tuple[str, list[str]]:
    """The public test and the hidden tests of one question (cell sources)."""
    cells = [c.source for c in nb.cells if c.cell_type == "code" and f"def test_{question}" in c.source]
    public = [s for s in cells if "hidden: true" not in s]
    return public[0], [s for s in cells if "hidden: true" in s]


def _passes(source: str, variable: str, value) -> bool:
    try:
        exec(compile(source, "<test>", "exec"), {variable: value})
    except AssertionError:
        return False
    return True


def test_master_notebook_has_the_config_and_one_question_per_exercise(demo):
    nb, summary, _ = demo
    assert nb.cells[0].cell_type == "raw" and nb.cells[0].source.startswith("# ASSIGNMENT CONFIG")
    assert 'os.environ["MEDLAB_QUICK"] = "1"' in nb.cells[1].source
    assert [q["name"] for q in summary["questions"]] == ["q1", "q2", "q3", "q4"]
    assert summary["manual"] == ["ex_demo_5"]
    raw = [c.source for c in nb.cells if c.cell_type == "raw"]
    assert "# BEGIN QUESTION\nname: q2\npoints: 2.0" in raw
    assert raw.count("# BEGIN QUESTION\nname: ex_demo_5\nmanual: true") == 1
    assert sum(s == "# BEGIN QUESTION" or s.startswith("# BEGIN QUESTION\n") for s in raw) \
        == sum(s == "# END QUESTION" for s in raw) == 5
    text = "\n".join(c.source for c in nb.cells)
    assert "{exercise}" not in text and "{solution-start}" not in text and "check(" not in text.split(
        "from medlab.exercises import check", 1)[1]
    # the solution sits in a block that otter assign removes; the student keeps `answer_q2 = ...`
    cell = next(c.source for c in nb.cells if "answer_q2 = solution" in c.source)
    assert cell.splitlines()[0] == "x = np.zeros((3, 4))"
    assert "# BEGIN SOLUTION NO PROMPT\nsolution = x.shape\n# END SOLUTION\n# a tuple\n" \
           "answer_q2 = solution  # SOLUTION" in cell
    assert len({c.get("id") for c in nb.cells}) == len(nb.cells)


def test_public_tests_tell_only_the_kind_and_hidden_ones_compare_with_the_key(demo):
    nb = demo[0]
    public, hidden = _tests(nb, "q1")
    assert "10.0" not in public and len(hidden) == 1 and "expected = 10.0" in hidden[0]
    for given, ok_public, ok_hidden in [(None, False, False), (..., False, False), ("ten", False, False),
                                        (10.05, True, True), (np.float32(10), True, True),
                                        (10.2, True, False), (True, False, False)]:
        assert _passes(public, "answer_q1", given) == ok_public, given
        assert _passes(hidden[0], "answer_q1", given) == ok_hidden, given
    public, hidden = _tests(nb, "q3")
    assert _passes(hidden[0], "answer_q3", ["cr", " CT"]) and not _passes(hidden[0], "answer_q3", {"CT"})
    assert _passes(public, "answer_q3", {"MR"})
    public, hidden = _tests(nb, "q4")
    assert _passes(public, "answer_q4", np.ones((2, 2))) and not _passes(public, "answer_q4", np.ones(3))
    assert _passes(hidden[0], "answer_q4", [[1, 0], [0, 1]])
    assert not _passes(hidden[0], "answer_q4", np.ones((2, 2)))


def test_a_partial_exercise_gets_one_hidden_test_per_item(demo):
    public, hidden = _tests(demo[0], "q2")
    assert len(hidden) == 2 and all("points: 1.0" in h for h in hidden)
    assert [_passes(h, "answer_q2", (3, 5)) for h in hidden] == [True, False]
    assert [_passes(h, "answer_q2", np.array([3, 4])) for h in hidden] == [True, True]
    assert not any(_passes(h, "answer_q2", (3, 4, 5)) for h in hidden)
    assert _passes(public, "answer_q2", (0, 0)) and not _passes(public, "answer_q2", (0,))


def test_the_hint_comes_with_a_failed_hidden_test_and_never_the_answer(demo):
    _, hidden = _tests(demo[0], "q1")
    with pytest.raises(AssertionError, match="area = side x side") as err:
        exec(compile(hidden[0], "<test>", "exec"), {"answer_q1": 3.0})
    assert "10" not in str(err.value)


@pytest.mark.parametrize("value", [None, True, -3, 2**70, 0.1, float("nan"), float("-inf"), "CT",
                                   (1,), (), [1, (2.5, "a")], {"CT", "MR"}, set(), {"a": 1},
                                   np.int64(4), np.float32(0.5), np.arange(6.0).reshape(2, 3),
                                   np.array(["a", "b"]), np.zeros((0, 3), int)])
def test_literals_evaluate_to_the_value(value):
    back = eval(literal(value), {"np": np})  # noqa: S307 - our own generated source
    assert_same_value(back, value, types=(int, float))


def test_unknown_keys_and_bad_chapters_are_clear_errors(tmp_path, capsys):
    nbformat.write(_nb(*_exercise(1, "x", 'answer = None\ncheck("demo.q9", answer)', "solution = 1")),
                   tmp_path / "demo.ipynb")
    with pytest.raises(KeyError, match="demo.q9"):
        master_notebook("demo", notebook=tmp_path / "demo.ipynb")
    assert classroom_main(["otter", "demo", "--notebook", str(tmp_path / "demo.ipynb"),
                           "--out", str(tmp_path / "out")]) == 2
    assert "demo.q9" in capsys.readouterr().err
    nbformat.write(_nb("md:````{solution-start} x\n````", "x = 1"), tmp_path / "broken.ipynb")
    with pytest.raises(ValueError, match="solution"):
        master_notebook("demo", notebook=tmp_path / "broken.ipynb")


# -- the round trip through Otter's own tooling --------------------------------------------------

def _require() -> bool:
    return os.environ.get("MEDLAB_REQUIRE_OTTER") == "1"


def _venv_dir() -> Path:
    base = Path(os.environ.get("MEDLAB_OTTER_VENV") or Path.home() / ".cache" / "medlab" / "otter-venv")
    tag = hashlib.sha1(f"{sys.prefix}|{sys.version}".encode()).hexdigest()[:10]
    return base / f"otter-grader-{OTTER_VERSION}-{tag}"


def otter_venv() -> Path:
    """The ``bin`` folder of a cached venv with Otter-Grader that sees this environment's packages."""
    venv = _venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / "ready").is_file():
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        purelib = subprocess.run([str(python), "-c", where], capture_output=True, text=True,
                                 check=True).stdout.strip()
        # this environment's packages come after Otter's own (a .pth line appends to sys.path);
        # pip then installs only what Otter needs and this environment lacks or has in another version
        parents = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
        Path(purelib, "medlab-parent-env.pth").write_text("\n".join(parents) + "\n")
        proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               f"otter-grader=={OTTER_VERSION}"], capture_output=True, text=True)
        if proc.returncode:
            shutil.rmtree(venv, ignore_errors=True)
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            message = f"pip could not install otter-grader=={OTTER_VERSION}:\n" + "\n".join(tail)
            if _require():
                pytest.fail(message)
            pytest.skip(message + "\n(PyPI unreachable? MEDLAB_REQUIRE_OTTER=1 makes this a failure)")
        (venv / "ready").write_text(OTTER_VERSION + "\n")
    return venv / "bin"


def _student_build(dest: Path) -> Path:
    from tools.classroom.grading import load_key, write_student_build

    return write_student_build(dest, load_key(None, {CHAPTER}), {}).parent


def _scores(results: Path) -> dict[str, tuple[float, float]]:
    """(score, max) of every question in Otter's results.json."""
    return {t["name"]: (float(t.get("score") or 0), float(t["max_score"]))
            for t in json.loads(results.read_text())["tests"]
            if t.get("max_score") is not None and t["name"] != "Public Tests"}


def _total(scores: dict[str, tuple[float, float]]) -> tuple[float, float]:
    return sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())


def _otter_env(bin_dir: Path, pythonpath: Path, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=str(pythonpath), MEDLAB_QUICK="1", MPLBACKEND="Agg",
               MEDLAB_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("VIRTUAL_ENV", None)
    return env


def _assign(bin_dir: Path, master: Path, dist: Path, env: dict[str, str]) -> Path:
    """Run ``otter assign``; return the autograder zip."""
    proc = subprocess.run([str(bin_dir / "otter"), "assign", "--no-run-tests", "--no-pdfs", str(master),
                           str(dist)], capture_output=True, text=True, env=env, cwd=dist.parent, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (zipfile,) = (dist / "autograder").glob("*.zip")
    return zipfile


def _run(bin_dir: Path, zipfile: Path, notebooks: dict[str, Path], env: dict[str, str],
         tmp_path: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """``otter run`` on every notebook, all at once; the scores by notebook and question."""
    runs = {}
    for name, notebook in notebooks.items():
        out = tmp_path / f"results-{name}"
        out.mkdir()
        runs[name] = (out, subprocess.Popen([str(bin_dir / "otter"), "run", "--no-logo", "-a", str(zipfile),
                                             "-o", str(out), str(notebook)], stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path))
    scores = {}
    for name, (out, popen) in runs.items():
        try:
            log, _ = popen.communicate(timeout=600)
        finally:
            if popen.poll() is None:
                popen.kill()
        assert popen.returncode == 0 and (out / "results.json").is_file(), log[-4000:]
        scores[name] = _scores(out / "results.json")
    return scores


@pytest.mark.notebook
def test_otter_assign_then_otter_run_gives_full_marks_and_zero(tmp_path):
    """``otter assign`` on the export of one chapter, then ``otter run`` on the autograder's
    solution notebook (every question right) and on the blank student notebook (none)."""
    start = time.monotonic()
    bin_dir = otter_venv()
    master = write_assignment(CHAPTER, tmp_path / "master")
    env = _otter_env(bin_dir, _student_build(tmp_path / "build"), tmp_path)
    dist = tmp_path / "dist"
    zipfile = _assign(bin_dir, master, dist, env)
    solution, student = dist / "autograder" / f"{CHAPTER}.ipynb", dist / "student" / f"{CHAPTER}.ipynb"

    # the student version holds no solution and no hidden test
    text = student.read_text()
    assert "def same(" not in text and "# BEGIN SOLUTION" not in text and "answer_q1 = ..." in text
    assert "index_to_mm(mr2, (100, 200, 0))" not in text and "index_to_mm(mr2, (100, 200, 0))" in \
        solution.read_text()

    scores = _run(bin_dir, zipfile, {"solution": solution, "student": student}, env, tmp_path)
    n = sum(c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION\nname: q")
            for c in nbformat.read(master, as_version=4).cells)
    assert n == 5 and sorted(scores["solution"]) == [f"q{i}" for i in range(1, 6)]
    assert _total(scores["solution"]) == (float(n), float(n)), scores
    assert _total(scores["student"]) == (0.0, float(n)), scores
    print(f"otter round trip: {time.monotonic() - start:.0f} s")


def test_otter_scores_points_partial_credit_and_leaves_free_text_to_a_person(tmp_path, demo):
    """The small notebook above through Otter: points from the key, one share per item of a partial
    exercise, a wrong answer of the right kind scores nothing, free text becomes a manual question."""
    bin_dir = otter_venv()
    master = tmp_path / "master" / "demo.ipynb"
    master.parent.mkdir()
    nbformat.write(demo[0], master)
    env = _otter_env(bin_dir, ROOT, tmp_path)
    dist = tmp_path / "dist"
    zipfile = _assign(bin_dir, master, dist, env)
    student = nbformat.read(dist / "student" / "demo.ipynb", as_version=4)
    assert any(c.cell_type == "markdown" and "Type your answer here" in c.source for c in student.cells)
    answers = {"answer_q1 = ...": "answer_q1 = 10.05", "answer_q2 = ...": "answer_q2 = (3, 5)",
               "answer_q3 = ...": 'answer_q3 = {"MR"}'}
    for cell in student.cells:
        for blank, given in answers.items():
            cell.source = cell.source.replace(blank, given)
    nbformat.write(student, tmp_path / "partly.ipynb")
    scores = _run(bin_dir, zipfile, {"solution": dist / "autograder" / "demo.ipynb",
                                     "partly": tmp_path / "partly.ipynb"}, env, tmp_path)
    assert scores["solution"] == {"q1": (1.0, 1.0), "q2": (2.0, 2.0), "q3": (1.0, 1.0), "q4": (1.0, 1.0)}
    assert scores["partly"] == {"q1": (1.0, 1.0), "q2": (1.0, 2.0), "q3": (0.0, 1.0), "q4": (0.0, 1.0)}


@pytest.mark.parametrize("path", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_chapter_exports(path, monkeypatch):
    """Every chapter's exercises become questions (the key's values replaced by a stand-in here:
    computing them all would train the book's networks)."""
    from medlab.exercises import Exercise
    from tools.classroom import exercise_keys
    from tools.classroom.grading import free_text_exercises

    monkeypatch.setattr(Exercise, "expected", lambda self: 1.0)
    chapter = nbformat.read(path, as_version=4)
    nb, summary = master_notebook(path.stem)
    assert [q["key"] for q in summary["questions"]] == exercise_keys(chapter)
    assert len(summary["manual"]) == len(free_text_exercises(chapter))
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "answer = None" not in code and "{solution-start}" not in "\n".join(c.source for c in nb.cells)
    assert not re.search(r"^\s*(?:assert\s+)?check\(", code, re.M)  # Otter's grader.check instead
    for q in summary["questions"]:
        assert f"{q['variable']} = solution  # SOLUTION" in code
        assert re.search(rf"^\s*solution\s*=[^\n]*\n(?:.*\n)*?# END SOLUTION\n(?:# [^\n]*\n)?"
                         rf"{q['variable']} = solution", code, re.M), q
