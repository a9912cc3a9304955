"""Tests of the 3D classification benchmark in a tiny configuration (chapter: applications)."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

import tools.bench.__main__ as dispatcher  # noqa: E402
from medlab import data  # noqa: E402
from tools.bench import classification3d as bench  # noqa: E402


def _have(name):
    return any(r["name"] == name and r["state"] == "verified" for r in data.status())


def test_help_through_the_dispatcher(capsys):
    with pytest.raises(SystemExit) as info:
        dispatcher.main(["classification3d", "--help"])
    assert info.value.code == 0
    assert "--seeds" in capsys.readouterr().out


def test_summary_line_flags_targets():
    runs = [{"auc": 0.85, "accuracy": 0.8, "seconds": 100.0, "cpu_seconds": 90.0},
            {"auc": 0.87, "accuracy": 0.8, "seconds": 150.0, "cpu_seconds": 95.0}]
    line = bench._summary_line("adrenalmnist3d", runs)
    assert "AUC 0.860 ± 0.014" in line
    assert "auc met" in line and "seconds SHORT" in line


def test_published_rows_name_their_source():
    assert "74c5d44" in bench.PUBLISHED[0]
    assert any("ResNet-50+3D 0.828" in row for row in bench.PUBLISHED)
    assert any("ResNet-50+3D 0.907" in row for row in bench.PUBLISHED)


@pytest.mark.skipif(not (_have("adrenalmnist3d.npz") and _have("retinamnist.npz")),
                    reason="adrenalmnist3d.npz or retinamnist.npz not available offline")
def test_tiny_run_prints_one_line_per_run_and_a_summary(capsys):
    code = bench.main(["--datasets", "adrenalmnist3d", "retinamnist", "--seeds", "0", "--epochs", "1",
                       "--train-limit", "32"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("adrenalmnist3d  seed=0") == 1 and out.count("retinamnist     seed=0") == 1
    assert "test AUC=" in out and "peak memory" in out and "QWK argmax=" in out
    assert "summary" in out and "targets: auc" in out and "published" in out


def test_unknown_dataset_is_refused():
    with pytest.raises(SystemExit):
        bench.main(["--datasets", "organmnist3d"])
