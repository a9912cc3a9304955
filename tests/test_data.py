"""The data layer: registry, checksums, downloads (from a local server), offline errors."""

from __future__ import annotations

import hashlib
import os
import socket

import numpy as np
import pytest

from medlab import data
from tests.conftest import medmnist_dir


@pytest.fixture
def fake_entry(http_server):
    """Register a small file served on 127.0.0.1; yields (entry, payload, served_folder)."""
    base, folder = http_server
    payload = os.urandom(50_000)
    (folder / "fake.bin").write_bytes(payload)
    entry = data.register(data.DataFile(
        name="fake.bin", hash="md5:" + hashlib.md5(payload).hexdigest(), url=f"{base}/fake.bin"))
    yield entry, payload, folder
    data.REGISTRY.pop("fake.bin", None)


def snapshot(folder):
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_registry_has_every_book_file_and_valid_hashes():
    for name in data.BOOK_FILES:
        entry = data.REGISTRY[name]
        algo, _, digest = entry.hash.partition(":")
        assert algo in ("md5", "sha256")
        assert len(digest) == {"md5": 32, "sha256": 64}[algo]


def test_medmnist_entries_use_official_zenodo_urls_and_md5():
    entry = data.REGISTRY["pneumoniamnist.npz"]
    assert entry.hash == "md5:28209eda62fecd6e6a2d98b1501bb15f"
    assert entry.url.startswith("https://zenodo.org/records/10519652/files/pneumoniamnist.npz")


@pytest.mark.parametrize("name", [n for n in data.BOOK_FILES if data.REGISTRY[n].kind == "package"])
def test_package_files_are_found_and_verified(name):
    path = data.fetch(name)
    assert path.is_file()
    assert data.verify(path, data.REGISTRY[name].hash)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError, match="pneumoniamnist.npz"):
        data.fetch("pneumoniamnst.npz")


def test_download_good_file(fake_entry, data_dir):
    entry, payload, _ = fake_entry
    path = data.fetch(entry.name, progressbar=False, retries=0)
    assert path == data_dir / entry.name
    assert path.read_bytes() == payload
    # second call: served from the cache, no new download needed even if the server loses it
    (fake_entry[2] / "fake.bin").unlink()
    assert data.fetch(entry.name, progressbar=False, retries=0) == path


def test_corrupt_download_is_rejected_and_not_kept(fake_entry, data_dir):
    entry, payload, folder = fake_entry
    (folder / "fake.bin").write_bytes(payload[:-100])  # truncated on the server
    with pytest.raises(data.DataIntegrityError, match="checksum"):
        data.fetch(entry.name, progressbar=False, retries=0)
    assert list(data_dir.iterdir()) == []  # nothing left behind, not even a temporary file


def test_missing_file_on_server_gives_clear_error(fake_entry, data_dir):
    entry, _, folder = fake_entry
    (folder / "fake.bin").unlink()
    with pytest.raises(data.DataUnavailableError) as err:
        data.fetch(entry.name, progressbar=False, retries=0)
    message = str(err.value)
    assert entry.name in message and entry.url in message and str(data_dir) in message
    assert list(data_dir.iterdir()) == []


def test_server_down_gives_clear_offline_error(data_dir):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = data.register(data.DataFile(name="down.bin", hash="md5:" + "0" * 32,
                                        url=f"http://127.0.0.1:{port}/down.bin"))
    try:
        with pytest.raises(data.DataUnavailableError, match="by hand"):
            data.fetch(entry.name, progressbar=False, retries=0, timeout=5)
    finally:
        data.REGISTRY.pop("down.bin")


def test_corrupt_cached_file_is_replaced(fake_entry, data_dir):
    entry, payload, _ = fake_entry
    (data_dir / entry.name).write_bytes(b"garbage")
    path = data.fetch(entry.name, progressbar=False, retries=0)
    assert path.read_bytes() == payload


def test_corrupt_cached_file_offline_is_never_returned(fake_entry, data_dir):
    entry, _, folder = fake_entry
    (data_dir / entry.name).write_bytes(b"garbage")
    (folder / "fake.bin").unlink()
    with pytest.raises(data.DataUnavailableError):
        data.fetch(entry.name, progressbar=False, retries=0)


def test_read_only_verified_dir_is_used_as_is(fake_entry, tmp_path, monkeypatch):
    entry, payload, folder = fake_entry
    ro = tmp_path / "readonly"
    ro.mkdir()
    (ro / entry.name).write_bytes(payload)
    ro.chmod(0o555)
    monkeypatch.setenv("MEDLAB_DATA_DIR", str(ro))
    (folder / "fake.bin").unlink()  # offline: must not be needed
    before = snapshot(ro)
    try:
        assert data.fetch(entry.name, progressbar=False, retries=0) == ro / entry.name
        assert snapshot(ro) == before
    finally:
        ro.chmod(0o755)


def test_read_only_dir_missing_file_downloads_to_user_cache(fake_entry, tmp_path, monkeypatch):
    entry, payload, _ = fake_entry
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    cache = tmp_path / "usercache"
    monkeypatch.setenv("MEDLAB_DATA_DIR", str(ro))
    monkeypatch.delenv("MEDLAB_DOWNLOAD_DIR", raising=False)
    monkeypatch.setattr("pooch.os_cache", lambda name: cache)
    try:
        path = data.fetch(entry.name, progressbar=False, retries=0)
        assert path == cache / entry.name and path.read_bytes() == payload
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_a_writable_data_dir_is_never_written(fake_entry, tmp_path, monkeypatch):
    """MEDLAB_DATA_DIR is only read, even when it could be written: downloads go to MEDLAB_DOWNLOAD_DIR."""
    entry, payload, _ = fake_entry
    shared, downloads = tmp_path / "shared", tmp_path / "downloads"
    shared.mkdir()
    (shared / entry.name).write_bytes(b"stale copy")  # fails its checksum: left alone
    monkeypatch.setenv("MEDLAB_DATA_DIR", str(shared))
    monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(downloads))
    before = snapshot(shared)
    path = data.fetch(entry.name, progressbar=False, retries=0)
    assert path == downloads / entry.name and path.read_bytes() == payload
    assert snapshot(shared) == before and (shared / entry.name).read_bytes() == b"stale copy"
    assert data.data_dirs() == [shared, downloads]
    assert data.fetch(entry.name, progressbar=False, retries=0) == path  # found there next time


def test_unwritable_download_folder_is_a_clear_error(fake_entry, tmp_path, monkeypatch):
    entry, _, _ = fake_entry
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.delenv("MEDLAB_DATA_DIR", raising=False)
    monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(ro))
    try:
        with pytest.raises(data.DataUnavailableError, match="MEDLAB_DOWNLOAD_DIR"):
            data.fetch(entry.name, progressbar=False, retries=0)
    finally:
        ro.chmod(0o755)


def test_load_medmnist_checks_split_sizes(tmp_path, monkeypatch):
    """A file with the right checksum but wrong content is caught by the split-size check."""
    arrays = {f"{s}_{k}": np.zeros((3, 28, 28) if k == "images" else (3, 1), np.uint8)
              for s in data.SPLITS for k in ("images", "labels")}
    path = tmp_path / "breastmnist.npz"
    np.savez(path, **arrays)
    monkeypatch.setattr(data, "fetch", lambda name: path)
    with pytest.raises(data.DataIntegrityError, match="train_images has 3 rows"):
        data.load_medmnist("breastmnist")


def test_load_medmnist_rejects_bad_arguments():
    with pytest.raises(KeyError, match="pneumoniamnist"):
        data.load_medmnist("pneumonia")
    with pytest.raises(ValueError, match="sizes"):
        data.load_medmnist("pneumoniamnist", size=32)


@pytest.mark.skipif(medmnist_dir() is None, reason="no local MedMNIST files on this machine")
def test_load_real_pneumoniamnist(monkeypatch):
    monkeypatch.setenv("MEDLAB_DATA_DIR", str(medmnist_dir()))
    arrays = data.load_medmnist("pneumoniamnist")
    assert arrays["train_images"].shape == (4708, 28, 28)
    assert arrays["test_labels"].shape == (624, 1)
    assert set(np.unique(arrays["train_labels"])) == {0, 1}


def test_several_data_folders_are_searched_in_order(fake_entry, tmp_path, monkeypatch):
    """``MEDLAB_DATA_DIR=a:b``: a verified file in any listed folder is used; sub-paths work."""
    entry, payload, folder = fake_entry
    nested = data.register(data.DataFile(name="coll/sub/fake.bin", hash=entry.hash, url=entry.url))
    try:
        first, second = tmp_path / "first", tmp_path / "second"
        (second / "coll" / "sub").mkdir(parents=True)
        first.mkdir()
        (second / "coll" / "sub" / "fake.bin").write_bytes(payload)
        (second / entry.name).write_bytes(b"corrupt")  # fails its checksum: skipped, never returned
        monkeypatch.setenv("MEDLAB_DATA_DIR", f" {first}{os.pathsep}{os.pathsep}{second} ")
        monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(tmp_path / "downloads"))
        assert data.data_dirs() == [first, second, tmp_path / "downloads"] and data.data_dir() == first
        (folder / "fake.bin").unlink()  # offline
        assert data.fetch(nested.name, progressbar=False, retries=0) == second / "coll/sub/fake.bin"
        with pytest.raises(data.DataUnavailableError):
            data.fetch(entry.name, progressbar=False, retries=0)
        assert (second / entry.name).read_bytes() == b"corrupt"  # the second folder is never written
    finally:
        data.REGISTRY.pop(nested.name, None)


def test_download_of_a_sub_path_name_goes_below_the_download_folder(fake_entry, tmp_path, monkeypatch):
    entry, payload, _ = fake_entry
    nested = data.register(data.DataFile(name="coll/fake.bin", hash=entry.hash, url=entry.url))
    try:
        (tmp_path / "shared").mkdir()
        monkeypatch.setenv("MEDLAB_DATA_DIR", str(tmp_path / "shared"))
        monkeypatch.setenv("MEDLAB_DOWNLOAD_DIR", str(tmp_path / "cache"))
        path = data.fetch(nested.name, progressbar=False, retries=0)
        assert path == tmp_path / "cache" / "coll" / "fake.bin" and path.read_bytes() == payload
        assert not any((tmp_path / "shared").iterdir())
    finally:
        data.REGISTRY.pop(nested.name, None)


# ---------------------------------------------------------------- one loader per data set
def _verified(name):
    return any(r["name"] == name and r["state"] == "verified" for r in data.status())


def test_load_mni152_scales_the_three_maps():
    t1, gm, wm = data.load_mni152()
    assert t1.shape == gm.shape == wm.shape == (197, 233, 189)
    assert t1.dtype == gm.dtype == np.float32
    assert 0 <= min(a.min() for a in (t1, gm, wm)) and max(a.max() for a in (t1, gm, wm)) <= 1
    assert gm.max() > 0.9 and wm.max() > 0.9  # scaled by 1/255, not twice


def test_load_bccd_refuses_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_bccd("training")
    with pytest.raises(ValueError, match=r"scale must be a number in \(0, 1\]"):
        data.load_bccd("val", scale=2.0)
    with pytest.raises(TypeError, match="load_bccd"):
        data.load_bccd("val", 0.5)  # options are keyword-only


def test_load_bccd_annotations_and_images():
    if not _verified("BCCD/ImageSets/Main/val.txt"):
        pytest.skip("BCCD files not available offline (set MEDLAB_DATA_DIR)")
    val = data.load_bccd("val", scale=0.25)
    assert len(val["ids"]) == 87 and val["images"].shape == (87, 120, 160, 3)
    assert val["images"].dtype == np.uint8
    first = val["ids"][0]
    assert val["gt"][first]["boxes"] is val["boxes"][0]
    assert all(lab.dtype == np.int64 and lab.max() <= 2 for lab in val["labels"] if lab.size)


def test_read_rgb_refuses_a_bad_scale(tmp_path):
    from medlab.detection import read_rgb

    with pytest.raises(ValueError, match="scale"):
        read_rgb(tmp_path / "x.jpg", 0.0)


def test_load_hippocampus_refuses_bad_ids():
    with pytest.raises(TypeError, match=r"write load_hippocampus\(\[1\]\)"):
        data.load_hippocampus(1)
    with pytest.raises(KeyError, match="hippocampus case 2 does not exist"):
        data.load_hippocampus([1, 2])  # 2 is one of the gaps in the Decathlon's numbering
    assert len(data.HIPPOCAMPUS_CASES) == 260 and data.HIPPOCAMPUS_CASES[0] == 1


def test_load_hippocampus_reads_checked_cases():
    first = data.HIPPOCAMPUS_CASES[0]
    if not _verified(data.hippocampus_files(first)[0]):
        pytest.skip("hippocampus files not available offline (set MEDLAB_DATA_DIR)")
    cases = data.load_hippocampus(data.HIPPOCAMPUS_CASES[:2])
    assert list(cases) == list(data.HIPPOCAMPUS_CASES[:2])
    case = cases[first]
    assert isinstance(case, data.HippocampusCase) and case.case_id == first
    assert case.image.dtype == np.float32 and case.label.dtype == np.uint8
    assert case.image.shape == case.label.shape and set(np.unique(case.label)) <= {0, 1, 2}
    assert len(case.spacing) == 3 and all(s > 0 for s in case.spacing)
