"""The book's ``_config.yml`` for a build made from another folder (the student book, test builds).

Two settings of the configuration name folders relative to the book: ``html_extra_path`` (the
offline MathJax and widget scripts, ``tools.static_assets``) and ``local_extensions`` (the Sphinx
extensions in ``_ext/``). A copy of the configuration in another folder needs them absolute, or the
build fails (an extension that cannot be imported) or serves pages without their scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def portable_config() -> dict[str, Any]:
    """The book's configuration with its folder-relative paths made absolute (see the module doc)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config.setdefault("sphinx", {})
    conf = sphinx.setdefault("config", {})
    if "html_extra_path" in conf:
        conf["html_extra_path"] = [str(ROOT / p) for p in conf["html_extra_path"]]
    if sphinx.get("local_extensions"):
        sphinx["local_extensions"] = {name: str(ROOT / path) for name, path
                                      in sphinx["local_extensions"].items()}
    return config
