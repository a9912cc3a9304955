"""``python -m tools.bench``: dispatch, ``all`` (every table again, with published rows)."""

from __future__ import annotations

import sys
import types

import pytest

import tools.bench.__main__ as bench


@pytest.fixture
def fake_tasks(monkeypatch):
    calls = []
    for name, code, rows in (("alpha", 0, ("Paper A (Table 2): 0.90",)), ("beta", 3, ())):
        mod = types.ModuleType(f"tools.bench.{name}")

        def main(argv, name=name, code=code):
            calls.append((name, argv))
            print(f"{name} table row")
            return code

        mod.main, mod.PUBLISHED = main, rows
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(bench, "TASKS", {"alpha": "tools.bench.alpha", "beta": "tools.bench.beta"})
    return calls


def test_all_runs_every_task_then_prints_every_table_with_published_rows(fake_tasks, capsys):
    assert bench.main(["all"]) == 3  # a task's non-zero status is passed on
    assert fake_tasks == [("alpha", []), ("beta", [])]
    out = capsys.readouterr().out
    summary = out.split("every benchmark", 1)[1]
    assert "alpha table row" in summary and "beta table row" in summary
    assert "Paper A (Table 2): 0.90" in summary and "exit 3" in summary
    assert summary.index("alpha table row") < summary.index("Paper A") < summary.index("beta table row")


def test_all_may_name_a_subset(fake_tasks):
    assert bench.main(["all", "alpha"]) == 0
    assert fake_tasks == [("alpha", [])]


def test_unknown_task_prints_usage(capsys):
    assert bench.main(["nope"]) == 2
    err = capsys.readouterr().err
    assert "usage: python -m tools.bench" in err
    assert all(task in err for task in [*bench.TASKS, "all"])  # the usage line lists every choice
    assert bench.main([]) == 2
    assert bench.main(["all", "nope"]) == 2  # a subset naming an unknown task is refused, not skipped


def test_every_registered_task_has_a_main():
    for task in bench.TASKS:
        assert callable(__import__(bench.TASKS[task], fromlist=["main"]).main)
        assert all(isinstance(r, str) and r for r in bench.published(task))


def test_all_prints_published_rows_once_when_a_task_prints_them_itself(fake_tasks, monkeypatch, capsys):
    alpha = sys.modules["tools.bench.alpha"]

    def main(argv):
        print("alpha table row")
        print("  " + alpha.PUBLISHED[0])
        return 0

    monkeypatch.setattr(alpha, "main", main)
    assert bench.main(["all", "alpha"]) == 0
    summary = capsys.readouterr().out.split("every benchmark", 1)[1]
    assert summary.count("Paper A (Table 2): 0.90") == 1
