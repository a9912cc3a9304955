"""The grader's parts (issue #30): answer records, the student build, reading untrusted files,
submissions' names, refusal without a sandbox, and temporary folders after Ctrl-C or a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from values import assert_same_value

from medlab.exercises import Exercise, check, decode_answer, encode_answer, score
from tools.classroom import grading, sandbox

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("answer", [
    None, True, 3, -2**70, 2.5, float("nan"), float("-inf"), "Axial", (1, 2.0, "x"), [1, [2, (3,)]],
    {"CT", "MR"}, {"a": 1, 2: [3]}, np.arange(6).reshape(2, 3), np.array([[1.5, np.nan]], np.float32),
    np.array(["a", "b"]), np.array(True), np.int64(7), np.float32(0.25)])
def test_answers_round_trip_through_json(answer):
    back = decode_answer(json.loads(json.dumps(encode_answer(answer), allow_nan=False)))
    assert_same_value(back, answer, types=(int, float, bool))


@pytest.mark.parametrize("data", [
    {"__pickle__": "gASV"}, {"__ndarray__": {"dtype": "O", "shape": [1], "data": [1]}},
    {"__ndarray__": {"dtype": "<f8", "shape": [3], "data": [1.0]}},
    {"__ndarray__": {"dtype": "<f8", "shape": [-1], "data": []}},
    {"__ndarray__": {"dtype": "<f8", "shape": [1], "data": [[1.0]]}},
    {"__set__": [[1], [2]]}, {"__dict__": [[1]]}, {"__float__": "1e400"}, {"a": 1, "b": 2},
    {"__tuple__": "ab"}])
def test_decoding_refuses_what_encoding_never_writes(data):
    with pytest.raises(ValueError):
        decode_answer(data)


def test_deep_nesting_is_refused_both_ways():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        encode_answer(deep)
    with pytest.raises(ValueError):
        decode_answer(json.loads("[" * 100 + "]" * 100))


def test_unsupported_answers_are_named():
    with pytest.raises(TypeError, match="object"):
        encode_answer(object())
    with pytest.raises(TypeError, match="complex"):
        encode_answer(np.array([1j]))


def test_check_records_each_answer_before_anything_else(tmp_path, monkeypatch, capsys):
    log = tmp_path / "records.jsonl"
    monkeypatch.setenv("MEDLAB_GRADE_LOG", str(log))
    assert not check("tools.q4", (16, 32, 3, 3))
    assert check("tools.q4", np.array([32, 16, 3, 3]))
    check("tools.q4", None)
    check("tools.q4", object())  # cannot be recorded: said so, and recorded as such
    assert "cannot be recorded" in capsys.readouterr().out
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert decode_answer(lines[0]["answer"]) == (16, 32, 3, 3)
    np.testing.assert_array_equal(decode_answer(lines[1]["answer"]), [32, 16, 3, 3])
    assert lines[2]["answer"] is None
    assert lines[0]["status"] == "wrong" and lines[1]["status"] == "correct"
    assert "unrecordable" in lines[3]
    monkeypatch.setenv("MEDLAB_GRADE_LOG", str(tmp_path / "big.jsonl"))
    check("tools.q4", "x" * (2 << 20))  # over the size limit: recorded as unrecordable
    assert "unrecordable" in (tmp_path / "big.jsonl").read_text()


def test_score_gives_points_and_partial_credit():
    ex = Exercise(answer=(1, 2, 3), hint="h", points=3, partial=True)
    assert score((1, 2, 3), ex) == (3.0, "")
    pts, hint = score((1, 0, 3), ex)
    assert pts == pytest.approx(2.0) and "Hint: h" in hint
    assert score((1, 2), ex)[0] == 0  # wrong length: nothing
    sets = Exercise(answer={"a", "b"}, hint="h", points=2, partial=True)
    assert score({"A", "c"}, sets)[0] == 0 and score({"a"}, sets)[0] == 1.0
    assert score({"a", "b"}, Exercise(answer={"a", "b", "c"}, hint="h"))[0] == 0  # not partial


def test_names_of_submitted_files():
    chapters = {"background", "tools", "images_as_data"}
    for name, chapter in [("background.ipynb", "background"), ("Copy of background.ipynb", "background"),
                          ("Copy of Copy of tools.ipynb", "tools"), ("background (1).ipynb", "background"),
                          ("Background.ipynb", "background"), ("images-as-data.ipynb", "images_as_data"),
                          ("tools - Copy.ipynb", "tools"), ("notes.ipynb", None), ("background.py", None)]:
        assert grading.chapter_of(name, chapters) == chapter, name


def test_records_last_answer_wins_and_nothing_else_is_trusted(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join([
        json.dumps({"key": "a.q1", "answer": 1}), json.dumps({"key": "a.q1", "answer": 2, "status": "x"}),
        json.dumps({"key": "a.q2", "status": "correct"}), "garbage", json.dumps([1, 2]),
        json.dumps({"key": "a.q3", "answer": {"__pickle__": "x"}}),
        json.dumps({"key": "a.q4", "answer": None}),
        json.dumps({"key": "a.q5", "unrecordable": "too big"})]) + "\n")
    records, problems = grading.read_records(path)
    assert records["a.q1"].value == 2 and "a.q2" not in records and "a.q3" not in records
    assert records["a.q4"].value is None and not records["a.q5"].recorded
    assert problems == ["records: 4 malformed line(s) ignored (line 3, 4, 5, 6)"]


def test_untrusted_files_are_not_followed_or_waited_for(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("the key")
    (tmp_path / "link").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo")
    assert grading.read_untrusted(tmp_path / "link", 100)[0] == b""
    assert grading.read_untrusted(tmp_path / "fifo", 100) == (b"", "not a regular file")
    assert grading.read_untrusted(tmp_path / "absent", 100) == (b"", "missing")
    assert grading.read_untrusted(secret, 3) == (b"the", "larger than 3 bytes: the rest was ignored")


def test_the_student_build_holds_no_answer(tmp_path, capsys):
    """Every answer and hint is gone from the build; ``expected()`` raises; ``check`` records and
    tells only the kind or shape; a private key's exercise is present without its answer."""
    key_file = tmp_path / "key.py"
    key_file.write_text("from medlab.exercises import Exercise\n"
                        "EXERCISES = {'tools.q9': Exercise(answer=(4, 5), hint='private', points=2)}\n")
    key = grading.load_key(key_file, {"tools"})
    assert "tools.q9" in key and "background.q1" not in key
    from medlab.exercises import public_spec

    public = {k: public_spec(ex.expected()) for k, ex in key.items()}
    build = grading.write_student_build(tmp_path / "build", key, public)
    text = "\n".join(p.read_text() for p in (build / "exercises").glob("*.py") if p.name != "__init__.py")
    for ex in key.values():
        assert ex.hint not in text
    assert "(32, 16, 3, 3)" not in text and "private" not in text and "sitk" not in text
    assert "'background.q1'" in text  # chapters not graded are there too, without answers
    code = ("import os\nfrom medlab.exercises import check, get\n"
            "try:\n    get('tools.q4').expected()\nexcept LookupError as e:\n    print('withheld', e)\n"
            "assert not check('tools.q4', (1, 2))\nassert check('tools.q9', (4, 5))\ncheck('tools.q3', 'x')\n"
            "import medlab; print(medlab.__file__)")
    env = {**os.environ, "PYTHONPATH": str(build.parent), "MEDLAB_GRADE_LOG": str(tmp_path / "r.jsonl")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "withheld the answer to tools.q4 is not in this student build" in out
    assert "tools.q4: recorded, but 4 values are expected" in out
    assert "tools.q9: recorded; it is graded after you submit." in out
    assert "tools.q3: recorded, but a number is expected, got str" in out
    assert "Hint" not in out and str(build) in out
    records, _ = grading.read_records(tmp_path / "r.jsonl")
    assert records["tools.q9"].value == (4, 5)


def test_bad_key_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        grading.load_key(tmp_path / "absent.py", {"tools"})
    (tmp_path / "k.py").write_text("EXERCISES = {'bad key': 1}")
    with pytest.raises(ValueError, match="keys look like"):
        grading.load_key(tmp_path / "k.py", {"tools"})
    (tmp_path / "k.py").write_text("EXERCISES = {'tools.q1': 1}")
    with pytest.raises(TypeError, match="Exercise"):
        grading.load_key(tmp_path / "k.py", {"tools"})


def test_without_bubblewrap_the_grader_refuses_unless_unsafe(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "bwrap", lambda: (None, "bubblewrap (bwrap) is not installed"))
    with pytest.raises(RuntimeError, match=r"refusing to grade: bubblewrap .* --unsafe"):
        grading.Session(chapters={"tools"})
    grading.Session(chapters={"tools"}, unsafe=True)  # told: accepted
    (tmp_path / "s" / "ana").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "s" / "ana" / "tools.ipynb")
    proc = subprocess.run([sys.executable, "-m", "tools.classroom", "grade", str(tmp_path / "s"), "--out",
                           str(tmp_path / "o.csv")], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PATH": "/nonexistent"})
    assert proc.returncode == 2 and "refusing to grade" in proc.stderr and "--unsafe" in proc.stderr


def test_stale_temporary_folders_of_a_crashed_run_are_swept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, alive = tmp_path / f"{grading.PREFIX}old", tmp_path / f"{grading.PREFIX}live"
    for folder, pid in [(stale, dead.pid), (alive, os.getpid())]:
        (folder / "build").mkdir(parents=True)
        (folder / "pid").write_text(str(pid))
    (stale / "build" / "ro").write_text("x")
    (stale / "build").chmod(0o555)
    grading.sweep_stale(tmp_path)
    assert not stale.exists() and alive.exists()


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process: a zombie (killed, not yet reaped by a parent that may be
    the container's init, which in some CI runners never reaps) holds no memory and runs nothing."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def _ctrl_c_as_in_a_terminal() -> None:
    """In the grader's child process: SIGINT's default action, as in a terminal. A test suite run as
    a background job (``.ci/run &``, a CI runner) inherits SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler, so the grader would never see this test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _describe(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        return stat[:80] + " | " + cmdline.decode(errors="replace")[:200]
    except OSError as err:
        return str(err)


@pytest.mark.skipif(sandbox.bwrap()[0] is None, reason="bubblewrap does not work here")
def test_ctrl_c_kills_the_sandbox_and_removes_the_temporary_folders(tmp_path):
    """Ctrl-C (SIGINT) while a submission loops: the grader stops, every sandboxed process is
    killed, its temporary folders are gone, and the tables are written with what was graded."""
    (tmp_path / "s" / "ana").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\nwhile True:\n    pass")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "s" / "ana" / "tools.ipynb")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # the grader's output goes to a file, not a pipe: a pipe would also wait for any process that
    # inherited it, and the assertions below name every process left instead
    log = (tmp_path / "grader.log").open("w")
    grader = subprocess.Popen([sys.executable, "-m", "tools.classroom", "grade", str(tmp_path / "s"),
                               "--out", str(tmp_path / "o.csv"), "--timeout", "600"], cwd=ROOT,
                              env={**os.environ, "TMPDIR": str(tmp)}, stdout=log,
                              stderr=subprocess.STDOUT, text=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    log.close()
    deadline = time.monotonic() + 300
    started = f"{grading.PREFIX}*/run-*/scratch/home/.ipython"
    while not list(tmp.glob(started)) and time.monotonic() < deadline:
        time.sleep(0.5)  # the kernel has started inside the sandbox
    kids = sandbox.descendants(grader.pid)
    assert len(kids) > 3, (tmp_path / "grader.log").read_text() if grader.poll() is not None else kids
    grader.send_signal(signal.SIGINT)
    try:
        grader.wait(timeout=300)
    except subprocess.TimeoutExpired:
        left = {p: _describe(p) for p in sandbox.descendants(grader.pid)}
        sandbox.kill_tree(grader)
        pytest.fail(f"the grader did not stop within 300 s of Ctrl-C; its processes: {left}\n"
                    + (tmp_path / "grader.log").read_text()[-3000:])
    out = (tmp_path / "grader.log").read_text()
    assert grader.returncode != 0
    left = [p for p in kids if p != grader.pid]
    for _ in range(40):  # killed processes may take a moment to leave
        left = [p for p in left if _running(p)]
        if not left:
            break
        time.sleep(0.25)
    assert not left, (out, {p: _describe(p) for p in left})
    assert list(tmp.iterdir()) == [], out
    assert (tmp_path / "o.csv").read_text().startswith("student,")


@pytest.mark.skipif(os.environ.get("MEDLAB_REQUIRE_SANDBOX") != "1",
                    reason="only where the sandbox is required (.ci/run sets MEDLAB_REQUIRE_SANDBOX=1)")
def test_bwrap_is_installed():
    """In CI the hostile suite must run, not skip: bubblewrap is installed and works."""
    path, why = sandbox.bwrap()
    assert path is not None, why


def test_free_text_exercises_are_listed_for_manual_grading(tmp_path):
    """An exercise no ``check`` grades is listed with what the student wrote under it."""
    chapter = nbformat.read(ROOT / "chapters" / "applications.ipynb", as_version=4)
    labels = grading.free_text_exercises(chapter)
    assert labels and all(label.startswith("ex-apps-") for label in labels)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"````{{exercise}}\n:label: {labels[0]}\n\nWhy?\n````"),
        nbformat.v4.new_markdown_cell("Because the scanner differs."),
        nbformat.v4.new_markdown_cell("````{exercise}\n:label: other\n\nNext\n````")])
    nbformat.write(nb, tmp_path / "applications.ipynb")
    sub = grading.Submission("ana", "applications", tmp_path / "applications.ipynb")
    rows = grading.manual_answers(sub, [*labels[:1], "ex-missing"])
    assert rows[0]["answer"] == "Because the scanner differs." and rows[0]["exercise"] == labels[0]
    assert "not in the submitted notebook" in rows[1]["answer"]


def test_unsafe_mode_still_grades_against_the_student_build(tmp_path):
    """``--unsafe`` (no sandbox, trusted notebooks only) still runs the student build and scores in
    the grader: a notebook that asks the package for the key gets nothing from it."""
    key = tmp_path / "key.py"
    key.write_text("from medlab.exercises import Exercise\n"
                   "EXERCISES = {'tools.q1': Exercise(answer=(1, 2), hint='h'), "
                   "'tools.q2': Exercise(answer=2.5, hint='h')}\n")
    (tmp_path / "s" / "ana").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from medlab.exercises import check, get\ncheck('tools.q1', (1, 2))\n"
        "try:\n    check('tools.q2', get('tools.q2').expected())\nexcept LookupError:\n    pass")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "s" / "ana" / "tools.ipynb")
    rows = grading.grade(tmp_path / "s", tmp_path / "o.csv", key_file=key, unsafe=True, echo=False,
                         limits=sandbox.Limits(wall_s=300))
    got = {r.exercise: r for r in rows}
    assert got["tools.q1"].passed and not got["tools.q2"].answered, rows
    assert not list(tmp_path.glob(f"{grading.PREFIX}*"))
