"""Tests of the classification benchmark, in a tiny quick configuration (chapter: cnn_project)."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

import tools.bench.__main__ as dispatcher  # noqa: E402
from medlab import data  # noqa: E402
from tools.bench import classification as bench  # noqa: E402


def _have(name):
    return any(r["name"] == name and r["state"] == "verified" for r in data.status())


def test_help_through_the_dispatcher(capsys):
    with pytest.raises(SystemExit) as info:
        dispatcher.main(["classification", "--help"])
    assert info.value.code == 0
    assert "--seeds" in capsys.readouterr().out


def test_summary_line_flags_targets():
    runs = [{"auc": 0.97, "accuracy": 0.89, "seconds": 100.0, "cpu_seconds": 90.0},
            {"auc": 0.98, "accuracy": 0.90, "seconds": 110.0, "cpu_seconds": 95.0}]
    line = bench._summary_line("pneumoniamnist", runs)
    assert "AUC 0.975 ± 0.007" in line
    assert "auc met" in line and "accuracy SHORT" in line and "seconds met" in line


@pytest.mark.skipif(not _have("breastmnist.npz"), reason="breastmnist.npz not available offline")
def test_tiny_run_prints_one_line_per_run_and_a_summary(capsys):
    code = bench.main(["--datasets", "breastmnist", "--seeds", "0", "1", "--epochs", "1",
                       "--train-limit", "64"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("breastmnist     seed=") == 2
    assert "test AUC=" in out and "peak memory" in out
    assert "summary" in out and "targets: auc" in out


def test_unknown_dataset_is_refused():
    with pytest.raises(SystemExit):
        bench.main(["--datasets", "cifar10"])


@pytest.mark.skipif(not _have("breastmnist.npz"), reason="breastmnist.npz not available offline")
def test_tiny_run_repeats_exactly(capsys):
    argv = ["--datasets", "breastmnist", "--seeds", "3", "--epochs", "2", "--train-limit", "64"]
    lines = []
    for _ in range(2):
        bench.main(argv)
        out = capsys.readouterr().out
        lines.append([ln.split("train ")[0] for ln in out.splitlines() if "seed=3" in ln])
    assert lines[0] and lines[0] == lines[1]


@pytest.mark.skipif(not _have("breastmnist.npz"), reason="breastmnist.npz not available offline")
def test_tta_option_changes_only_the_predictions(capsys):
    """Chapter faq: --tta N keeps the training (same epochs) and prints the option and the val AUC."""
    argv = ["--datasets", "breastmnist", "--seeds", "0", "--epochs", "1", "--train-limit", "64"]
    bench.main(argv)
    plain = capsys.readouterr().out
    bench.main([*argv, "--tta", "2"])
    tta = capsys.readouterr().out
    assert "tta=0" in plain and "tta=2" in tta and "val AUC=" in tta
    line = next(ln for ln in tta.splitlines() if "seed=0" in ln)
    assert "epochs=1" in line
    # the same model without TTA is reported too, and equals the plain run (deterministic training)
    without = next(ln for ln in tta.splitlines() if "without TTA" in ln).split("val AUC=")[1]
    before = next(ln for ln in plain.splitlines() if "seed=0" in ln).split("val AUC=")[1]
    assert without.split()[0] == before.split()[0]
