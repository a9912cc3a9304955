"""One way for the tests to build a tar archive in memory (data downloads, archives, read-only folders)."""

from __future__ import annotations

import io
import tarfile


def tar_bytes(files: dict[str, bytes], *, gzip: bool = True) -> bytes:
    """A tar archive (gzip-compressed unless ``gzip=False``) holding ``files`` as regular files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gzip else "w") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()
