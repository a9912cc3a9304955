"""Tests of the detection benchmark, in a tiny quick configuration (chapter: detection)."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

import tools.bench.__main__ as dispatcher  # noqa: E402
from tools.bench import detection as bench  # noqa: E402


def test_help_through_the_dispatcher(capsys):
    with pytest.raises(SystemExit) as info:
        dispatcher.main(["detection", "--help"])
    assert info.value.code == 0
    assert "--max-train-seconds" in capsys.readouterr().out


def test_table_and_targets():
    classes = ("RBC", "WBC", "Platelets")
    classical = {"ap50": {"RBC": 0.3, "WBC": 0.95, "Platelets": 0.2}, "map50": 0.483}
    net = {"ap50": {"RBC": 0.8, "WBC": 0.98, "Platelets": 0.85}, "map50": 0.877,
           "ap50_95": {"RBC": 0.5, "WBC": 0.7, "Platelets": 0.4}, "map50_95": 0.533}
    table = bench.format_table(classical, net, classes)
    assert "mean (mAP)" in table and "0.877" in table and "0.483" in table
    line = bench.target_line(net, 500.0)
    assert "mAP@0.5 SHORT" in line and "WBC AP@0.5 met" in line and "training s met" in line


def test_tiny_run_prints_the_table(capsys):
    code = bench.main(["--limit", "6", "--epochs", "1", "--scale", "0.25", "--levels", "3",
                       "--width", "4"])
    out = capsys.readouterr().out
    assert code == 0
    assert "pycocotools agrees" in out and "classical AP@0.5" in out and "peak memory" in out
    assert "targets:" in out
