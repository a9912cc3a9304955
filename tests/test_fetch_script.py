"""``python -m tools.fetch_data`` reports what it verified and fails on missing files."""

from __future__ import annotations

from tools import fetch_data


def test_verifies_package_files(capsys):
    assert fetch_data.main(["CT_small.dcm", "mni152_t1.nii.gz"]) == 0
    out = capsys.readouterr().out
    assert "2 verified, 0 failed" in out and "verified  CT_small.dcm" in out


def test_reports_failures(capsys, data_dir, monkeypatch):
    monkeypatch.setattr(fetch_data.data, "_download", _offline)
    assert fetch_data.main(["not-a-file.npz", "octmnist.npz"]) == 1
    out = capsys.readouterr().out
    assert "0 verified, 2 failed" in out and "not in medlab's data registry" in out
    assert "offline" in out


def _offline(entry, target, *args):
    raise fetch_data.data.DataUnavailableError(f"{entry.name}: offline in this test")


def test_lists_registry(capsys):
    assert fetch_data.main(["--list"]) == 0
    assert "pathmnist_224.npz" in capsys.readouterr().out
