"""Grading: every submission executed in the sandbox against a student build of medlab, its recorded
answers compared with the instructor's key in the grader's own process.

See the page *For instructors* and :mod:`tools.classroom.sandbox`.
"""

from __future__ import annotations

import concurrent.futures
import csv
import html
import json
import os
import re
import runpy
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tools.classroom import sandbox

RUNNER = Path(__file__).with_name("_runner.py")
PREFIX = "medlab-grade-"
RECORDS_LIMIT = 16 << 20
"""Bytes of a submission's records the grader reads (the rest is reported as ignored)."""
NOTEBOOK_LIMIT = 64 << 20


@dataclass
class Score:
    """One row of the long table: one student, chapter and exercise."""

    student: str
    chapter: str
    exercise: str
    passed: bool
    points: float = 0.0
    max_points: float = 1.0
    answered: bool = False
    hint: str = ""
    error: str = ""
    timed_out: bool = False
    seconds: float = 0.0
    memory_mb: float = 0.0
    file: str = ""


@dataclass
class Problem:
    """A file that was not graded as it is, and why (never fatal)."""

    path: str
    message: str


@dataclass
class Submission:
    student: str
    chapter: str
    path: Path
    note: str = ""


# -- submissions -------------------------------------------------------------------------------

_COPY = re.compile(r"^(?:copy of\s+)+", re.I)
_NUMBERED = re.compile(r"(?:\s*\(\d+\)|\s*-\s*copy(?:\s*\(\d+\))?|[ _-]\d+)$", re.I)


def chapter_of(name: str, chapters: set[str]) -> str | None:
    """The chapter a submitted file's name means: ``background.ipynb``, ``Copy of background.ipynb``,
    ``background (1).ipynb``, ``Background.ipynb``... (``None`` if it names none)."""
    stem = name[:-len(".ipynb")] if name.lower().endswith(".ipynb") else name
    stem = _COPY.sub("", stem.strip()).strip()
    for candidate in (stem, _NUMBERED.sub("", stem).strip()):
        slug = candidate.lower().replace(" ", "_").replace("-", "_")
        if slug in chapters:
            return slug
    return None


def all_chapters() -> set[str]:
    import medlab.exercises as ex

    return {p.stem for p in Path(ex.__file__).parent.glob("*.py") if p.stem != "__init__"}


def submissions(folder: str | os.PathLike, chapters: set[str] | None = None
                ) -> tuple[list[Submission], list[Problem]]:
    """Find ``FOLDER/<student>/<chapter>.ipynb``; everything else is reported, never fatal.

    A misnamed notebook ("Copy of background.ipynb", "background (1).ipynb") is graded as its
    chapter, with a note; when a student has several files for one chapter, the exactly named one
    (else the newest) is graded and the others are reported.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no submissions folder at {root}")
    chapters = chapters if chapters is not None else all_chapters()
    found: dict[tuple[str, str], list[Path]] = {}
    problems: list[Problem] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir() or entry.is_symlink():
            problems.append(Problem(str(entry), "not in a student's folder: ignored (expected "
                                                f"{root}/<student>/<chapter>.ipynb)"))
            continue
        for path in sorted(entry.rglob("*")):
            if path.is_dir() or any(p.startswith(".") for p in path.relative_to(entry).parts):
                continue
            if path.is_symlink() or not path.is_file():
                problems.append(Problem(str(path), "not a regular file: ignored"))
            elif not path.name.lower().endswith(".ipynb"):
                problems.append(Problem(str(path), "not a notebook: ignored"))
            elif (chapter := chapter_of(path.name, chapters)) is None:
                problems.append(Problem(str(path), "not named after a chapter with exercises: ignored"))
            else:
                found.setdefault((entry.name, chapter), []).append(path)
    subs = []
    for (student, chapter), paths in sorted(found.items()):
        exact = [p for p in paths if p.name == f"{chapter}.ipynb"]
        best = exact[0] if exact else max(paths, key=lambda p: p.stat().st_mtime)
        note = "" if best.name == f"{chapter}.ipynb" else f"graded {best.name} as {chapter}"
        for other in paths:
            if other != best:
                problems.append(Problem(str(other), f"another file for {chapter}: {best.name} was graded"))
        subs.append(Submission(student, chapter, best, note))
    return subs, problems


# -- the instructor's key and the student build -------------------------------------------------

@contextmanager
def _mode(quick: bool):
    old = os.environ.get("MEDLAB_QUICK")
    os.environ["MEDLAB_QUICK"] = "1" if quick else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MEDLAB_QUICK", None)
        else:
            os.environ["MEDLAB_QUICK"] = old


def load_key(key_file: str | os.PathLike | None = None, chapters: set[str] | None = None) -> dict[str, Any]:
    """Every exercise of ``chapters`` (default: all) by full key, with those of ``key_file`` added or
    overriding.

    ``key_file`` is a Python file of the instructor's defining ``EXERCISES = {"background.q1":
    Exercise(...), ...}`` (full keys); it runs in the grader's process, never in a sandbox.
    """
    from medlab.exercises import Exercise, get, keys

    wanted = sorted(all_chapters() if chapters is None else chapters & all_chapters())
    table = {k: get(k) for chapter in wanted for k in keys(chapter)}
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise FileNotFoundError(f"no key file at {path}")
        extra = runpy.run_path(str(path)).get("EXERCISES")
        if not isinstance(extra, dict):
            raise ValueError(f"{path} must define EXERCISES = {{'chapter.question': Exercise(...)}}")
        for k, ex in extra.items():
            chapter, sep, question = str(k).partition(".")
            if not sep or not re.fullmatch(r"\w+", chapter) or not re.fullmatch(r"\w+", question):
                raise ValueError(f"{path}: keys look like 'background.q1', got {k!r}")
            if not isinstance(ex, Exercise):
                raise TypeError(f"{path}: {k} must be an Exercise, got {type(ex).__name__}")
            if chapters is None or chapter in chapters:
                table[k] = ex
    return table


def listed_keys(chapter: str) -> list[str]:
    """The keys of a chapter's ``EXERCISES`` read from its source (nothing imported or computed)."""
    import ast

    import medlab.exercises as ex

    tree = ast.parse((Path(ex.__file__).parent / f"{chapter}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "EXERCISES" for t in node.targets) \
                and isinstance(node.value, ast.Dict):
            return [f"{chapter}.{k.value}" for k in node.value.keys
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return []


def write_student_build(dest: Path, key: dict[str, Any], public: dict[str, dict]) -> Path:
    """Copy the medlab package into ``dest/medlab`` with every answer removed.

    Each ``medlab/exercises/<chapter>.py`` is replaced by a generated module whose exercises hold a
    :class:`medlab.exercises.Withheld` (key and public sanity check only: no answer, no hint, no
    code that computes one).
    """
    import medlab

    package = Path(medlab.__file__).resolve().parent
    target = dest / "medlab"
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    exercises = target / "exercises"
    for path in exercises.glob("*.py"):
        if path.name != "__init__.py":
            path.unlink()
    by_chapter: dict[str, list[str]] = {}
    for k in key:
        by_chapter.setdefault(k.partition(".")[0], []).append(k)
    for chapter in all_chapters() - set(by_chapter):  # not graded in this run: keys only
        by_chapter[chapter] = listed_keys(chapter)
    for chapter, ks in sorted(by_chapter.items()):
        lines = [f'"""Student build: the exercises of {chapter} without their answers (generated by '
                 'tools.classroom)."""', "", "from medlab.exercises import Exercise, Withheld", "",
                 "EXERCISES = {"]
        for k in ks:
            spec = json.loads(json.dumps(public.get(k, {"kind": "any"})))
            points = float(key[k].points) if k in key else 1.0
            lines.append(f"    {k.partition('.')[2]!r}: Exercise(answer=Withheld({k!r}, {spec!r}), hint='', "
                         f"points={points!r}),")
        lines.append("}")
        (exercises / f"{chapter}.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for path in target.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    target.chmod(0o555)
    return target


# -- reading what a sandbox left -----------------------------------------------------------------

def read_untrusted(path: Path, limit: int) -> tuple[bytes, str]:
    """Read a file a submission could have replaced: no symbolic link, no FIFO or device, at most
    ``limit`` bytes. Returns the bytes and a problem (``""`` if none)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return b"", "missing"
    except OSError as err:
        return b"", f"unreadable ({err.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return b"", "not a regular file"
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        return data[:limit], f"larger than {limit} bytes: the rest was ignored"
    return data, ""


def read_records(path: Path, limit: int = RECORDS_LIMIT) -> tuple[dict[str, Any], list[str]]:
    """The last recorded answer of each key, and the problems found (malformed lines by number).

    Only ``key`` and ``answer`` (or ``unrecordable``) of a record are read; any other field (a
    "status", say) is ignored. Values are :class:`Answer` objects.
    """
    from medlab.exercises import decode_answer

    data, problem = read_untrusted(path, limit)
    problems = [f"records: {problem}"] if problem and problem != "missing" else []
    last: dict[str, Any] = {}
    bad: list[int] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
                raise ValueError("no key")
            if "unrecordable" in rec:
                last[rec["key"]] = Answer(None, recorded=False, why=str(rec["unrecordable"])[:200])
            elif "answer" in rec:
                last[rec["key"]] = Answer(decode_answer(rec["answer"]))
            else:
                raise ValueError("no answer")
        except (ValueError, TypeError, RecursionError, UnicodeDecodeError):
            bad.append(number)
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        problems.append(f"records: {len(bad)} malformed line(s) ignored (line {shown})")
    return last, problems


@dataclass
class Answer:
    value: Any
    recorded: bool = True
    why: str = ""


def cell_errors(data: bytes) -> list[str]:
    """``cell N: Error: message`` for every error output of an executed notebook (bytes)."""
    import nbformat

    try:
        nb = nbformat.reads(data.decode("utf-8", "replace"), as_version=4)
    except Exception:  # noqa: BLE001 - a damaged executed notebook is only missing detail
        return []
    return [f"cell {i}: {o.get('ename')}: {str(o.get('evalue'))[:200]}"
            for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"][:20]


# -- free-text exercises -------------------------------------------------------------------------

EXERCISE_LABEL = re.compile(r"`{3,}\{exercise\}[^\n]*\n(?::[\w-]+:[^\n]*\n)*?:label:\s*([\w-]+)")


def _exercise_spans(cells: list) -> list[tuple[str, int, int]]:
    """``(label, first cell, end cell)`` of each exercise: from its directive to the next one."""
    starts = [(m.group(1), i) for i, c in enumerate(cells) if c.get("cell_type") == "markdown"
              for m in EXERCISE_LABEL.finditer(str(c.get("source", "")))]
    return [(label, i, starts[n + 1][1] if n + 1 < len(starts) else len(cells))
            for n, (label, i) in enumerate(starts)]


def free_text_exercises(chapter_nb: Any) -> list[str]:
    """Labels of a chapter's exercises that no ``check`` grades (answered in words, graded by hand)."""
    cells = chapter_nb.cells
    return [label for label, a, b in _exercise_spans(cells)
            if not any("check(" in str(c.get("source", "")) for c in cells[a + 1:b]
                       if c.get("cell_type") == "code")]


def manual_answers(sub: Submission, labels: list[str], limit: int = 4000) -> list[dict[str, str]]:
    """What a submission wrote under each free-text exercise (the cells up to the next exercise)."""
    import nbformat

    data, problem = read_untrusted(sub.path, NOTEBOOK_LIMIT)
    try:
        cells = nbformat.reads(data.decode("utf-8"), as_version=4).cells if not problem else []
    except Exception:  # noqa: BLE001 - reported by the grading of the same file
        cells = []
    spans = {label: (a, b) for label, a, b in _exercise_spans(cells)}
    rows = []
    for label in labels:
        if label in spans:
            a, b = spans[label]
            text = "\n\n".join(str(c.get("source", "")) for c in cells[a + 1:b]).strip()[:limit]
        else:
            text = "(this exercise is not in the submitted notebook)"
        rows.append({"student": sub.student, "chapter": sub.chapter, "exercise": label, "answer": text})
    return rows


# -- a grading session -------------------------------------------------------------------------

def sweep_stale(tmp: Path | None = None) -> None:
    """Remove the temporary folders of earlier grading runs whose process is gone (after a crash)."""
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            pid = int((folder / "pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _rmtree(path: Path) -> None:
    def unlock(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=unlock)


class Session:
    """One grading run: a temporary folder (removed on exit, even on Ctrl-C), the key, the student
    build, and the sandbox settings. Use as a context manager."""

    def __init__(self, *, chapters: set[str], key_file: str | os.PathLike | None = None, quick: bool = True,
                 unsafe: bool = False, limits: sandbox.Limits | None = None) -> None:
        self.quick, self.unsafe = quick, unsafe
        self.limits = limits or sandbox.Limits()
        if not unsafe:
            path, why = sandbox.bwrap()
            if path is None:
                raise RuntimeError(f"refusing to grade: {why}. Without a sandbox a submission can forge "
                                   "its score, read the key, and change or delete the grader's files; "
                                   "install bubblewrap, grade in a container (see the page For "
                                   "instructors), or pass --unsafe for trusted notebooks only.")
        self.key = load_key(key_file, chapters)
        self.chapters = chapters
        self.expected: dict[str, Any] = {}
        self.key_errors: dict[str, str] = {}
        self.live: set = set()
        self.stopped = False
        self.tmp: Path | None = None

    def __enter__(self) -> Session:
        sweep_stale()
        self.tmp = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.tmp / "pid").write_text(str(os.getpid()))
        try:
            from medlab.exercises import public_spec

            public = {}
            with _mode(self.quick):
                for k, ex in self.key.items():
                    if k.partition(".")[0] not in self.chapters:
                        continue
                    try:
                        self.expected[k] = ex.expected()
                        public[k] = public_spec(self.expected[k])
                    except Exception as err:  # noqa: BLE001 - reported on every row of that exercise
                        self.key_errors[k] = f"the key of {k} failed: {type(err).__name__}: {err}"[:300]
            self.build = write_student_build(self.tmp / "build", self.key, public)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self) -> None:
        """Kill every running sandbox and start no new one."""
        self.stopped = True
        for proc in list(self.live):
            sandbox.kill_tree(proc)

    def close(self) -> None:
        self.stop()
        if self.tmp is not None:
            _rmtree(self.tmp)
            self.tmp = None

    def keys_of(self, chapter: str) -> list[str]:
        return [k for k in self.key if k.partition(".")[0] == chapter]

    # the sandboxed run -------------------------------------------------------------------------
    def execute(self, notebook: Path, run_dir: Path) -> tuple[sandbox.Outcome, Path, Path, Path]:
        """Execute ``notebook`` in a sandbox; return the outcome and the records, executed notebook
        and output log paths (all written by the submission: read them with :func:`read_untrusted`)."""
        scratch, out = run_dir / "scratch", run_dir / "out"
        (scratch / "home").mkdir(parents=True)
        out.mkdir()
        shutil.copyfile(notebook, scratch / "home" / "submission.ipynb")
        log = run_dir / "output.log"
        data_dirs = [d for d in os.environ.get("MEDLAB_DATA_DIR", "").split(os.pathsep) if d]
        env = {"MEDLAB_QUICK": "1" if self.quick else "0", "MPLBACKEND": "Agg", "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
        if data_dirs:
            env["MEDLAB_DATA_DIR"] = os.pathsep.join(data_dirs)
        runner_args = [str(self.limits.output_mb << 20)]
        if self.unsafe:
            home = scratch / "home"
            env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
                       PYTHONPATH=str(self.build.parent), MEDLAB_GRADE_LOG=str(out / "records.jsonl"),
                       MEDLAB_CACHE_DIR=str(home / ".cache" / "medlab"), TMPDIR=str(scratch / "tmp"))
            (scratch / "tmp").mkdir()
            argv = [sys.executable, str(RUNNER), str(home / "submission.ipynb"),
                    str(out / "executed.ipynb"), *runner_args]
            cwd = home
        else:
            home = "/home/student"
            env.update(HOME=home, PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
                       PYTHONPATH="/opt/student", MEDLAB_GRADE_LOG="/grader-out/records.jsonl",
                       MEDLAB_CACHE_DIR=f"{home}/.cache/medlab", TMPDIR="/tmp")
            ro = self._read_only(data_dirs)
            argv = sandbox.command(scratch=scratch, out=out, ro=ro, env=env, argv=[
                sys.executable, "/opt/grader/runner.py", f"{home}/submission.ipynb",
                "/grader-out/executed.ipynb", *runner_args])
            env, cwd = None, run_dir
        outcome = sandbox.run(argv, limits=self.limits, scratch=scratch, log=log, cwd=cwd,
                              env=env if self.unsafe else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                              live=self.live)
        return outcome, out / "records.jsonl", out / "executed.ipynb", log

    def _read_only(self, data_dirs: list[str]) -> list[tuple[str, str]]:
        import medlab

        ro: list[tuple[str, str]] = []
        for prefix in {sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix),
                       os.path.realpath(sys.prefix)}:
            ro.append((prefix, prefix))
        for d in data_dirs:
            if Path(d).is_dir():
                ro.append((d, d))
        ro.append((str(self.build.parent), "/opt/student"))
        # the student build also hides the real package wherever Python could find it (an editable
        # install, a copy in site-packages)
        for real in {str(Path(medlab.__file__).resolve().parent), str(Path(medlab.__file__).parent)}:
            ro.append((str(self.build), real))
        ro.append((str(RUNNER), "/opt/grader/runner.py"))
        return sorted(set(ro), key=lambda p: (p[1].count("/"), p))

    # scoring -----------------------------------------------------------------------------------
    def grade_one(self, sub: Submission) -> list[Score]:
        """Execute one submission and score every exercise of its chapter (never raises)."""
        from medlab.exercises import score

        assert self.tmp is not None, "use the session as a context manager"
        if self.stopped:
            raise KeyboardInterrupt("grading was stopped")
        run_dir = Path(tempfile.mkdtemp(dir=self.tmp, prefix="run-"))
        errors, timed_out, seconds, memory = [], False, 0.0, 0.0
        records: dict[str, Any] = {}
        try:
            data, problem = read_untrusted(sub.path, NOTEBOOK_LIMIT)
            if problem:
                raise ValueError(f"the submitted file is {problem}")
            import nbformat

            try:
                nbformat.reads(data.decode("utf-8"), as_version=4)
            except Exception as err:  # noqa: BLE001 - any damage: not a notebook
                raise ValueError(f"not a readable notebook ({type(err).__name__})") from err
            notebook = run_dir / "submitted.ipynb"
            notebook.write_bytes(data)
            outcome, rec_path, executed, log = self.execute(notebook, run_dir)
            timed_out, seconds, memory = outcome.timed_out, outcome.seconds, outcome.peak_mb
            records, problems = read_records(rec_path)
            errors += problems
            errors += cell_errors(read_untrusted(executed, NOTEBOOK_LIMIT)[0])
            if outcome.killed:
                errors.append(f"stopped: it {outcome.killed}")
            elif outcome.returncode:
                tail = read_untrusted(log, 1 << 20)[0].decode("utf-8", "replace").strip().splitlines()
                errors.append(f"the run failed (exit status {outcome.returncode})"
                              + (f": {tail[-1][:300]}" if tail else ""))
        except ValueError as err:
            errors.append(str(err))
        except Exception as err:  # noqa: BLE001 - one submission never stops the run
            errors.append(f"grader error: {type(err).__name__}: {err}"[:300])
        finally:
            _rmtree(run_dir)
        error = "; ".join(([sub.note] if sub.note else []) + errors)
        rows = []
        for k in self.keys_of(sub.chapter):
            ex, got = self.key[k], records.get(k)
            row = Score(sub.student, sub.chapter, k, False, 0.0, float(ex.points), error=error,
                        timed_out=timed_out, seconds=seconds, memory_mb=memory, file=sub.path.name)
            if k in self.key_errors:
                row.hint = self.key_errors[k]
            elif got is not None and not got.recorded:
                row.answered, row.hint = True, f"the answer could not be recorded: {got.why}"
            elif got is not None and got.value is not None:
                row.answered = True
                try:
                    row.points, row.hint = score(got.value, ex, expected=self.expected[k])
                except Exception as err:  # noqa: BLE001 - an answer that cannot be compared is wrong
                    row.hint = f"could not be compared with the key ({type(err).__name__})"
                row.passed = row.points >= row.max_points > 0 or (row.max_points == 0 and not row.hint)
            rows.append(row)
        return rows


# -- the run ---------------------------------------------------------------------------------

def grade(folder: str | os.PathLike, out: str | os.PathLike, *, timeout: float = 900, quick: bool = True,
          jobs: int = 1, key_file: str | os.PathLike | None = None, unsafe: bool = False,
          limits: sandbox.Limits | None = None, feedback: str | os.PathLike | None = None,
          echo: bool = True) -> list[Score]:
    """Grade every submission in ``folder``; always write the long table ``out`` (CSV), the
    gradebook next to it (``<out>-gradebook.csv``), the problems (``<out>-problems.csv``), the
    free-text answers to grade by hand (``<out>-manual.csv``) and one HTML feedback page per
    student (in ``feedback``, default ``<out>-feedback/``)."""
    subs, problems = submissions(folder)
    limits = limits or sandbox.Limits(wall_s=float(timeout))
    out = Path(out)
    rows: list[Score] = []
    chapters = {s.chapter for s in subs}
    with Session(chapters=chapters, key_file=key_file, quick=quick, unsafe=unsafe, limits=limits) as session:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(jobs)))
        mode = _mode(quick)  # the key's hints compute in the mode of the run
        mode.__enter__()
        try:
            for result in pool.map(session.grade_one, subs):
                rows += result
        except BaseException:  # Ctrl-C or SIGTERM: stop every sandbox, then clean up
            session.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            mode.__exit__(None, None, None)
            manual = _manual(subs)
            write_tables(rows, problems, out, session.key, feedback, manual)
    if echo:
        print(summary(rows, problems))
    return rows


def _manual(subs: list[Submission]) -> list[dict[str, str]]:
    import nbformat

    from tools.classroom import ROOT

    labels: dict[str, list[str]] = {}
    rows = []
    for sub in subs:
        if sub.chapter not in labels:
            path = ROOT / "chapters" / f"{sub.chapter}.ipynb"
            labels[sub.chapter] = (free_text_exercises(nbformat.read(path, as_version=4))
                                   if path.is_file() else [])
        rows += manual_answers(sub, labels[sub.chapter])
    return rows


def _stem(out: Path) -> Path:
    return out.with_suffix("") if out.suffix == ".csv" else out


def write_tables(rows: list[Score], problems: list[Problem], out: Path, key: dict[str, Any],
                 feedback: str | os.PathLike | None = None,
                 manual: list[dict[str, str]] | None = None) -> None:
    """The long table, the gradebook, the problems, the free-text answers to grade by hand and the
    feedback pages (all written, even when empty)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in Score.__dataclass_fields__.values()]
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    exercises = sorted({r.exercise for r in rows})
    students = sorted({r.student for r in rows})
    with open(f"{_stem(out)}-gradebook.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *exercises, "total", "max"])
        for s in students:
            mine = {r.exercise: r for r in rows if r.student == s}
            writer.writerow([s, *[mine[e].points if e in mine else "" for e in exercises],
                             round(sum(r.points for r in mine.values()), 6),
                             round(sum(r.max_points for r in mine.values()), 6)])
    with open(f"{_stem(out)}-problems.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "message"])
        writer.writerows([p.path, p.message] for p in problems)
    with open(f"{_stem(out)}-manual.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student", "chapter", "exercise", "answer"])
        writer.writeheader()
        writer.writerows(manual or [])
    folder = Path(feedback) if feedback else Path(f"{_stem(out)}-feedback")
    folder.mkdir(parents=True, exist_ok=True)
    for s in students:
        name = re.sub(r"[^\w.-]", "_", s)
        (folder / f"{name}.html").write_text(feedback_page(s, [r for r in rows if r.student == s]),
                                             encoding="utf-8")


def feedback_page(student: str, rows: list[Score]) -> str:
    """One student's HTML feedback: per chapter, each exercise's points and the hint if not passed."""
    e = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>Feedback: {e(student)}</title>",
             f"<h1>Feedback for {e(student)}</h1>"]
    for chapter in sorted({r.chapter for r in rows}):
        rs = [r for r in rows if r.chapter == chapter]
        got, top = sum(r.points for r in rs), sum(r.max_points for r in rs)
        parts.append(f"<h2>{e(chapter)}: {got:g} / {top:g}</h2>")
        if rs[0].timed_out:
            parts.append("<p><strong>The notebook ran past the time limit</strong>; the answers "
                         "recorded before count.</p>")
        if rs[0].error:
            parts.append(f"<p>Problems: {e(rs[0].error)}</p>")
        parts.append("<table><tr><th>exercise</th><th>points</th><th>feedback</th></tr>")
        for r in rs:
            note = "correct" if r.passed else (r.hint or ("not answered" if not r.answered else ""))
            parts.append(f"<tr><td>{e(r.exercise)}</td><td>{r.points:g} / {r.max_points:g}</td>"
                         f"<td>{e(note)}</td></tr>")
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def summary(rows: list[Score], problems: list[Problem] | None = None) -> str:
    """One line per student and chapter (points, time-outs, errors), then the files not graded."""
    lines, groups = [], {}
    for r in rows:
        groups.setdefault((r.student, r.chapter), []).append(r)
    for (student, chapter), rs in groups.items():
        note = " TIMED OUT" if rs[0].timed_out else (" errors: " + rs[0].error[:120] if rs[0].error else "")
        got, top = sum(r.points for r in rs), sum(r.max_points for r in rs)
        lines.append(f"{student:<16}{chapter:<18}{got:g}/{top:g} points, {sum(r.passed for r in rs)}/"
                     f"{len(rs)} passed ({rs[0].seconds:.0f} s, {rs[0].memory_mb:.0f} MiB){note}")
    for p in problems or []:
        lines.append(f"not graded: {p.path}: {p.message}")
    return "\n".join(lines)
