"""tools/static_assets.py: pinned npm tarballs, checked by SHA-512, unpacked for the site (issue #28).

No network: tarballs are built here and served from 127.0.0.1 (the ``http_server`` fixture).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
from tools import static_assets as sa


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("package/dist/link.js")  # not a regular file: never unpacked
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return buf.getvalue()


@pytest.fixture
def fake(http_server, monkeypatch, tmp_path):
    """A pinned fake package on a local 'registry'; returns (asset, vendor folder, cache folder)."""
    base, folder = http_server
    data = _tarball({"package/dist/embed-amd.js": b"define('x', [], () => 1);",
                     "package/dist/font.woff2": b"font", "package/dist/embed.js.map": b"{}",
                     "package/../evil.js": b"escape", "package/README.md": b"readme"})
    (folder / "fake").mkdir()
    (folder / "fake" / "-").mkdir()
    (folder / "fake" / "-" / "fake-1.0.0.tgz").write_bytes(data)
    monkeypatch.setattr(sa, "REGISTRY", base)
    asset = sa.Asset("fake", "1.0.0", hashlib.sha512(data).hexdigest(), "MIT",
                     ("dist/embed-amd.js", "dist/*.woff2"))
    return asset, tmp_path / "vendor", tmp_path / "cache"


def test_download_verify_unpack_and_check(fake):
    asset, vendor, cache = fake
    archive = sa.tarball(asset, cache)
    target = sa.unpack(asset, archive, vendor)
    assert target == vendor / "fake-1.0.0"
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["MANIFEST.json", "dist/embed-amd.js", "dist/font.woff2"]  # only what the site uses
    assert not (vendor / "evil.js").exists() and not (vendor.parent / "evil.js").exists()
    manifest = json.loads((target / "MANIFEST.json").read_text())
    assert manifest["sha512"] == asset.sha512 and manifest["licence"] == "MIT"
    assert sa.check(asset, vendor) == []
    (target / "dist" / "embed-amd.js").write_text("tampered")
    assert sa.check(asset, vendor) == ["fake-1.0.0/dist/embed-amd.js: changed since it was unpacked"]
    (target / "dist" / "font.woff2").unlink()
    assert "fake-1.0.0/dist/font.woff2: missing" in sa.check(asset, vendor)


def test_cached_tarball_needs_no_network(fake, monkeypatch):
    asset, vendor, cache = fake
    sa.tarball(asset, cache)
    monkeypatch.setattr(sa, "REGISTRY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(sa, "ASSETS", (dataclasses.replace(asset),))
    assert sa.ensure(vendor, cache) == [vendor / "fake-1.0.0"]
    (vendor / "old-0.9").mkdir()  # a previous version's folder is removed
    sa.ensure(vendor, cache)
    assert sorted(p.name for p in vendor.iterdir()) == ["fake-1.0.0"]


def test_wrong_hash_is_refused(fake):
    asset, vendor, cache = fake
    bad = dataclasses.replace(asset, sha512="0" * 128)
    with pytest.raises(RuntimeError, match="SHA-512"):
        sa.tarball(bad, cache)
    assert not (cache / "fake-1.0.0.tgz").exists()  # nothing kept that failed the check


def test_unreachable_registry_says_what_to_do(fake, monkeypatch):
    asset, vendor, cache = fake
    monkeypatch.setattr(sa, "REGISTRY", "http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="MEDLAB_ASSETS_DIR"):
        sa.tarball(asset, cache)


def test_missing_pinned_file_is_an_error(fake):
    asset, vendor, cache = fake
    asset = dataclasses.replace(asset, keep=("dist/embed-amd.js", "dist/not-there.js"))
    with pytest.raises(RuntimeError, match="not-there.js"):
        sa.unpack(asset, sa.tarball(asset, cache), vendor)


def test_config_points_at_the_pinned_assets():
    """_config.yml names the same versions and files as the tool (one definition of each)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert config["html_extra_path"] == ["_assets"] and sa.VENDOR == ROOT / "_assets" / "_static" / "vendor"
    folders = {a.package.rsplit("/", 1)[-1]: a.folder for a in sa.ASSETS}
    paths = [config["mathjax_path"], *(p for p in config["nb_ipywidgets_js"] if p)]
    assert paths == [f"vendor/{folders['mathjax']}/es5/tex-mml-chtml.js",
                     f"vendor/{folders['requirejs']}/require.js",
                     f"vendor/{folders['html-manager']}/dist/embed-amd.js"]
    for path in paths:  # each is a file the tool keeps
        folder, rel = path.split("/", 2)[1:]
        asset = next(a for a in sa.ASSETS if a.folder == folder)
        assert rel in asset.keep
    body = config["nb_ipywidgets_js"][""]["body"]
    assert f"_static/vendor/{folders['html-manager']}/dist" in body
    for asset in sa.ASSETS:
        assert re.fullmatch(r"[0-9a-f]{128}", asset.sha512) and asset.url.startswith("https://registry.npmjs.org/")
