"""The book's data layer: one registry of every file the chapters read.

Two kinds of file are registered:

* **downloads** (the MedMNIST collection): fetched once from Zenodo with
  `pooch <https://www.fatiando.org/pooch>`_, checked against the official MD5
  and kept in a cache directory;
* **package files**: real medical images that ship inside installed packages
  (pydicom, pydicom-data, nilearn, scikit-image), located with
  :mod:`importlib.resources` and checked against a SHA-256 recorded here.

Files are looked for in the folders of ``$MEDLAB_DATA_DIR``, then in the
download folder. ``$MEDLAB_DATA_DIR`` may list several folders separated by
``os.pathsep`` (``:`` on Linux), e.g. one per data collection; each is searched
for ``<folder>/<name>``, where a registered name may hold a sub-path
(``BCCD/Annotations/BloodImage_00000.xml``). Those folders are only read, never
written, whatever their permissions (a shared store of verified files): a file
there that fails its checksum is reported by path and left as it is, and a
folder listed there that does not exist is an error (a typo, never created).
Downloads go to the download folder: ``$MEDLAB_DOWNLOAD_DIR`` when set (on
Colab, a folder of a mounted Google Drive keeps them across sessions), else the
user cache (``~/.cache/medlab`` on Linux). Introduced in the chapter *Background*.

Every download is one file with one progress bar: a MedMNIST ``.npz``, the
Decathlon's hippocampus archive (verified by its MD5), or the BCCD repository's
archive of the pinned commit, which has no checksum of its own (GitHub builds it
on request) and whose every member is verified against its SHA-256 instead.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.resources
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR_ENV = "MEDLAB_DATA_DIR"
"""Environment variable naming the data folders (only read, never written)."""

DOWNLOAD_DIR_ENV = "MEDLAB_DOWNLOAD_DIR"
"""Environment variable naming the folder downloads go to (default: the user cache)."""

MEMBER_CHECKSUMS = "members"
"""The ``hash`` of an archive that has no checksum of its own (GitHub's archive of a commit, built
on request, is not guaranteed byte-stable): every registered member is verified against its own."""

SPLITS = ("train", "val", "test")


class DataError(RuntimeError):
    """Base class of the data layer's errors."""


class DataUnavailableError(DataError):
    """A file is neither cached nor downloadable (e.g. offline)."""


class DataIntegrityError(DataError):
    """A file failed its checksum: it is never used."""


@dataclass(frozen=True)
class DataFile:
    """One registered file.

    Attributes
    ----------
    name
        Registry key, also the file name on disk.
    hash
        ``"md5:<hex>"`` or ``"sha256:<hex>"``; for an archive whose members carry their own
        checksums, :data:`MEMBER_CHECKSUMS`.
    url
        Download URL (downloads only).
    package, resource
        Installed package and path inside it (package files only).
    archive, member
        Registry name of a downloadable archive and the file's path inside it
        (archive members only; ``url`` is then the archive's URL).
    description, source
        What the file is and where it comes from (with licence).
    """

    name: str
    hash: str
    url: str | None = None
    package: str | None = None
    resource: str | None = None
    description: str = ""
    source: str = ""
    archive: str | None = None
    member: str | None = None

    @property
    def kind(self) -> str:
        if self.package:
            return "package"
        return "archive" if self.archive else "download"


_MEDMNIST = json.loads(
    importlib.resources.files("medlab").joinpath("medmnist_registry.json").read_text()
)["datasets"]

_MEDMNIST_SOURCE = (
    "MedMNIST v2/v3 (Yang et al., Scientific Data 2023), Zenodo record 10519652, CC BY 4.0 "
    "(DermaMNIST: CC BY-NC 4.0)"
)

REGISTRY: dict[str, DataFile] = {}


def register(entry: DataFile) -> DataFile:
    """Add (or replace) a registry entry and return it."""
    algo, _, digest = entry.hash.partition(":")
    if entry.hash != MEMBER_CHECKSUMS and (algo not in ("md5", "sha256") or not digest):
        raise ValueError(f"{entry.name}: hash must look like 'md5:<hex>' or 'sha256:<hex>'")
    if (entry.url is None) == (entry.package is None):
        raise ValueError(f"{entry.name}: give either a url or a package, not both or neither")
    if (entry.archive is None) != (entry.member is None):
        raise ValueError(f"{entry.name}: an archive member needs both `archive` and `member`")
    REGISTRY[entry.name] = entry
    return entry


for _key, _info in _MEDMNIST.items():
    for _size, _f in _info["files"].items():
        register(DataFile(
            name=_f["name"], hash=f"md5:{_f['md5']}", url=_f["url"],
            description=f"{_key} at {_size} px ({_info['task']})", source=_MEDMNIST_SOURCE,
        ))

_PYDICOM = "pydicom test files (MIT licence), https://github.com/pydicom/pydicom"
_PYDICOM_DATA = "pydicom-data package (MIT licence), https://github.com/pydicom/pydicom-data"
_PACKAGE_FILES = [
    ("CT_small.dcm", "pydicom", "data/test_files/CT_small.dcm",
     "3dd31e5cc835b3f2cdd46c9da1982f59251e78518fefa8163d914631c66437d6",
     "CT slice, 128x128, 16-bit", _PYDICOM),
    ("MR_small.dcm", "pydicom", "data/test_files/MR_small.dcm",
     "3f27d1c22f1a66e80d7bb7c911e8610fd0bb70325a76746a7adb1c0ddefcf2bb",
     "MR slice, 64x64, 16-bit", _PYDICOM),
    ("RG1_UNCR.dcm", "data_store", "data/RG1_UNCR.dcm",
     "946f28f48b9fbf360196a9b835c8fce83b0c654bf85a5107663c8a61df02e498",
     "chest computed radiograph (CR), 1955x1841", _PYDICOM_DATA),
    ("RG3_UNCR.dcm", "data_store", "data/RG3_UNCR.dcm",
     "6babfc42dd404213e1758d6dbb93648c248783cc23f593103fff4295c3374dfb",
     "extremity computed radiograph (CR), 1760x1760", _PYDICOM_DATA),
    ("693_UNCR.dcm", "data_store", "data/693_UNCR.dcm",
     "cc4cdd599231922ecf63de2ddacf03d51c4588805c9154c2eef1ff49c23b32be",
     "CT slice, 512x512", _PYDICOM_DATA),
    ("MR2_UNCR.dcm", "data_store", "data/MR2_UNCR.dcm",
     "c14c7f0c6e25bd4dfbb822fe264e540fc7142bf1c9d15d4c652ec8f5f97fa9e8",
     "MR slice (shoulder), 1024x1024", _PYDICOM_DATA),
    ("US1_UNCR.dcm", "data_store", "data/US1_UNCR.dcm",
     "af5a66e40cd49d15dfbf7b78c850eba0662bdc7339339c3fa13f123a57e812cb",
     "ultrasound frame, 480x640 RGB", _PYDICOM_DATA),
    ("MR-SIEMENS-DICOM-WithOverlays.dcm", "data_store", "data/MR-SIEMENS-DICOM-WithOverlays.dcm",
     "094faf56c63bff84c30567e29de0c67d7c5a8ae05cf880ac12175491b6b645d2",
     "MR slice (abdomen) with a DICOM overlay plane", _PYDICOM_DATA),
    ("eCT_Supplemental.dcm", "data_store", "data/eCT_Supplemental.dcm",
     "0a4c3aa02d1b0b4826daa5ffe85ef13be83c1433842a9a98b901e075136dd86f",
     "enhanced (multi-frame) CT, 2 frames of 512x512", _PYDICOM_DATA),
    ("emri_small.dcm", "data_store", "data/emri_small.dcm",
     "151233ec63f64ebb63b979df51aa827cd612a53422c073f6ef341770c7bc9a56",
     "enhanced (multi-frame) MR, 10 frames of 64x64", _PYDICOM_DATA),
    ("liver.dcm", "data_store", "data/liver.dcm",
     "4f8fb316b6df067bdf2ef7bc2385fd571ad5be67e171aed3ed902a71293d9d5c",
     "DICOM SEG object: liver segmentation, 3 frames of 512x512", _PYDICOM_DATA),
    ("mni152_t1.nii.gz", "nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
     "421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6",
     "MNI ICBM152 2009a T1 template, 1 mm, 197x233x189",
     "nilearn (BSD); ICBM 2009a Nonlinear Symmetric, Fonov et al. 2011"),
    ("mni152_gm.nii.gz", "nilearn", "datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
     "97a5ca69bd24db37a9cb7b32525e1733a209af904129bf1cd36da06d24243bed",
     "MNI ICBM152 2009a grey-matter probability map (stored scaled 0-255)",
     "nilearn (BSD); ICBM 2009a Nonlinear Symmetric, Fonov et al. 2011"),
    ("mni152_wm.nii.gz", "nilearn", "datasets/data/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
     "382d92812de4744f9c86c7a0e4f680dc317a0a50e4da1f0153618a6798c7b7db",
     "MNI ICBM152 2009a white-matter probability map (stored scaled 0-255)",
     "nilearn (BSD); ICBM 2009a Nonlinear Symmetric, Fonov et al. 2011"),
    ("retina.jpg", "skimage", "data/retina.jpg",
     "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6",
     "colour fundus photograph of a human retina, 1411x1411",
     "scikit-image (CC0); Häggström, Wikimedia Commons"),
]
for _n, _pkg, _res, _sha, _desc, _src in _PACKAGE_FILES:
    register(DataFile(name=_n, hash=f"sha256:{_sha}", package=_pkg, resource=_res,
                      description=_desc, source=_src))


_BCCD = json.loads(importlib.resources.files("medlab").joinpath("bccd_registry.json").read_text())
_BCCD_SOURCE = (
    f"BCCD blood cell detection data set, {_BCCD['source']} at commit {_BCCD['commit']}, "
    f"{_BCCD['license']}; images from cosmicad/dataset and akshaylamba/all_CELL_data"
)
_BCCD_ARCHIVE = register(DataFile(
    name=f"BCCD_Dataset-{_BCCD['commit']}.tar.gz", hash=MEMBER_CHECKSUMS,
    url=_BCCD["archive_url"].format(commit=_BCCD["commit"]),
    description="BCCD repository at the pinned commit, one archive (7.5 MB)", source=_BCCD_SOURCE))
for _path, _sha in _BCCD["sha256"].items():
    register(DataFile(name=_path, hash=f"sha256:{_sha}", url=_BCCD_ARCHIVE.url, archive=_BCCD_ARCHIVE.name,
                      member=f"BCCD_Dataset-{_BCCD['commit']}/{_path}",
                      description="BCCD " + _path.split("/")[-2], source=_BCCD_SOURCE))
BCCD_FILES = tuple(_BCCD["sha256"])
"""Every BCCD file (issue #13), named by its path in the source repository."""

_MSD_HIPPOCAMPUS = json.loads(
    importlib.resources.files("medlab").joinpath("msd_hippocampus_registry.json").read_text())
_MSD_ARCHIVE = _MSD_HIPPOCAMPUS["archive"]
register(DataFile(
    name=_MSD_ARCHIVE["name"], hash=f"md5:{_MSD_ARCHIVE['md5']}", url=_MSD_ARCHIVE["url"],
    description="Medical Segmentation Decathlon Task04 (hippocampus) archive, about 28 MB",
    source=_MSD_HIPPOCAMPUS["source"]))
for _n, _sha in _MSD_HIPPOCAMPUS["files"].items():
    register(DataFile(
        name=_n, hash=f"sha256:{_sha}", url=_MSD_ARCHIVE["url"], archive=_MSD_ARCHIVE["name"],
        member=f"{_MSD_ARCHIVE['root']}/{_n}",
        description=("T1 MRI crop around one hippocampus" if _n.startswith("imagesTr/")
                     else "hippocampus labels: 1 anterior, 2 posterior"),
        source=_MSD_HIPPOCAMPUS["source"]))


def _lookup(name: str) -> DataFile:
    if not isinstance(name, str):
        raise TypeError(f"file name must be a string, got {type(name).__name__}")
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"{name!r} is not in medlab's data registry.{hint}")
    return REGISTRY[name]


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | os.PathLike, expected: str) -> bool:
    """Return True when ``path`` exists and matches ``expected`` (``"algo:hex"``)."""
    algo, _, digest = str(expected).partition(":")
    if algo not in ("md5", "sha256") or not digest:
        raise ValueError(f"expected must look like 'md5:<hex>' or 'sha256:<hex>', got {expected!r}")
    return Path(path).is_file() and file_hash(path, algo) == digest.lower()


def data_dirs() -> list[Path]:
    """The folders searched for data, in order: those of ``$MEDLAB_DATA_DIR``, then the download folder.

    ``$MEDLAB_DATA_DIR`` may hold several folders separated by ``os.pathsep``;
    empty entries are ignored. Only the download folder is ever written.

    Raises
    ------
    DataUnavailableError
        A folder listed in ``$MEDLAB_DATA_DIR`` does not exist (it is never created).
    """
    return list(dict.fromkeys([*_offline_dirs(), user_cache_dir()]))


def _offline_dirs() -> list[Path]:
    """The folders of ``$MEDLAB_DATA_DIR``: read, never written; each must exist."""
    env = os.environ.get(DATA_DIR_ENV, "")
    dirs = [Path(d.strip()).expanduser() for d in env.split(os.pathsep) if d.strip()]
    for d in dirs:
        if not d.is_dir():
            raise DataUnavailableError(
                f"{DATA_DIR_ENV} lists {d}, which {'is not a folder' if d.exists() else 'does not exist'}. "
                f"medlab only reads the folders of {DATA_DIR_ENV} and never creates them: correct the "
                f"path (a typo?) or remove it from {DATA_DIR_ENV} (now {env!r}).")
    return list(dict.fromkeys(dirs))


def data_dir() -> Path:
    """The first folder searched (see :func:`data_dirs`)."""
    return data_dirs()[0]


def user_cache_dir() -> Path:
    """The download folder: ``$MEDLAB_DOWNLOAD_DIR``, else the user cache (``~/.cache/medlab`` on Linux)."""
    env = os.environ.get(DOWNLOAD_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("medlab"))


def _writable(directory: Path) -> bool:
    """True if we may write into ``directory``.

    A folder without any write bit counts as read-only even for root (who
    could write to it anyway): such a folder is a shared store of verified
    files that medlab must never modify.
    """
    if directory.exists():
        has_write_bit = bool(directory.stat().st_mode & 0o222)
        return has_write_bit and os.access(directory, os.W_OK | os.X_OK)
    parent = next((p for p in directory.parents if p.exists()), None)
    return parent is not None and os.access(parent, os.W_OK | os.X_OK)


_VERIFIED: dict[tuple[str, int, int, str], bool] = {}


def _verified(path: Path, expected: str) -> bool:
    """Like :func:`verify`, remembering the answer while the file is unchanged."""
    if not path.is_file():
        return False
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, expected)
    if key not in _VERIFIED:
        _VERIFIED[key] = verify(path, expected)
    return _VERIFIED[key]


def _package_path(entry: DataFile) -> Path:
    try:
        path = Path(str(importlib.resources.files(entry.package).joinpath(entry.resource)))
    except ModuleNotFoundError as err:
        pip_name = {"data_store": "pydicom-data", "skimage": "scikit-image"}.get(
            entry.package, entry.package)
        raise DataUnavailableError(
            f"{entry.name} ships with the package {pip_name!r}, which is not installed. "
            f"Install it with: pip install {pip_name}") from err
    if not path.is_file():
        raise DataUnavailableError(
            f"{entry.name} was expected at {path} inside the installed package "
            f"{entry.package!r}, but is not there; reinstall that package.")
    if not _verified(path, entry.hash):
        raise DataIntegrityError(
            f"{entry.name} at {path} does not match its recorded checksum {entry.hash}. "
            f"The installed {entry.package!r} holds a different file than the book was "
            "written for; install the versions in requirements.txt.")
    return path


def fetch(name: str, progressbar: bool = True, retries: int = 2, timeout: float = 60.0) -> Path:
    """Return the local path of a registered file, downloading it if needed.

    Parameters
    ----------
    name
        Registry key, e.g. ``"pneumoniamnist.npz"`` or ``"CT_small.dcm"``.
    progressbar
        Show a tqdm progress bar while downloading.
    retries
        Extra download attempts after a network failure or a bad checksum.
    timeout
        Seconds to wait for the server before giving up on an attempt.

    Returns
    -------
    pathlib.Path
        A file whose checksum has been verified.

    Raises
    ------
    KeyError
        ``name`` is not registered (close names are suggested).
    DataUnavailableError
        The file is not cached and cannot be downloaded (offline, server down,
        missing on the server); the message says where to put it by hand.
    DataIntegrityError
        The downloaded file does not match its checksum (it is deleted).
    """
    entry = _lookup(name)
    if entry.kind == "package":
        return _package_path(entry)
    if entry.hash == MEMBER_CHECKSUMS:
        raise ValueError(f"{entry.name} has no checksum of its own: fetch one of its members instead")
    for folder in data_dirs():
        if _verified(folder / entry.name, entry.hash):
            return folder / entry.name
    damaged = _damaged_offline_copies(entry)
    target = user_cache_dir()
    if not _writable(target):
        raise DataUnavailableError(
            (_damaged_message(entry, damaged) + " " if damaged else "")
            + f"{entry.name} is not in {os.pathsep.join(map(str, data_dirs()))} and the download folder "
            f"{target} is not writable; set {DOWNLOAD_DIR_ENV} to a writable folder.")
    try:
        if entry.kind == "archive":
            return _archive_member(entry, target, progressbar, retries, timeout)
        stale = target / entry.name
        if stale.exists():
            print(f"medlab: {stale} fails its checksum {entry.hash}; deleting it, downloading again.")
            stale.unlink()
        return _download(entry, target, progressbar, retries, timeout)
    except DataError as err:
        if damaged:
            raise type(err)(f"{_damaged_message(entry, damaged)} {err}") from err
        raise


def _damaged_offline_copies(entry: DataFile) -> list[Path]:
    """Copies of ``entry`` in the folders of ``$MEDLAB_DATA_DIR`` that fail its checksum.

    They are left exactly as they are (those folders are only read) and reported with a
    warning that names each one and the fix; the file is then taken from the download folder.
    """
    import warnings

    damaged = []
    for folder in _offline_dirs():
        path = folder / entry.name
        if path.exists() and not _verified(path, entry.hash):
            damaged.append(path)
    if damaged:
        warnings.warn(_damaged_message(entry, damaged), UserWarning, stacklevel=3)
    return damaged


def _damaged_message(entry: DataFile, damaged: list[Path]) -> str:
    where = ", ".join(map(str, damaged))
    return (f"{where} fails the checksum of {entry.name} ({entry.hash}): it is damaged or a different "
            f"file, and was left as it is ({DATA_DIR_ENV} folders are only read). Fix: replace it with a "
            f"good copy (its collection's README gives the source and checksums), or remove its folder "
            f"from {DATA_DIR_ENV}; meanwhile medlab uses the download folder {user_cache_dir()}.")


def _download(entry: DataFile, target: Path, progressbar: bool, retries: int,
              timeout: float, by_hand: str | None = None) -> Path:
    import pooch
    import requests

    known = None if entry.hash == MEMBER_CHECKSUMS else entry.hash
    registry = pooch.create(path=target, base_url="", registry={entry.name: known},
                            urls={entry.name: entry.url}, retry_if_failed=retries)
    downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=timeout)
    by_hand = by_hand or (f"Download it by hand from {entry.url} and save it as {target / entry.name} "
                          f"(checksum {entry.hash}), or set {DATA_DIR_ENV} to a folder that holds it.")
    try:
        return Path(registry.fetch(entry.name, downloader=downloader))
    except ValueError as err:
        raise DataIntegrityError(
            f"{entry.name} downloaded from {entry.url} does not match its checksum "
            f"{entry.hash}; the download was discarded. {by_hand}") from err
    except (requests.exceptions.RequestException, OSError) as err:
        raise DataUnavailableError(
            f"{entry.name} is not in {target} and could not be downloaded from {entry.url} "
            f"({type(err).__name__}: {err}). {by_hand}") from err


def _unpacked_dir(archive: DataFile, target: Path) -> Path:
    return target / (archive.name.removesuffix(".tar") + ".unpacked")


def _unpacked_member(entry: DataFile, target: Path) -> tuple[Path, bool] | None:
    """The unpacked copy of an archive member under ``target`` (None if there is none), and
    whether it matches the manifest written when its MD5-verified archive was unpacked."""
    archive = _lookup(entry.archive)
    folder = _unpacked_dir(archive, target)
    manifest, path = folder / "MANIFEST.json", folder / entry.member
    if not manifest.is_file() or not path.exists():
        return None
    info = json.loads(manifest.read_text())
    digest = info.get("files", {}).get(entry.member)
    return path, bool(info.get("archive_hash") == archive.hash and digest
                      and _verified(path, f"sha256:{digest}"))


def _archive_member(entry: DataFile, target: Path, progressbar: bool, retries: int,
                    timeout: float) -> Path:
    """Return an archive member, unpacking the (MD5-verified) archive into ``target`` once.

    The archive is fetched like any download (checked against its MD5, which
    is the checksum its publisher gives), then every registered member of it
    is extracted into ``<target>/<archive>.unpacked/`` together with a
    ``MANIFEST.json`` holding each extracted file's SHA-256, and the archive
    is deleted. Later calls check the file against that manifest. (The
    SHA-256 recorded in the registry is that of the offline copy of the files,
    which is not proven byte-identical to the archive's members; the archive's
    MD5 is what vouches for them here.)
    """
    archive = _lookup(entry.archive)
    if archive.hash == MEMBER_CHECKSUMS:
        return _verified_members(entry, archive, target, progressbar, retries, timeout)
    found = _unpacked_member(entry, target)
    if found is not None and found[1]:
        return found[0]
    _unpack(archive, target, fetch(archive.name, progressbar, retries, timeout))
    path = _unpacked_dir(archive, target) / entry.member
    if not path.is_file():
        raise DataIntegrityError(f"{entry.member} is not in the archive {archive.name} ({archive.url})")
    return path


def _by_hand_archive(archive: DataFile, target: Path) -> str:
    root = next(e.member.split("/")[0] for e in REGISTRY.values() if e.archive == archive.name)
    return (f"By hand: download {archive.url} (one file), unpack it with `tar xzf {archive.name}` and "
            f"add the folder it creates, {root}, to {DATA_DIR_ENV} (or move its contents into {target}).")


def _registered_members(archive: DataFile, tar_path: Path, out_path: Callable[[str, DataFile], Path]
                        ) -> Iterator[tuple[str, DataFile, Path]]:
    """Extract the registered members of ``archive`` from ``tar_path``, one at a time: copy each to
    ``out_path(member name, its entry)`` and yield ``(member name, entry, path written)``.

    The one extraction loop of the two archive kinds (the BCCD archive, checked member by member,
    and the hippocampus archive, checked as a whole). Members that are not registered are skipped
    and never written; a registered member that is not a regular file (a link, a device) is refused.
    Damage of the archive itself raises what ``tarfile``/``zlib`` raise: the callers word it.
    """
    import shutil
    import tarfile

    members = {e.member: e for e in REGISTRY.values() if e.archive == archive.name}
    with tarfile.open(tar_path) as tar:
        for info in tar:
            name = info.name.removeprefix("./")
            if name not in members:
                continue
            if not info.isfile():
                raise DataIntegrityError(f"{archive.name}: member {info.name} is not a regular file")
            out = out_path(name, members[name])
            out.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
            yield name, members[name], out


def _verified_members(entry: DataFile, archive: DataFile, target: Path, progressbar: bool,
                      retries: int, timeout: float) -> Path:
    """Download an archive without a checksum of its own once; keep every registered member that
    matches its own SHA-256, under its registry name in ``target``; refuse the lot if one does not.

    The BCCD repository's archive at the pinned commit (chapter *Object detection*): one download
    instead of one per file. The archive is deleted once unpacked.
    """
    import shutil
    import tarfile
    import zlib  # a truncated gzip stream raises zlib.error or EOFError, depending on where it ends

    by_hand = _by_hand_archive(archive, target)
    members = {e.member: e for e in REGISTRY.values() if e.archive == archive.name}
    tmp = target / (archive.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tar_path = _download(archive, tmp, progressbar, retries, timeout, by_hand)
        extracted, damaged = {}, []
        try:
            for name, member, out in _registered_members(archive, tar_path,
                                                         lambda _, m: tmp / "files" / m.name):
                if verify(out, member.hash):
                    extracted[member.name] = out
                else:
                    damaged.append(name)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
            raise DataIntegrityError(f"{archive.name} from {archive.url} is damaged or truncated "
                                     f"({type(err).__name__}: {err}); it was discarded. {by_hand}") from err
        if damaged:
            raise DataIntegrityError(
                f"{len(damaged)} member(s) of {archive.name} from {archive.url} do not match their "
                f"SHA-256, e.g. {damaged[0]}; nothing was kept. {by_hand}")
        missing = sorted(m for m in members if members[m].name not in extracted)
        if missing:
            raise DataIntegrityError(f"{archive.name} from {archive.url} lacks {len(missing)} registered "
                                     f"files, e.g. {missing[0]}; nothing was kept. {by_hand}")
        for name, path in extracted.items():
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / entry.name


def _unpack(archive: DataFile, target: Path, tar_path: Path) -> None:
    """Extract every registered member of ``archive`` and write the manifest; delete the archive."""
    import shutil
    import tarfile
    import zlib

    members = {e.member: e for e in REGISTRY.values() if e.archive == archive.name}
    folder = _unpacked_dir(archive, target)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    digests = {}
    name = None
    try:
        for name, _, out in _registered_members(archive, tar_path, lambda n, _: tmp / n):
            digests[name] = file_hash(out)
    except (tarfile.TarError, EOFError, zlib.error) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        where = f"after member {name}" if name else "at its start"
        raise DataIntegrityError(
            f"the archive {tar_path} is damaged {where} ({type(err).__name__}: {err}): its members "
            f"cannot be extracted. This is not a download problem: delete {tar_path} (or replace it "
            f"with a good copy of {archive.url}) and fetch again.") from err
    missing = sorted(set(members) - set(digests))
    if missing:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataIntegrityError(f"{archive.name} lacks {len(missing)} registered files, e.g. {missing[0]}")
    (tmp / "MANIFEST.json").write_text(json.dumps(
        {"archive": archive.name, "archive_hash": archive.hash, "files": digests}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    if tar_path.parent == target:
        tar_path.unlink()


def medmnist_info(name: str) -> dict:
    """Official metadata of one MedMNIST dataset (task, labels, split sizes, licence)."""
    key = name.lower().removesuffix(".npz")
    if key not in _MEDMNIST:
        close = difflib.get_close_matches(key, _MEDMNIST, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"{name!r} is not a MedMNIST dataset.{hint} Known: {sorted(_MEDMNIST)}")
    return _MEDMNIST[key]


def load_medmnist(name: str, size: int = 28) -> dict[str, np.ndarray]:
    """Load one MedMNIST dataset as a dict of NumPy arrays.

    Parameters
    ----------
    name
        Dataset name, e.g. ``"pneumoniamnist"``.
    size
        Image size in pixels: 28 (the original) or 64, 128, 224 (MedMNIST+).

    Returns
    -------
    dict
        ``train_images``, ``train_labels``, ``val_images``, ``val_labels``,
        ``test_images``, ``test_labels`` (``uint8``), after checking each
        split's length against the official metadata.
    """
    info = medmnist_info(name)
    files = info["files"]
    if str(size) not in files:
        raise ValueError(f"{name} comes in sizes {sorted(map(int, files))}, not {size!r}")
    return _read_medmnist(fetch(files[str(size)]["name"]), name, info, check_sizes=True)


def read_medmnist_file(path: str | os.PathLike, name: str, *,
                       check_sizes: bool = False) -> dict[str, np.ndarray]:
    """Read a ``.npz`` file with MedMNIST's layout and check it against the dataset's metadata.

    Used by :func:`load_medmnist`, and in the chapter *Applications* for a file
    copied by hand (DermaMNIST is not among the book's offline files). The
    file must hold ``{train,val,test}_{images,labels}``; each split's images
    and labels must have the same number of rows, the images ``uint8`` with the
    dataset's number of channels, the labels integers within its classes.

    Parameters
    ----------
    path
        The ``.npz`` file.
    name
        The MedMNIST dataset it claims to be (e.g. ``"dermamnist"``).
    check_sizes
        Also require the official number of rows in every split.
    """
    return _read_medmnist(path, name, medmnist_info(name), check_sizes=check_sizes)


def _read_medmnist(path: str | os.PathLike, name: str, info: dict, *,
                   check_sizes: bool) -> dict[str, np.ndarray]:
    """:func:`read_medmnist_file` with the dataset's metadata already looked up."""
    import zipfile
    import zlib

    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}  # reads every member in full: zip's CRC checked
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as err:
        raise DataIntegrityError(f"{path}: not a whole .npz file ({type(err).__name__}: {err}); "
                                 "copy or download it again") from err
    missing = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels") if f"{s}_{k}" not in arrays]
    if missing:
        raise DataIntegrityError(f"{path}: not a MedMNIST file, missing {missing}")
    n_classes, channels = len(info["labels"]), info["n_channels"]
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise DataIntegrityError(f"{path}: {split} has {images.shape[0]} images but "
                                     f"{labels.shape[0]} labels")
        if check_sizes and images.shape[0] != info["n_samples"][split]:
            raise DataIntegrityError(f"{path}: {split}_images has {images.shape[0]} rows, expected "
                                     f"{info['n_samples'][split]}")
        extra_axis = channels == 3 or "3d" in name.lower()  # a channel or a depth axis
        if images.dtype != np.uint8 or (channels == 3 and images.shape[-1] != 3) or \
                images.ndim != 3 + extra_axis:
            raise DataIntegrityError(f"{path}: {split}_images should be uint8 with {channels} "
                                     f"channel(s), got {images.dtype} {images.shape}")
        if labels.size and info["task"] != "multi-label" and (labels.min() < 0 or labels.max() >= n_classes):
            raise DataIntegrityError(f"{path}: {split}_labels outside 0..{n_classes - 1}")
    return arrays


MNI152_FILES = ("mni152_t1.nii.gz", "mni152_gm.nii.gz", "mni152_wm.nii.gz")
"""Registry names of the MNI152 2009a T1 template and its grey- and white-matter maps."""


def load_mni152() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MNI152 2009a template: T1, grey-matter and white-matter maps, scaled to [0, 1].

    Used by the chapter *U-Net: segmentation shape by shape* (chapters/unet.ipynb), which reads
    the same three files in the open first. All three are stored as ``uint8`` 0-255 (nilearn's
    copies, checked against their SHA-256 by :func:`fetch`); each is divided by 255.

    Returns
    -------
    (t1, gm, wm)
        ``float32`` arrays of shape 197 x 233 x 189, indexed ``[x, y, z]`` as nibabel returns
        them (1 mm voxels).
    """
    import nibabel as nib

    out = []
    for name in MNI152_FILES:
        out.append(np.asarray(nib.load(fetch(name)).dataobj, dtype=np.float32) / 255.0)
    return out[0], out[1], out[2]


BCCD_SPLITS = ("train", "val", "test", "trainval")
"""The official splits of BCCD (``ImageSets/Main/<split>.txt``)."""


def bccd_ids(split: str) -> list[str]:
    """Image ids (``BloodImage_NNNNN``) of an official BCCD split: train, val, test or trainval."""
    from medlab.validate import check_one_of

    check_one_of(split, "split", BCCD_SPLITS)
    path = fetch(f"BCCD/ImageSets/Main/{split}.txt")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_bccd(split: str, *, scale: float = 1.0, images: bool = True) -> dict[str, Any]:
    """Load an official BCCD split (every file checksum-verified by :func:`fetch`).

    Used by the chapter *Finding blood cells: object detection* (chapters/detection.ipynb), which
    parses one annotation in the open first (:func:`medlab.detection.parse_voc_xml`).

    Parameters
    ----------
    split
        ``"train"`` (205 images), ``"val"`` (87), ``"test"`` (72) or ``"trainval"``.
    scale
        Resize factor for the images (0.25 gives 160 x 120); boxes are **not** rescaled: they
        stay in the original 640 x 480 pixel coordinates, where evaluation happens.
    images
        Read the JPEGs (else only the annotations).

    Returns
    -------
    dict
        ``ids`` (list), ``images`` (uint8 (n, h, w, 3), or None without ``images``), ``boxes``
        (list of (k, 4) ``xyxy`` arrays), ``labels`` (list of int arrays indexing
        :data:`medlab.detection.CLASSES`) and ``gt``, the ground truth as
        ``{id: {"boxes", "labels"}}`` for :func:`medlab.detection.evaluate`.
    """
    from medlab.detection import CLASSES, parse_voc_xml, read_rgb
    from medlab.validate import check_number

    check_number(scale, "scale", low=0, high=1, low_open=True)
    ids = bccd_ids(split)
    boxes, labels, imgs = [], [], []
    for i in ids:
        ann = parse_voc_xml(fetch(f"BCCD/Annotations/{i}.xml"))
        unknown = sorted(set(ann["names"]) - set(CLASSES))
        if unknown:
            raise DataIntegrityError(f"BCCD/Annotations/{i}.xml: class(es) {unknown} are not among {CLASSES}")
        boxes.append(ann["boxes"])
        labels.append(np.array([CLASSES.index(n) for n in ann["names"]], np.int64))
        if images:
            imgs.append(read_rgb(fetch(f"BCCD/JPEGImages/{i}.jpg"), scale))
    gt = {i: {"boxes": b, "labels": lab} for i, b, lab in zip(ids, boxes, labels, strict=True)}
    return {"ids": ids, "images": np.stack(imgs) if images else None, "boxes": boxes,
            "labels": labels, "gt": gt}


HIPPOCAMPUS_CASES: tuple[int, ...] = tuple(sorted(
    int(name.split("_")[-1].split(".")[0])
    for name in _MSD_HIPPOCAMPUS["files"] if name.startswith("imagesTr/")))
"""The 260 case numbers of the Decathlon's hippocampus task (1 to 394, with gaps, its own numbering)."""


def hippocampus_files(case_id: int) -> tuple[str, str]:
    """Registry names of one hippocampus case's image and label volume."""
    if isinstance(case_id, bool) or case_id not in HIPPOCAMPUS_CASES:
        raise KeyError(f"hippocampus case {case_id!r} does not exist; valid ids run from "
                       f"{HIPPOCAMPUS_CASES[0]} to {HIPPOCAMPUS_CASES[-1]} with gaps "
                       "(see medlab.data.HIPPOCAMPUS_CASES)")
    return (f"imagesTr/hippocampus_{case_id:03d}.nii.gz", f"labelsTr/hippocampus_{case_id:03d}.nii.gz")


@dataclass(frozen=True)
class HippocampusCase:
    """One case of the Decathlon's hippocampus task: a crop around one hippocampus and its labels.

    Attributes
    ----------
    case_id
        Decathlon case number.
    image
        MR intensities as float32 ``[x, y, z]`` (arbitrary units, as stored).
    label
        uint8 ``[x, y, z]`` with 0 background, 1 anterior, 2 posterior.
    spacing
        Voxel size in mm along ``x, y, z``.
    stored_dtype
        The image's data type in the file (``float32`` or ``uint8``).
    """

    case_id: int
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float]
    stored_dtype: str


def _hippocampus_case(case_id: int) -> HippocampusCase:
    import nibabel as nib

    img_name, lab_name = hippocampus_files(case_id)
    img, lab = nib.load(fetch(img_name)), nib.load(fetch(lab_name))
    if img.shape != lab.shape or not np.allclose(img.affine, lab.affine):
        raise DataIntegrityError(f"hippocampus case {case_id}: image {img.shape} and label {lab.shape} "
                                 "do not share a grid")
    image = np.asarray(img.dataobj, dtype=np.float32)
    raw = np.asarray(lab.dataobj)
    if not np.array_equal(raw, np.round(raw)) or not np.isin(raw, (0, 1, 2)).all():
        raise DataIntegrityError(f"hippocampus case {case_id}: label values {np.unique(raw)} are not a "
                                 "subset of {0, 1, 2}")
    spacing = tuple(float(z) for z in img.header.get_zooms()[:3])
    return HippocampusCase(case_id, image, raw.astype(np.uint8), spacing, str(img.get_data_dtype()))


def load_hippocampus(case_ids: Iterable[int] | None = None) -> dict[int, HippocampusCase]:
    """Load hippocampus cases of the Medical Segmentation Decathlon (Task04), keyed by case id.

    The Decathlon's Task04 (Simpson et al. 2019) holds 260 T1-weighted MRI crops around one
    hippocampus, each with a label volume: 0 background, 1 anterior (head), 2 posterior (body and
    tail). Each image is read through :func:`fetch` (checksum-verified) and converted to float32
    whatever its stored type; each label is checked to share the image's grid and to hold whole
    numbers in {0, 1, 2}, then stored as uint8. Used by the chapter *Segmentation in 3D: the
    hippocampus* (chapters/hippocampus.ipynb) and, for one example slice, *Finding blood cells*.

    Parameters
    ----------
    case_ids
        Case numbers from :data:`HIPPOCAMPUS_CASES` (all 260 when None).
    """
    if isinstance(case_ids, (int, np.integer)):
        raise TypeError(f"case_ids must be a list of case numbers, got the single number {case_ids}; "
                        f"write load_hippocampus([{case_ids}])")
    ids = HIPPOCAMPUS_CASES if case_ids is None else list(case_ids)
    for c in ids:
        hippocampus_files(c)  # refuses unknown ids before any file is read
    return {int(c): _hippocampus_case(int(c)) for c in ids}


def status() -> list[dict[str, str]]:
    """Where each registered file is and whether it verifies (no downloads)."""
    rows = []
    for entry in REGISTRY.values():
        if entry.kind == "package":
            try:
                where, state = str(_package_path(entry)), "verified"
            except DataError as err:
                where, state = "-", str(err)
        elif entry.hash == MEMBER_CHECKSUMS:
            where, state = "-", "archive: its members are checked"
        else:
            where, state = "-", "not downloaded"
            for d in data_dirs():
                if (d / entry.name).exists():
                    path, ok = d / entry.name, _verified(d / entry.name, entry.hash)
                elif entry.kind == "archive" and (found := _unpacked_member(entry, d)):
                    path, ok = found  # where fetch() unpacked the downloaded archive
                else:
                    continue
                where, state = str(path), "verified" if ok else "CORRUPT"
                break
        rows.append({"name": entry.name, "kind": entry.kind, "where": where, "state": state})
    return rows


BOOK_FILES = (
    "pneumoniamnist.npz", "breastmnist.npz", "retinamnist.npz",
    *(n for n, *_ in _PACKAGE_FILES),
)
"""Every file the chapters of the book read."""
