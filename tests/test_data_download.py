"""Downloads that a chapter needs on Colab (issue #29), each served from 127.0.0.1: the BCCD
repository as one archive of the pinned commit whose members are checked one by one, and the
Decathlon's hippocampus archive (MD5); a good archive, a truncated one, a damaged member, host down."""

from __future__ import annotations

import hashlib
import socket

import pytest
from tarballs import tar_bytes

from medlab import data

ROOT = "Repo-0123abc"
MEMBERS = {f"SET/Annotations/{i}.xml": f"<annotation>{i}</annotation>".encode() * 40 for i in range(3)}
MEMBERS["SET/JPEGImages/0.jpg"] = bytes(range(256)) * 400


@pytest.fixture
def repo_archive(http_server):
    """A GitHub-style archive (``<repo>-<commit>/...``, no checksum of its own) with four registered
    members and an unregistered file; yields (served folder, base URL, member names)."""
    base, folder = http_server
    archive = data.register(data.DataFile(name=f"{ROOT}.tar.gz", hash=data.MEMBER_CHECKSUMS,
                                          url=f"{base}/{ROOT}.tar.gz"))
    for name, payload in MEMBERS.items():
        data.register(data.DataFile(name=name, hash="sha256:" + hashlib.sha256(payload).hexdigest(),
                                    url=archive.url, archive=archive.name, member=f"{ROOT}/{name}"))
    yield folder, base, list(MEMBERS)
    for name in (*MEMBERS, archive.name):
        data.REGISTRY.pop(name, None)


def _serve(folder, files):
    (folder / f"{ROOT}.tar.gz").write_bytes(tar_bytes(files))


def test_good_archive_is_downloaded_once_and_every_member_kept(repo_archive, data_dir, capsys):
    folder, _, names = repo_archive
    _serve(folder, {**{f"{ROOT}/{n}": p for n, p in MEMBERS.items()}, f"{ROOT}/README.md": b"extra"})
    path = data.fetch(names[0], retries=0)  # with its progress bar
    assert path == data_dir / names[0] and path.read_bytes() == MEMBERS[names[0]]
    assert capsys.readouterr().err.count("Downloading") <= 1
    for n in names:  # all members arrived with the one download, under their registry names
        assert (data_dir / n).read_bytes() == MEMBERS[n]
    assert sorted(p.name for p in data_dir.iterdir()) == ["SET"]  # archive and partial folder gone
    assert not (data_dir / "SET" / "README.md").exists()  # unregistered files are not kept
    (folder / f"{ROOT}.tar.gz").unlink()  # host gone: everything is found locally now
    assert data.fetch(names[-1], progressbar=False, retries=0) == data_dir / names[-1]


def test_truncated_archive_is_refused_with_the_manual_fallback(repo_archive, data_dir):
    folder, base, names = repo_archive
    blob = tar_bytes({f"{ROOT}/{n}": p for n, p in MEMBERS.items()})
    (folder / f"{ROOT}.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(data.DataIntegrityError, match="damaged or truncated") as err:
        data.fetch(names[0], progressbar=False, retries=0)
    assert f"{base}/{ROOT}.tar.gz" in str(err.value) and "MEDLAB_DATA_DIR" in str(err.value)
    assert f"tar xzf {ROOT}.tar.gz" in str(err.value)
    assert list(data_dir.iterdir()) == []  # nothing kept


def test_a_damaged_member_refuses_the_whole_archive(repo_archive, data_dir):
    folder, _, names = repo_archive
    files = {f"{ROOT}/{n}": p for n, p in MEMBERS.items()}
    files[f"{ROOT}/{names[1]}"] = b"not the annotation"
    _serve(folder, files)
    with pytest.raises(data.DataIntegrityError, match=f"do not match their SHA-256, e.g. {ROOT}/{names[1]}"):
        data.fetch(names[0], progressbar=False, retries=0)
    assert list(data_dir.iterdir()) == []


def test_an_archive_missing_a_member_is_refused(repo_archive, data_dir):
    folder, _, names = repo_archive
    _serve(folder, {f"{ROOT}/{n}": p for n, p in list(MEMBERS.items())[1:]})
    with pytest.raises(data.DataIntegrityError, match="lacks 1 registered files"):
        data.fetch(names[1], progressbar=False, retries=0)
    assert list(data_dir.iterdir()) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_host_down_says_where_to_get_the_archive_by_hand(repo_archive, data_dir):
    _, _, names = repo_archive
    url = f"http://127.0.0.1:{_closed_port()}/{ROOT}.tar.gz"
    for n in (*names, f"{ROOT}.tar.gz"):
        e = data.REGISTRY[n]
        data.REGISTRY[n] = data.DataFile(**{**e.__dict__, "url": url})
    with pytest.raises(data.DataUnavailableError, match="could not be downloaded") as err:
        data.fetch(names[0], progressbar=False, retries=0, timeout=5)
    assert url in str(err.value)
    assert f"add the folder it creates, {ROOT}, to MEDLAB_DATA_DIR" in str(err.value)
    assert list(data_dir.iterdir()) == []


def test_an_archive_without_a_checksum_is_never_handed_out(repo_archive):
    with pytest.raises(ValueError, match="fetch one of its members"):
        data.fetch(f"{ROOT}.tar.gz")


def test_bccd_is_one_archive_of_the_pinned_commit():
    archive = data.REGISTRY[data.REGISTRY[data.BCCD_FILES[0]].archive]
    assert archive.hash == data.MEMBER_CHECKSUMS
    commit = "d272fb14cdff6e473fafeeeba32aba5f560e9e43"
    assert archive.url == f"https://github.com/Shenggan/BCCD_Dataset/archive/{commit}.tar.gz"
    members = {data.REGISTRY[n].member for n in data.BCCD_FILES}
    assert members == {f"BCCD_Dataset-{commit}/{n}" for n in data.BCCD_FILES}


# ----------------------------------------------------------- the hippocampus archive (MD5)
@pytest.fixture
def md5_archive(http_server):
    base, folder = http_server
    payload = b"image" * 300
    blob = tar_bytes({"Task/imagesTr/a.nii.gz": payload})
    (folder / "task.tar").write_bytes(blob)
    archive = data.register(data.DataFile(name="task.tar", hash="md5:" + hashlib.md5(blob).hexdigest(),
                                          url=f"{base}/task.tar"))
    member = data.register(data.DataFile(name="imagesTr/a.nii.gz", url=archive.url, archive="task.tar",
                                         member="Task/imagesTr/a.nii.gz",
                                         hash="sha256:" + hashlib.sha256(payload).hexdigest()))
    yield folder, blob, member
    for n in ("task.tar", member.name):
        data.REGISTRY.pop(n, None)


def test_md5_archive_truncated_is_refused(md5_archive, data_dir):
    folder, blob, member = md5_archive
    (folder / "task.tar").write_bytes(blob[:-100])
    with pytest.raises(data.DataIntegrityError, match="does not match its checksum"):
        data.fetch(member.name, progressbar=False, retries=0)


def test_md5_archive_host_down_is_a_clear_error(md5_archive, data_dir):
    folder, _, member = md5_archive
    url = f"http://127.0.0.1:{_closed_port()}/task.tar"
    data.REGISTRY["task.tar"] = data.DataFile(**{**data.REGISTRY["task.tar"].__dict__, "url": url})
    with pytest.raises(data.DataUnavailableError, match="Download it by hand from " + url):
        data.fetch(member.name, progressbar=False, retries=0, timeout=5)
