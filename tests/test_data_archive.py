"""Archive members in the data layer (medlab.data, chapter hippocampus): the Decathlon's tar file
served from 127.0.0.1, verified by MD5 and unpacked once; the offline copy's registry entries."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tarballs import tar_bytes

from medlab import data


def _offline_copy() -> Path | None:
    """The shared offline copy (a folder of MEDLAB_DATA_DIR, or ../shared/data next to the checkout)."""
    root = Path(__file__).resolve().parents[1]
    for d in [*data.data_dirs(), root.parent / "shared" / "data" / "msd_hippocampus"]:
        if (d / "SHA256SUMS").is_file() and (d / "imagesTr").is_dir():
            return d
    return None


SHARED = _offline_copy()



@pytest.fixture
def fake_archive(http_server):
    """A small tar with two registered members (plus one unregistered file), served on 127.0.0.1."""
    base, folder = http_server
    members = {"Task/imagesTr/a.nii.gz": b"image a" * 100, "Task/labelsTr/a.nii.gz": b"label a" * 50}
    blob = tar_bytes({**members, "Task/imagesTs/b.nii.gz": b"unlabelled", "Task/._junk": b"x"}, gzip=False)
    (folder / "fake.tar").write_bytes(blob)
    archive = data.register(data.DataFile(name="fake.tar", hash="md5:" + hashlib.md5(blob).hexdigest(),
                                          url=f"{base}/fake.tar"))
    names = []
    for member, payload in members.items():
        name = member.removeprefix("Task/")
        names.append(name)
        data.register(data.DataFile(name=name, hash="sha256:" + hashlib.sha256(payload).hexdigest(),
                                    url=archive.url, archive="fake.tar", member=member))
    yield names, members, folder
    for n in (*names, "fake.tar"):
        data.REGISTRY.pop(n, None)


def test_archive_is_verified_unpacked_once_and_deleted(fake_archive, data_dir):
    names, members, folder = fake_archive
    path = data.fetch(names[0], progressbar=False, retries=0)
    assert path == data_dir / "fake.unpacked" / "Task" / "imagesTr" / "a.nii.gz"
    assert path.read_bytes() == members["Task/imagesTr/a.nii.gz"]
    unpacked = data_dir / "fake.unpacked"
    # only registered members are extracted; the archive itself is removed after unpacking
    assert sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()) == [
        "MANIFEST.json", "Task/imagesTr/a.nii.gz", "Task/labelsTr/a.nii.gz"]
    assert not (data_dir / "fake.tar").exists()
    # second member and repeated calls: no download needed (the server loses the file)
    (folder / "fake.tar").unlink()
    second = data.fetch(names[1], progressbar=False, retries=0)
    assert second.read_bytes() == members["Task/labelsTr/a.nii.gz"]
    assert data.fetch(names[0], progressbar=False, retries=0) == path
    # data.status() (and so medlab.doctor()) finds the members where the archive was unpacked
    rows = {r["name"]: r for r in data.status()}
    assert rows[names[0]]["where"] == str(path) and rows[names[0]]["state"] == "verified"
    path.write_bytes(b"tampered")
    assert {r["name"]: r for r in data.status()}[names[0]]["state"] == "CORRUPT"


def test_corrupt_archive_is_rejected(fake_archive, data_dir):
    names, _, folder = fake_archive
    blob = (folder / "fake.tar").read_bytes()
    (folder / "fake.tar").write_bytes(blob[:-512])  # truncated on the server: MD5 fails
    with pytest.raises(data.DataIntegrityError, match="checksum"):
        data.fetch(names[0], progressbar=False, retries=0)
    assert not (data_dir / "fake.unpacked").exists()


def test_tampered_unpacked_file_is_unpacked_again(fake_archive, data_dir):
    names, members, _ = fake_archive
    path = data.fetch(names[0], progressbar=False, retries=0)
    path.write_bytes(b"tampered")
    again = data.fetch(names[0], progressbar=False, retries=0)  # manifest check fails -> fresh unpack
    assert again.read_bytes() == members["Task/imagesTr/a.nii.gz"]


def test_archive_missing_a_member_is_an_integrity_error(http_server, data_dir):
    base, folder = http_server
    blob = tar_bytes({"Task/other.txt": b"nothing we want"}, gzip=False)
    (folder / "bad.tar").write_bytes(blob)
    data.register(data.DataFile(name="bad.tar", hash="md5:" + hashlib.md5(blob).hexdigest(),
                                url=f"{base}/bad.tar"))
    data.register(data.DataFile(name="x.nii.gz", hash="sha256:" + "0" * 64, url=f"{base}/bad.tar",
                                archive="bad.tar", member="Task/x.nii.gz"))
    try:
        with pytest.raises(data.DataIntegrityError, match="lacks 1 registered"):
            data.fetch("x.nii.gz", progressbar=False, retries=0)
    finally:
        data.REGISTRY.pop("bad.tar", None)
        data.REGISTRY.pop("x.nii.gz", None)


def test_member_entry_needs_both_fields():
    with pytest.raises(ValueError, match="archive"):
        data.register(data.DataFile(name="y", hash="md5:" + "0" * 32, url="http://127.0.0.1/y",
                                    archive="Task04_Hippocampus.tar"))


def test_hippocampus_registry_matches_the_shared_readme():
    entry = data.REGISTRY["Task04_Hippocampus.tar"]
    assert entry.hash == "md5:9d24dba78a72977dbd1d2e110310f31b"
    assert entry.url == "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task04_Hippocampus.tar"
    members = [e for e in data.REGISTRY.values() if e.archive == entry.name]
    assert len(members) == 520  # 260 image + label pairs
    assert all(e.member == f"Task04_Hippocampus/{e.name}" for e in members)


@pytest.mark.skipif(SHARED is None, reason="offline hippocampus copy not on this machine")
def test_registry_sha256_equal_the_offline_copy_sums(monkeypatch, tmp_path):
    sums = dict(line.split()[::-1] for line in (SHARED / "SHA256SUMS").read_text().splitlines())
    reg = json.loads((Path(data.__file__).parent / "msd_hippocampus_registry.json").read_text())["files"]
    assert reg == sums
    monkeypatch.setenv("MEDLAB_DATA_DIR", f"{tmp_path}:{SHARED}")
    assert data.fetch("labelsTr/hippocampus_001.nii.gz") == SHARED / "labelsTr" / "hippocampus_001.nii.gz"
