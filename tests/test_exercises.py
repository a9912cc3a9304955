"""The exercise checker: comparisons, hints, and every registered exercise's answer."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import medlab.exercises as ex
from medlab.exercises import check, matches

CHAPTERS = sorted(m.name for m in pkgutil.iter_modules(ex.__path__))


@pytest.mark.parametrize("given, expected, ok", [
    (1.0, 1.0, True), (1.0000001, 1.0, True), (1.1, 1.0, False), (np.float32(2), 2, True),
    ("Sobel ", "sobel", True), ("x", "y", False),
    ({"ct", "CR"}, {"CR", "CT"}, True), ({"CR"}, {"CR", "CT"}, False),
    ((1, 2), (1, 2), True), ([1, 3], (1, 2), False), ((1,), (1, 2), False),
    (np.ones((2, 2)), np.ones((2, 2)), True), (np.ones((2, 3)), np.ones((2, 2)), False),
    ("1.0", 1.0, False), (None, 1.0, False), (float("nan"), 1.0, False), (True, 1.0, False),
])
def test_matches(given, expected, ok):
    assert matches(given, expected)[0] is ok


def test_check_prints_hints(capsys):
    assert bool(check("background.q1", 200.0)) is True
    assert bool(check("background.q1", 400 * 512 * 512 * 16 / 2**20)) is False
    assert "bits, not bytes" in capsys.readouterr().out
    assert check("background.q1", 7.0) == False  # noqa: E712 - a Verdict compares like a bool
    assert "too small" in capsys.readouterr().out


def test_no_hint_before_an_attempt(capsys):
    """``check(key, None)`` says only that nothing was answered: the hint waits for a wrong answer."""
    for chapter in CHAPTERS:
        for key in ex.keys(chapter):
            assert not check(key, None)
            assert capsys.readouterr().out.strip() == f"{key}: not answered yet."


def test_verdict_shows_nothing_as_a_cell_result():
    verdict = check("background.q1", 7.0, quiet=True)
    assert not verdict and "too small" in verdict.message
    assert hasattr(verdict, "_ipython_display_") and verdict._ipython_display_() is None


def test_unknown_keys_are_clear():
    with pytest.raises(KeyError, match="look like"):
        check("q1", 1)
    with pytest.raises(KeyError, match="no exercises for chapter"):
        check("nochapter.q1", 1)
    with pytest.raises(KeyError, match="has exercises"):
        check("background.q99", 1)


def _perturbed(answer):
    """An answer that must not pass: the tolerances of an exercise may not accept everything."""
    if isinstance(answer, str):
        return answer + " (not it)"
    if isinstance(answer, (set, frozenset)):
        return set(answer) ^ {"(not it)"}
    if isinstance(answer, (tuple, list)):
        return (*answer, 0)
    arr = np.asarray(answer, dtype=float)
    return arr + np.maximum(1.0, np.abs(arr))  # off by at least 100 % and at least 1


def test_perturbed_answers_are_wrong():
    for answer in (0.0, -2.5, 7, "sobel", {"A", "B"}, (1, 2), np.ones((2, 2))):
        assert matches(answer, answer)[0] and not matches(_perturbed(answer), answer)[0]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_a_hint_and_a_computable_answer(chapter):
    module = importlib.import_module(f"medlab.exercises.{chapter}")
    assert module.EXERCISES, f"{chapter} has no exercises"
    for key, exercise in module.EXERCISES.items():
        assert exercise.hint.strip(), key
        expected = exercise.expected()
        assert expected is not None, key
        assert check(f"{chapter}.{key}", expected, quiet=True), key  # the computed answer passes check
        assert not matches(_perturbed(expected), expected, exercise.rtol, exercise.atol)[0], key
        for wrong, hint in exercise.hints:  # each common mistake is computable and really wrong
            wrong = wrong() if callable(wrong) else wrong
            assert hint.strip() and not matches(wrong, expected, exercise.rtol, exercise.atol)[0], key


def test_wrong_answer_hints_may_be_computed_lazily(monkeypatch, capsys):
    calls = []
    table = {"q1": ex.Exercise(answer=2.0, hint="h", hints=[(lambda: calls.append(1) or 3.0, "lazy")])}
    monkeypatch.setattr(ex.importlib, "import_module", lambda name: type("M", (), {"EXERCISES": table}))
    assert not calls  # nothing computed when the table is built
    assert not check("lazy.q1", 3.0)
    assert "lazy" in capsys.readouterr().out and calls == [1]
