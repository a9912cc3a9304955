"""Hostile submissions against the classroom grader (issue #30).

One grading run, with the sandbox, grades every submission below at once (``--jobs 3``); each test
states one attack and asserts its outcome: the instructor's scores unchanged (the attack earns
nothing it did not answer), the run completed, the CSV written. The key is the package's
``background.q1`` plus cheap private variants of ``background.q2``..``q5`` from an instructor's
``--key`` file, so the run computes nothing heavy; every submission is a few tiny cells.
"""

from __future__ import annotations

import csv
import hashlib
import os
import socket
import textwrap
import threading
from pathlib import Path

import nbformat
import pytest

from medlab.exercises import get
from tools.classroom import grading, sandbox

pytestmark = pytest.mark.skipif(sandbox.bwrap()[0] is None, reason="bubblewrap does not work here "
                                "(.ci/run installs it; there its absence fails test_bwrap_is_installed)")

ROOT = Path(__file__).resolve().parents[1]
Q1 = get("background.q1").expected()
KEY = """
from medlab.exercises import Exercise
EXERCISES = {
    "background.q2": Exercise(answer=2.5, hint="private hint two"),
    "background.q3": Exercise(answer=(1, 2, 3), hint="three numbers", points=3, partial=True),
    "background.q4": Exercise(answer={"CT", "MR"}, hint="two modalities", points=2),
    "background.q5": Exercise(answer="axial", hint="a plane"),
}
"""
RIGHT = [f"check('background.q1', {Q1!r})", "check('background.q2', 2.5)",
         "check('background.q3', (1, 2, 3))", "check('background.q4', {'MR', 'CT'})",
         "check('background.q5', 'Axial ')"]
FULL = 1 + 1 + 3 + 2 + 1
PARTIAL = ["check('background.q3', (1, 2, 0))", "check('background.q4', ['ct', 'PET'])"]
LIMITS = sandbox.Limits(wall_s=100, memory_mb=1024, file_mb=16, scratch_mb=256, files=2000, processes=64,
                        output_mb=1)
MARK = "medlab-hostile-marker-7f3a"


def _hashes() -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (ROOT / "medlab" / "exercises").glob("*.py")}


def _nb(*cells: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c).strip())
                                         for c in ("from medlab.exercises import check", *cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _submissions(subs: Path, instructor: Path, port: int) -> dict[str, list[str]]:
    wrong = ["check('background.q1', 1.0)", "check('background.q2', 0.5)",
             "check('background.q3', (9, 9, 9))", "check('background.q4', {'US'})",
             "check('background.q5', 'coronal')"]
    return {
        "honest": RIGHT,
        "blank": [f"check('background.q{i}', None)" for i in range(1, 6)],
        "forge": ["""
            import medlab.exercises as ex
            ex.matches = lambda *a, **k: (True, '')
            ex._verdict_message = lambda key, *a: key + ': correct.'
            ex.score = lambda *a, **k: (99.0, '')
            """, *wrong, """
            class Always:
                def __eq__(self, other): return True
                def __float__(self): return 2.5
            check('background.q2', Always())
            """, """
            import json, os
            path = os.environ['MEDLAB_GRADE_LOG']
            with open(path, 'a') as f:
                for i in range(1, 6):
                    rec = {'key': f'background.q{i}', 'status': 'correct', 'points': 99}
                    f.write(json.dumps(rec) + '\\n')
                f.write('not json at all\\n{"key": "background.q2", "answer": {"__pickle__": "x"}}\\n')
                f.write('{"key": "background.q2", "answer": {"__ndarray__": {"dtype": "O", "shape": [1], '
                        '"data": [1]}}}\\n')
            """],
        "forge_key": [f"""
            import glob, os, re
            from medlab.exercises import get
            found = {{}}
            for k in ['background.q1', 'background.q2', 'background.q5']:
                try:
                    found[k] = get(k).expected()
                except Exception as err:
                    print('withheld:', type(err).__name__)
            ex = get('background.q2')
            print(repr(ex))
            assert 'answer=2.5' not in repr(ex)
            paths = [{str(instructor)!r}, {str(ROOT / 'medlab' / 'exercises' / 'background.py')!r},
                     {str(ROOT / 'chapters' / 'background.ipynb')!r}, {str(ROOT / 'tools' / 'classroom')!r},
                     *glob.glob('/opt/student/medlab/exercises/*.py'), *glob.glob('/work/**/*.py')]
            for path in paths:
                try:
                    text = open(path).read()
                except OSError as err:
                    print('refused:', err)
                    continue
                if any(s in text for s in ('answer=2.5', 'private hint', 'answer=400', 'solution-start')):
                    check('background.q2', 2.5)  # a key was readable
                    check('background.q5', 'axial')
            for k, v in found.items():
                check(k, v)
            """],
        "tamper": ["""
            import medlab.exercises, pathlib
            src = pathlib.Path(medlab.exercises.__file__)
            for target in [src, src.with_name('background.py')]:
                try:
                    target.write_text('def check(*a, **k):\\n    return True\\n')
                    print('tampered', target)
                except OSError as err:
                    print('refused:', err)
            try:
                src.chmod(0o777)
            except OSError as err:
                print('refused:', err)
            """, *wrong[:2]],
        "zz_after_tamper": wrong,  # graded after the tamperer: must still score nothing
        "a1_c_loop": [RIGHT[0], f"""
            import os, subprocess
            subprocess.Popen(['sh', '-c', 'sleep 3000; echo {MARK}'], start_new_session=True)
            subprocess.Popen(['python', '-c', 'import os, time\\nif os.fork() == 0:\\n  os.setsid()\\n'
                              '  time.sleep(3000)  # {MARK}'])
            os._exit = lambda *a: None
            import re
            re.match(r'(a+)+$', 'a' * 64 + 'b')  # C code holding the GIL, for ever
            """, RIGHT[1]],
        "a2_py_loop": [RIGHT[0], "while True:\n    pass", RIGHT[1]],
        "escape": [f"""
            import os, shutil
            for target in [{str(instructor)!r}, {str(subs / 'honest' / 'background.ipynb')!r}]:
                for act in (os.remove, lambda p: open(p, 'w').write('x')):
                    try:
                        act(target)
                    except OSError as err:
                        print('refused:', err)
            for target in ['/root/{MARK}', '/tmp/{MARK}', '/usr/{MARK}', '/etc/{MARK}']:
                try:
                    open(target, 'w').write('x')
                except OSError as err:
                    print('refused:', err)
            shutil.rmtree(os.path.expanduser('~'), ignore_errors=True)
            """, RIGHT[0], f"""
            import socket
            reached = False
            for host, port in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)]:
                try:
                    socket.create_connection((host, port), timeout=3).close()
                    reached = True
                except OSError as err:
                    print(host, err)
            check('background.q2', 2.5 if reached else 0.0)
            """],
        "huge_output": [RIGHT[0], """
            import sys
            for _ in range(40):
                sys.stdout.write('x' * (1 << 20))
            """, """
            try:
                with open('big.bin', 'wb') as f:
                    for _ in range(64):
                        f.write(b'0' * (1 << 20))
            except OSError as err:
                print('refused:', err)
            """, RIGHT[1]],
        "memory": [RIGHT[0], """
            import numpy as np
            hog = [np.ones(1 << 27) for _ in range(24)]  # 24 GiB, touched
            """, RIGHT[1]],
        "disk": [RIGHT[0], """
            for i in range(1000):
                open(f'f{i}', 'wb').write(b'0' * (15 << 20))
            """, RIGHT[1]],
        "links": [RIGHT[0], f"""
            import os
            os.remove('/grader-out/records.jsonl')
            os.symlink({str(instructor)!r}, '/grader-out/records.jsonl')
            os.mkfifo('/grader-out/executed.ipynb')
            """],
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Grade every hostile submission once; return the folder, the tables and the rows by key."""
    base = tmp_path_factory.mktemp("hostile")
    subs, instructor = base / "submissions", base / "key.py"
    instructor.write_text(KEY)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    threading.Thread(target=lambda: [server.accept() for _ in range(8)], daemon=True).start()
    for student, cells in _submissions(subs, instructor, server.getsockname()[1]).items():
        (subs / student).mkdir(parents=True)
        nbformat.write(_nb(*cells), subs / student / "background.ipynb")
    # misnamed, stray and broken files
    (subs / "colab").mkdir()
    nbformat.write(_nb(*RIGHT), subs / "colab" / "Copy of background.ipynb")
    (subs / "dup").mkdir()
    nbformat.write(_nb(*PARTIAL), subs / "dup" / "background (1).ipynb")
    nbformat.write(_nb(*RIGHT[:1]), subs / "dup" / "notes.ipynb")
    (subs / "dup" / "answers.txt").write_text("42")
    (subs / "broken").mkdir()
    (subs / "broken" / "background.ipynb").write_text("{ this is not json")
    (subs / "README.txt").write_text("stray file")
    package = _hashes()
    out = base / "out" / "scores.csv"
    rows = grading.grade(subs, out, key_file=instructor, jobs=3, limits=LIMITS, echo=True)
    server.close()
    return {"subs": subs, "out": out, "key": instructor, "package": package,
            "rows": {(r.student, r.exercise): r for r in rows}, "list": rows}


def _points(hostile, student):
    return sum(r.points for (s, _), r in hostile["rows"].items() if s == student)


def test_a_correct_submission_scores_full_marks_and_a_blank_one_zero(hostile):
    """No attack: the right answers earn every point; unanswered exercises earn none."""
    assert _points(hostile, "honest") == FULL
    assert all(r.passed and not r.error for (s, _), r in hostile["rows"].items() if s == "honest")
    assert _points(hostile, "blank") == 0
    assert not any(r.answered for (s, _), r in hostile["rows"].items() if s == "blank")


def test_partial_credit_for_exercises_with_parts(hostile):
    """Two of three parts right earn two thirds of the points; a set with an extra item loses one."""
    rows = hostile["rows"]
    assert rows["dup", "background.q3"].points == pytest.approx(2.0)
    assert not rows["dup", "background.q3"].passed
    assert rows["dup", "background.q4"].points == 0  # not partial: all or nothing
    assert "three numbers" in rows["dup", "background.q3"].hint  # the instructor's private hint


def test_replacing_the_checker_in_the_kernel_forges_nothing(hostile):
    """Attack: monkeypatch ``matches``/``score``/the verdict in the student's kernel, and answer with an
    object whose ``__eq__`` is always true. The grader compares in its own process: zero."""
    assert _points(hostile, "forge") == 0
    assert "could not be recorded" in hostile["rows"]["forge", "background.q2"].hint


def test_appending_correct_statuses_to_the_log_forges_nothing(hostile):
    """Attack: append ``{"status": "correct"}`` lines (and junk, a pickle tag, an object array) to
    ``$MEDLAB_GRADE_LOG``. Only recorded answers count; malformed lines are reported, never fatal."""
    rows = hostile["rows"]
    assert _points(hostile, "forge") == 0
    assert "malformed line(s)" in rows["forge", "background.q1"].error


def test_the_key_cannot_be_read_or_computed_in_the_sandbox(hostile):
    """Attack: call ``get(key).expected()``, read the instructor's key file, the package's answer
    modules, the chapters with solutions and the grader by path. None is there: zero."""
    assert _points(hostile, "forge_key") == 0
    assert not any(r.answered for (s, _), r in hostile["rows"].items() if s == "forge_key")


def test_tampering_with_the_checker_changes_no_later_result(hostile):
    """Attack: overwrite the checker's source and the answer module in place. The student build is
    read-only; a later student's wrong answers still score zero; the repository is unchanged."""
    assert _points(hostile, "tamper") == 0
    assert _points(hostile, "zz_after_tamper") == 0
    assert _hashes() == hostile["package"]


def _survivors() -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if MARK.encode() in Path(f"/proc/{entry.name}/cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_c_loop_with_os_exit_disabled_and_child_processes_is_killed_entirely(hostile):
    """Attack: start detached child processes (a new session, a double fork), disable ``os._exit``,
    then loop in C holding the GIL. The time limit kills the whole namespace; the answer given
    before counts; no process survives grading."""
    rows = hostile["rows"]
    assert rows["a1_c_loop", "background.q1"].timed_out and rows["a1_c_loop", "background.q1"].passed
    assert not rows["a1_c_loop", "background.q2"].passed
    assert _survivors() == []


def test_a_python_loop_times_out_without_stopping_the_run(hostile):
    """Attack: ``while True: pass``. Killed at the limit, the earlier answer kept, the others graded."""
    rows = hostile["rows"]
    assert rows["a2_py_loop", "background.q1"].timed_out and rows["a2_py_loop", "background.q1"].points == 1
    assert not rows["honest", "background.q1"].timed_out


def test_writing_and_deleting_outside_the_scratch_folder_fails(hostile):
    """Attack: delete or overwrite the instructor's key and another student's notebook by absolute path,
    write into /root, /usr, /etc and /tmp, wipe the home folder. Nothing outside changes."""
    assert hostile["key"].read_text() == KEY
    assert (hostile["subs"] / "honest" / "background.ipynb").is_file()
    assert not any(Path(d, MARK).exists() for d in ("/root", "/tmp", "/usr", "/etc"))
    assert hostile["rows"]["escape", "background.q1"].passed


def test_the_network_is_unreachable(hostile):
    """Attack: connect to a server on the grader's loopback and to the internet (the notebook answers
    q2 correctly only if a connection succeeds)."""
    assert not hostile["rows"]["escape", "background.q2"].passed
    assert hostile["rows"]["escape", "background.q2"].answered


def test_huge_output_and_a_huge_file_are_capped(hostile):
    """Attack: print 40 MiB and write a 64 MiB file (limits 1 MiB of outputs, 16 MiB per file). The
    output is dropped, the write fails, and the run goes on to the last answer."""
    rows = hostile["rows"]
    assert rows["huge_output", "background.q1"].passed and rows["huge_output", "background.q2"].passed
    assert not rows["huge_output", "background.q1"].timed_out


def test_a_memory_hog_is_killed_and_keeps_what_it_earned(hostile):
    """Attack: allocate 24 GiB (limit 1 GiB). The watchdog kills the sandbox; q1 counts, q2 never ran."""
    rows = hostile["rows"]
    assert "MiB of memory" in rows["memory", "background.q1"].error
    assert rows["memory", "background.q1"].passed and not rows["memory", "background.q2"].passed


def test_filling_the_disk_is_stopped(hostile):
    """Attack: write 15 MiB files in a loop (limit 256 MiB of scratch). Killed; q1 counts."""
    rows = hostile["rows"]
    assert "MiB of files" in rows["disk", "background.q1"].error
    assert rows["disk", "background.q1"].passed


def test_links_and_fifos_in_the_output_folder_are_not_followed(hostile):
    """Attack: replace the records with a symbolic link to the instructor's key and the executed
    notebook with a FIFO (to read the key through the grader, or hang it). Neither is opened."""
    rows = hostile["rows"]
    assert _points(hostile, "links") == 0
    assert "records: not a regular file" in rows["links", "background.q1"].error or \
        "records: unreadable" in rows["links", "background.q1"].error
    assert "private hint" not in rows["links", "background.q1"].error


def test_misnamed_stray_and_broken_files_are_reported_and_never_stop_the_run(hostile):
    """Colab's "Copy of background.ipynb" and "background (1).ipynb" are graded as background; a
    stray notebook, a text file and a file outside a student folder are reported; a non-JSON
    notebook scores zero with its reason. Every table is written."""
    rows, out = hostile["rows"], hostile["out"]
    assert _points(hostile, "colab") == FULL
    assert "Copy of background.ipynb" in rows["colab", "background.q1"].error
    assert "background (1).ipynb" in rows["dup", "background.q3"].error
    assert "not a readable notebook" in rows["broken", "background.q1"].error
    assert _points(hostile, "broken") == 0
    problems = list(csv.DictReader(open(f"{out.with_suffix('')}-problems.csv")))
    text = "\n".join(p["path"] + ": " + p["message"] for p in problems)
    assert "notes.ipynb: not named after a chapter" in text
    assert "answers.txt: not a notebook" in text
    assert "README.txt: not in a student's folder" in text


def test_every_table_is_written(hostile):
    """The long CSV (one row per student and exercise), the gradebook (one row per student, one column
    per exercise, total), and one HTML feedback page per student with its hints."""
    out, rows = hostile["out"], hostile["list"]
    students = {r.student for r in rows}
    long = list(csv.DictReader(open(out)))
    assert len(long) == 5 * len(students)
    book = {r["student"]: r for r in csv.DictReader(open(f"{out.with_suffix('')}-gradebook.csv"))}
    assert set(book) == students and float(book["honest"]["total"]) == FULL == float(book["honest"]["max"])
    assert float(book["forge"]["total"]) == 0
    page = (Path(f"{out.with_suffix('')}-feedback") / "dup.html").read_text()
    assert "three numbers" in page and "2 / 3" in page
    evil = (Path(f"{out.with_suffix('')}-feedback") / "forge.html").read_text()
    assert "<script" not in evil
