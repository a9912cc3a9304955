"""Issue #26: the offline data folders of MEDLAB_DATA_DIR are read-only by contract, whatever their
permissions (the tests run as root, so every folder here is writable); a corrupt file there is
reported by path with the fix, a missing folder is an error, a damaged archive is reported as such.

Made from the real offline copies (/work/shared/data or a folder of MEDLAB_DATA_DIR); no network:
the registry's URLs are pointed at a closed port on 127.0.0.1 or at the test's own server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import socket
from pathlib import Path

import pytest
from tarballs import tar_bytes

from medlab import data

ROOT = Path(__file__).resolve().parents[1]


def _offline_copy() -> Path:
    """The hippocampus offline copy: a folder of MEDLAB_DATA_DIR, or ../shared/data next to the checkout."""
    listed = [Path(d) for d in os.environ.get("MEDLAB_DATA_DIR", "").split(os.pathsep) if d.strip()]
    for d in [*listed, ROOT.parent / "shared" / "data" / "msd_hippocampus"]:
        if (d / "SHA256SUMS").is_file() and (d / "imagesTr").is_dir():
            return d
    return ROOT.parent / "shared" / "data" / "msd_hippocampus"


SHARED = _offline_copy()
NAME = "labelsTr/hippocampus_001.nii.gz"


def _tree(folder: Path) -> dict[str, tuple]:
    """Every entry below ``folder``: its bytes' SHA-256 (files), mode, owner and mtime in ns."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        out[str(p.relative_to(folder))] = (digest, st.st_mode, st.st_uid, st.st_mtime_ns, st.st_size)
    st = folder.lstat()
    out["."] = ("dir", st.st_mode, st.st_uid, st.st_mtime_ns)
    return out


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/missing.tar"


@pytest.fixture
def offline_folder(tmp_path, monkeypatch):
    """A root-owned, writable copy of part of the hippocampus folder with one member cut short,
    listed in MEDLAB_DATA_DIR; downloads point at a closed port (offline) and go to tmp_path."""
    if not (SHARED / NAME).is_file():
        pytest.skip("no offline copy of the hippocampus data")
    shared = tmp_path / "shared"
    for sub in ("imagesTr", "labelsTr"):
        (shared / sub).mkdir(parents=True)
    shutil.copy2(SHARED / "imagesTr" / "hippocampus_001.nii.gz", shared / "imagesTr")
    raw = (SHARED / NAME).read_bytes()
    (shared / NAME).write_bytes(raw[: len(raw) // 2])
    shared.chmod(0o777)
    (shared / NAME).chmod(0o666)
    archive = data.REGISTRY[data.REGISTRY[NAME].archive]
    monkeypatch.setitem(data.REGISTRY, archive.name, dataclasses.replace(archive, url=_closed_port_url()))
    monkeypatch.setenv("MEDLAB_DATA_DIR", str(shared))
    monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    data._VERIFIED.clear()
    return shared


def test_corrupt_file_in_a_writable_data_folder_is_left_byte_for_byte(offline_folder, tmp_path):
    assert os.access(offline_folder, os.W_OK) and os.access(offline_folder / NAME, os.W_OK)
    before = _tree(offline_folder)
    with pytest.warns(UserWarning, match="fails the checksum") as record, \
            pytest.raises(data.DataUnavailableError) as err:
        data.fetch(NAME, progressbar=False, retries=0, timeout=2)
    message = str(err.value)
    # reported by path, with the fix, before the download problem
    assert message.startswith(str(offline_folder / NAME))
    assert "Fix: replace it with a good copy" in message and "MEDLAB_DATA_DIR" in message
    assert str(offline_folder / NAME) in str(record[0].message)
    assert _tree(offline_folder) == before  # nothing written, renamed or deleted, mtimes kept
    # the good file next to it is still used from the offline folder
    img = "imagesTr/hippocampus_001.nii.gz"
    assert data.fetch(img, progressbar=False, retries=0) == offline_folder / img
    assert _tree(offline_folder) == before
    # downloads went (or would go) to the download folder only
    assert not (tmp_path / "downloads").exists() or offline_folder not in (tmp_path / "downloads").parents


def test_corrupt_file_in_data_folder_online_downloads_elsewhere(http_server, tmp_path, monkeypatch):
    base, served = http_server
    payload = b"the right bytes" * 10
    (served / "f.bin").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    entry = data.register(data.DataFile(name="coll/f.bin", hash=f"sha256:{digest}", url=f"{base}/f.bin"))
    try:
        shared, downloads = tmp_path / "shared", tmp_path / "downloads"
        (shared / "coll").mkdir(parents=True)
        (shared / "coll" / "f.bin").write_bytes(b"damaged")
        monkeypatch.setenv("MEDLAB_DATA_DIR", str(shared))
        monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(downloads))
        before = _tree(shared)
        with pytest.warns(UserWarning, match=str(shared / "coll" / "f.bin")):
            path = data.fetch(entry.name, progressbar=False, retries=0)
        assert path == downloads / "coll" / "f.bin" and path.read_bytes() == payload
        assert _tree(shared) == before
    finally:
        data.REGISTRY.pop(entry.name, None)


def test_missing_data_folder_is_an_error_and_never_created(tmp_path, monkeypatch):
    typo = tmp_path / "medlab-dat"
    monkeypatch.setenv("MEDLAB_DATA_DIR", f"{tmp_path}{os.pathsep}{typo}")
    monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(tmp_path / "downloads"))
    for call in (data.data_dirs, lambda: data.fetch(NAME, progressbar=False, retries=0)):
        with pytest.raises(data.DataUnavailableError,
                           match=f"MEDLAB_DATA_DIR lists {typo}, which does not exist"):
            call()
    assert not typo.exists() and not (tmp_path / "downloads").exists()
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("MEDLAB_DATA_DIR", str(tmp_path / "a-file"))
    with pytest.raises(data.DataUnavailableError, match="which is not a folder"):
        data.data_dirs()



def test_damaged_archive_member_is_reported_as_such(http_server, tmp_path, monkeypatch):
    """An archive whose checksum matches what was registered (the publisher's) but whose second
    member is cut short: a DataIntegrityError about the archive, not a download problem."""
    if not (SHARED / NAME).is_file():
        pytest.skip("no offline copy of the hippocampus data")
    base, served = http_server
    real = {f"Task/{n}": (SHARED / n).read_bytes()
            for n in ("imagesTr/hippocampus_001.nii.gz", "labelsTr/hippocampus_001.nii.gz")}
    blob = tar_bytes(real)
    blob = blob[: int(len(blob) * 0.8)]  # the stream ends inside the second member
    (served / "cut.tar").write_bytes(blob)
    archive = data.register(data.DataFile(name="cut.tar", hash="md5:" + hashlib.md5(blob).hexdigest(),
                                          url=f"{base}/cut.tar"))
    names = []
    for member, payload in real.items():
        names.append("cut/" + member.removeprefix("Task/"))
        data.register(data.DataFile(name=names[-1], hash="sha256:" + hashlib.sha256(payload).hexdigest(),
                                    url=archive.url, archive="cut.tar", member=member))
    try:
        monkeypatch.delenv("MEDLAB_DATA_DIR", raising=False)
        monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(tmp_path / "downloads"))
        with pytest.raises(data.DataIntegrityError, match="the archive .*cut.tar is damaged") as err:
            data.fetch(names[0], progressbar=False, retries=0)
        assert "not a download problem" in str(err.value)
        assert not list((tmp_path / "downloads").glob("*.partial"))
    finally:
        for n in (*names, "cut.tar"):
            data.REGISTRY.pop(n, None)
