#!/usr/bin/env python
"""Serve the book's JavaScript (MathJax, require.js, the ipywidgets HTML manager) from the site itself.

Usage::

    python -m tools.static_assets           # download once (npm registry), verify, unpack
    python -m tools.static_assets --check   # only verify what is unpacked; exit 1 if not complete

Without these files a page loads MathJax and the widget scripts from CDNs, so a reader without
internet sees every formula as raw LaTeX (issue #28). ``scripts/build.sh`` and ``scripts/test.sh``
run this tool before building. It unpacks into ``_assets/_static/vendor/<package>-<version>/``;
``_assets`` is the book's ``html_extra_path`` (``_config.yml``), so Sphinx copies it into the site
as ``_static/vendor/...``, where ``mathjax_path`` and myst-nb's ``nb_ipywidgets_js`` point. (Not
the book's ``_static`` folder: Jupyter Book 1 adds every ``.js`` file under ``_static`` to every
page.) A book built without running the tool fails with ``-W``: the ``html_extra_path`` entry is
missing.

Each package is the npm registry's tarball of a pinned version, checked against the SHA-512 that
the registry publishes as its ``dist.integrity`` (``npm view <package>@<version> dist.integrity``,
base64; written here in hex). Tarballs are kept in ``$MEDLAB_ASSETS_DIR`` or the user cache
(``~/.cache/medlab/assets`` on Linux), so later builds need no network; offline, copy the three
tarballs into that folder. Only the files the pages use are unpacked (about 15 MB), each listed
with its SHA-256 in ``<package>-<version>/MANIFEST.json``; ``--check`` re-hashes them.

The files are not committed: they are large (MathJax's fonts and extensions alone are 8 MB)
and would be a second copy of what the registry keeps, pinned here by hash. Licences: MathJax
Apache-2.0, require.js MIT, @jupyter-widgets/html-manager BSD-3-Clause (its bundled libraries'
licences are in ``embed.js.LICENSE.txt``); all three allow redistribution with the site.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS_DIR = ROOT / "_assets"
"""``html_extra_path`` of the book (``_config.yml``): its contents are copied into the built site."""
VENDOR = ASSETS_DIR / "_static" / "vendor"
"""Unpacked packages; in the site they are ``_static/vendor/<package>-<version>/``."""
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Asset:
    """One npm package: pinned version, registry SHA-512, and which of its files the site serves."""

    package: str
    version: str
    sha512: str
    licence: str
    keep: tuple[str, ...]  # glob patterns relative to the tarball's ``package/`` folder

    @property
    def folder(self) -> str:
        """Folder under ``_static/vendor`` (the version in the name, so browsers never mix two)."""
        return f"{self.package.rsplit('/', 1)[-1]}-{self.version}"

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.package}/-/{self.package.rsplit('/', 1)[-1]}-{self.version}.tgz"


ASSETS = (
    # MathJax 3 (the last 3.x), the combined TeX/MathML input + CommonHTML output that Sphinx's
    # default URL names (mathjax@3/es5/tex-mml-chtml.js), plus what it loads on demand: TeX
    # extensions (autoload), the CHTML fonts, the accessibility menu and speech rules.
    Asset("mathjax", "3.2.2",
          "06df9249553c7811b6ef30a155ec0e89c62ced7b1db78d2a9b8f94a47c97ee4d"
          "3f3bd36588f73ec7bee4d7f144b0fb2328f64626fb5164cd6f3be81e5b43a11b",
          "Apache-2.0",
          ("LICENSE", "es5/tex-mml-chtml.js", "es5/input/*", "es5/output/chtml.js", "es5/output/chtml/*",
           "es5/a11y/*", "es5/ui/*", "es5/sre/*", "es5/adaptors/*")),
    # RequireJS, which the AMD build of the widget manager needs (myst-nb's default is 2.3.4
    # from cdnjs; 2.3.8 is the newest on npm).
    Asset("requirejs", "2.3.8",
          "eff71348b39d6243413497033167fe96e16f32b8959bb798c69e017050ac017d"
          "30178db557271ee525cfd7b73e25de68b5728635e848a27165c905d2a302fa33",
          "MIT", ("require.js",)),
    # The widget manager for pages without a kernel. ipywidgets 8.1 asks for ^1.0.1
    # (ipywidgets._version.__html_manager_version__); 1.0.15 is built on @jupyter-widgets/base 6.0.12
    # and controls 5.0.13, the versions of jupyterlab_widgets 3.0.17 in requirements.lock. Its
    # icon fonts sit beside embed-amd.js, which finds them through its own URL.
    Asset("@jupyter-widgets/html-manager", "1.0.15",
          "e6d841215eb298d8263d5387bf3c7e806cbc6522a649ace1b46c38fdce312435"
          "734611bd3d3790b118c5dc5513a29bc58bffd200178dcf5ca9e3b6c2ac9dc240",
          "BSD-3-Clause",
          ("dist/embed-amd.js", "dist/embed.js.LICENSE.txt", "dist/*.woff2", "dist/*.woff", "dist/*.ttf",
           "dist/*.eot", "dist/*.svg")),
)


def cache_dir() -> Path:
    """Where the tarballs are kept: ``$MEDLAB_ASSETS_DIR`` or the user cache."""
    value = os.environ.get("MEDLAB_ASSETS_DIR", "").strip()
    if value:
        return Path(value).expanduser()
    import pooch

    return Path(pooch.os_cache("medlab")) / "assets"


def _sha(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tarball(asset: Asset, cache: Path | None = None) -> Path:
    """The asset's npm tarball, downloaded once into ``cache`` and always checked by its SHA-512."""
    import pooch

    cache = cache or cache_dir()
    name = asset.url.rsplit("/", 1)[-1]
    path = cache / name
    if path.is_file() and _sha(path, "sha512") == asset.sha512:
        return path  # offline-safe: no request at all
    try:
        return Path(pooch.retrieve(asset.url, known_hash=f"sha512:{asset.sha512}", fname=name,
                                   path=cache, progressbar=False))
    except ValueError as err:  # pooch: hash mismatch
        raise RuntimeError(f"{name}: the download does not match the pinned SHA-512: {err}") from err
    except OSError as err:
        raise RuntimeError(f"{name} is not in {cache} and could not be downloaded from {asset.url} "
                           f"({err}); offline, copy the tarball into that folder "
                           "(or set MEDLAB_ASSETS_DIR)") from err


def _wanted(asset: Asset, member: tarfile.TarInfo) -> str | None:
    """Path of ``member`` below ``package/`` if the site needs it (regular files only), else None."""
    if not member.isfile() or not member.name.startswith("package/"):
        return None
    rel = member.name[len("package/"):]
    parts = Path(rel).parts
    if not parts or ".." in parts or Path(rel).is_absolute():
        return None
    return rel if any(fnmatch.fnmatch(rel, pattern) for pattern in asset.keep) else None


def unpack(asset: Asset, archive: Path, vendor: Path = VENDOR) -> Path:
    """Unpack the kept files of ``archive`` into ``vendor/<folder>`` with a manifest of SHA-256s."""
    target = vendor / asset.folder
    tmp = vendor / f".{asset.folder}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    files: dict[str, str] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            rel = _wanted(asset, member)
            if rel is None:
                continue
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            files[rel] = _sha(dest, "sha256")
    missing = [p for p in asset.keep if "*" not in p and p not in files]
    if missing or not files:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"{archive.name} lacks {missing or asset.keep}")
    manifest = {"package": asset.package, "version": asset.version, "licence": asset.licence,
                "source": asset.url, "sha512": asset.sha512, "files": dict(sorted(files.items()))}
    (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def check(asset: Asset, vendor: Path = VENDOR) -> list[str]:
    """Problems with the unpacked copy of ``asset`` (empty when every file is there and intact)."""
    manifest_path = vendor / asset.folder / "MANIFEST.json"
    if not manifest_path.is_file():
        return [f"{asset.folder}: not unpacked (run python -m tools.static_assets)"]
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("sha512") != asset.sha512:
        return [f"{asset.folder}: unpacked from another tarball than the pinned one"]
    problems = []
    for rel, sha in manifest["files"].items():
        path = vendor / asset.folder / rel
        if not path.is_file():
            problems.append(f"{asset.folder}/{rel}: missing")
        elif _sha(path, "sha256") != sha:
            problems.append(f"{asset.folder}/{rel}: changed since it was unpacked")
    return problems


def ensure(vendor: Path = VENDOR, cache: Path | None = None) -> list[Path]:
    """Unpack every asset that is missing or damaged; remove folders of other versions."""
    vendor.mkdir(parents=True, exist_ok=True)
    folders = []
    for asset in ASSETS:
        if check(asset, vendor):
            unpack(asset, tarball(asset, cache), vendor)
            if problems := check(asset, vendor):
                raise RuntimeError("; ".join(problems))
        folders.append(vendor / asset.folder)
    for old in vendor.iterdir():
        if old.is_dir() and old not in folders:
            shutil.rmtree(old)
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the unpacked files")
    args = parser.parse_args(argv)
    if args.check:
        problems = [p for asset in ASSETS for p in check(asset)]
        for p in problems:
            print(f"FAILED  {p}")
        if not problems:
            print(f"verified {', '.join(a.folder for a in ASSETS)} in {VENDOR}")
        return 1 if problems else 0
    try:
        folders = ensure()
    except RuntimeError as err:
        print(f"FAILED  {err}", file=sys.stderr)
        return 1
    for folder in folders:
        n = len(json.loads((folder / "MANIFEST.json").read_text())["files"])
        print(f"verified  {folder.relative_to(ROOT)} ({n} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
