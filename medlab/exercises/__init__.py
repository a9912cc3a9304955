"""Answer checking for the exercises at the end of every chapter.

Each chapter has a module here (``medlab/exercises/<chapter>.py``) holding an
``EXERCISES`` dict of :class:`Exercise` objects; a key such as
``"background.q2"`` names the chapter module and the question. Expected
answers may be callables, so that they are computed from the same data the
chapter uses rather than typed by hand. Introduced in the chapter *Background*.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Exercise:
    """One checkable exercise.

    Attributes
    ----------
    answer
        The expected answer, or a zero-argument callable computing it.
    hint
        Shown when the answer is wrong: points at the idea, never the answer.
    rtol, atol
        Tolerances for numbers and arrays (``numpy.isclose`` semantics).
    hints
        Extra hints keyed by a common wrong answer (e.g. the result you get
        when you forget the zero padding), checked with the same tolerance.
        Like ``answer``, a wrong answer may be a zero-argument callable, so that
        importing a chapter's exercises reads no data and computes nothing.
    """

    answer: Any
    hint: str
    rtol: float = 1e-6
    atol: float = 0.0
    hints: Sequence[tuple[Any, str]] = field(default_factory=tuple)

    def expected(self) -> Any:
        return self.answer() if callable(self.answer) else self.answer


def _as_number(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    if isinstance(x, np.ndarray) and x.shape == ():
        return float(x)
    return None


def matches(given: Any, expected: Any, rtol: float = 1e-6, atol: float = 0.0) -> tuple[bool, str]:
    """Compare an answer with the expected one; return ``(ok, reason_if_not)``.

    Numbers and arrays are compared with tolerances, strings without regard to
    case or surrounding spaces, sets as sets, and tuples/lists element-wise.
    """
    num_e, num_g = _as_number(expected), _as_number(given)
    if num_e is not None:
        if num_g is None:
            return False, f"expected a number, got {type(given).__name__}"
        if math.isnan(num_g):
            return False, "your answer is NaN"
        ok = bool(np.isclose(num_g, num_e, rtol=rtol, atol=atol))
        return ok, "" if ok else ("too large" if num_g > num_e else "too small")
    if isinstance(expected, np.ndarray):
        arr = np.asarray(given)
        if arr.shape != expected.shape:
            return False, f"shape {arr.shape} differs from the expected shape {expected.shape}"
        ok = bool(np.allclose(arr, expected, rtol=rtol, atol=atol))
        if not ok:
            bad = int(np.sum(~np.isclose(arr, expected, rtol=rtol, atol=atol)))
            return False, f"{bad} of {arr.size} values differ"
        return True, ""
    if isinstance(expected, str):
        ok = isinstance(given, str) and given.strip().lower() == expected.strip().lower()
        return ok, "" if ok else "not the expected word"
    if isinstance(expected, (set, frozenset)):
        try:
            g = {x.strip().lower() if isinstance(x, str) else x for x in given}
            e = {x.strip().lower() if isinstance(x, str) else x for x in expected}
        except TypeError:
            return False, "expected a collection of items"
        ok = g == e
        return ok, "" if ok else f"{len(g & e)} of {len(e)} items right, {len(g - e)} extra"
    if isinstance(expected, (tuple, list)):
        if not isinstance(given, (tuple, list, np.ndarray)) or len(given) != len(expected):
            return False, f"expected {len(expected)} values"
        for i, (g, e) in enumerate(zip(given, expected, strict=True)):
            ok, why = matches(g, e, rtol, atol)
            if not ok:
                return False, f"item {i}: {why}"
        return True, ""
    ok = given == expected
    return bool(ok), "" if ok else "not the expected answer"


def get(key: str) -> Exercise:
    """Return the exercise registered under ``key`` (``"<chapter>.<question>"``)."""
    chapter, sep, question = key.partition(".")
    if not sep or not chapter or not question:
        raise KeyError(f"exercise keys look like 'background.q1', got {key!r}")
    try:
        module = importlib.import_module(f"medlab.exercises.{chapter}")
    except ModuleNotFoundError as err:
        raise KeyError(f"no exercises for chapter {chapter!r}") from err
    table: dict[str, Exercise] = module.EXERCISES
    if question not in table:
        raise KeyError(f"chapter {chapter!r} has exercises {sorted(table)}, not {question!r}")
    return table[question]


class Verdict:
    """The result of :func:`check`: true when the answer is right.

    It behaves like a bool (``assert check(...)`` works) but shows nothing when
    it is the last value of a notebook cell, so a page never displays a bare
    ``False`` next to the printed verdict.
    """

    __slots__ = ("ok", "message")

    def __init__(self, ok: bool, message: str) -> None:
        self.ok = bool(ok)
        self.message = message

    def __bool__(self) -> bool:
        return self.ok

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Verdict):
            return self.ok == other.ok
        return NotImplemented if not isinstance(other, bool) else self.ok == other

    def __hash__(self) -> int:
        return hash(self.ok)

    def __repr__(self) -> str:
        return f"Verdict({self.ok}, {self.message!r})"

    def _ipython_display_(self) -> None:
        """Display nothing: :func:`check` has already printed the verdict."""


def check(key: str, answer: Any, quiet: bool = False) -> Verdict:
    """Check an exercise answer and print a verdict; a hint only after a wrong answer.

    Parameters
    ----------
    key
        Exercise key, e.g. ``"background.q2"``.
    answer
        Your answer; ``None`` (or ``...``) means "not answered yet": then only
        that is printed, never a hint, so a page shows no hint before an attempt.
    quiet
        Return the verdict without printing.

    Returns
    -------
    Verdict
        True (in a boolean context) when the answer is right. It displays
        nothing as a cell's result.
    """
    ex = get(key)
    message = _verdict_message(key, ex, answer)
    if not quiet:
        print(message)
    verdict = Verdict(message.endswith(": correct."), message)
    _log_for_grading(key, verdict)
    return verdict


GRADE_LOG_ENV = "MEDLAB_GRADE_LOG"
"""When set, :func:`check` appends one JSON line per call to this file (``medlab.classroom``)."""


def _log_for_grading(key: str, verdict: Verdict) -> None:
    path = os.environ.get(GRADE_LOG_ENV)
    if not path:
        return
    unanswered = verdict.message.endswith("not answered yet.")
    status = "correct" if verdict.ok else "unanswered" if unanswered else "wrong"
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps({"key": key, "status": status, "message": verdict.message}) + "\n")


def _verdict_message(key: str, ex: Exercise, answer: Any) -> str:
    if answer is None or answer is Ellipsis:
        return f"{key}: not answered yet."
    ok, why = matches(answer, ex.expected(), ex.rtol, ex.atol)
    if ok:
        return f"{key}: correct."
    for wrong, hint in ex.hints:
        if matches(answer, wrong() if callable(wrong) else wrong, ex.rtol, ex.atol)[0]:
            return f"{key}: not yet. {hint}"
    return f"{key}: not yet ({why}). Hint: {ex.hint}"


def keys(chapter: str) -> list[str]:
    """All exercise keys of one chapter."""
    module = importlib.import_module(f"medlab.exercises.{chapter}")
    return [f"{chapter}.{q}" for q in module.EXERCISES]
