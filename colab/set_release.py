"""Set the book's repository URL and release in one command (issue #29).

The one value lives in ``_config.yml`` (``repository.url`` and ``repository.branch``: the branch,
tag or commit that the launch buttons open and that every chapter's setup cell installs medlab
from). This script writes it there, rewrites the Colab block of every chapter's setup cell to
match, and the launch links and setup line shown in README.md and CONTRIBUTING.md; the launch
buttons and Binder take it from ``_config.yml`` (``binder/`` names no release);
``tests/test_colab.py`` fails when they disagree. To publish the book::

    python colab/set_release.py --url https://github.com/OWNER/REPO --ref v0.1.0

(then tag that release in the repository, or give a commit as ``--ref``). Without arguments it
only rewrites the setup cells from ``_config.yml``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"

SETUP_BLOCK = '''# Setup, the same in every chapter. On Colab it installs the book's package.
import sys

if "google.colab" in sys.modules:  # see the README, "Google Colab"
    from importlib.metadata import distributions

    before = {{d.metadata["Name"]: d.version for d in distributions()}}
    %pip install --quiet "medlab[book] @ git+{url}@{ref}"
    from medlab.env import colab_after_install

    # what pip changed; a restart if needed; Drive for downloads
    colab_after_install(before)
'''
"""The Colab block that opens every chapter's first code cell."""

SETUP_TAG = "book-setup"
"""The setup cell's tag: the page wraps its long install line (``_static/book.css``)."""


def read_release(text: str | None = None) -> tuple[str, str]:
    """``(url, ref)`` from ``_config.yml``'s ``repository`` section."""
    text = CONFIG.read_text() if text is None else text
    section = re.search(r"^repository:\n((?:[ \t]+.*\n?)+)", text, re.M)
    if not section:
        raise ValueError("_config.yml has no repository section")
    values = dict(re.findall(r"^[ \t]+(\w+):[ \t]*(\S*)", section.group(1), re.M))
    return values["url"], values["branch"]


DOCS = ("README.md", "CONTRIBUTING.md")
"""Pages that show the release's URLs (the launch links, the setup cell): rewritten with it."""


def _release_strings(url: str, ref: str) -> list[str]:
    """The forms in which the documents spell a release, longest first."""
    owner_repo = url.removeprefix("https://github.com/")
    return [f"https://colab.research.google.com/github/{owner_repo}/blob/{ref}/",
            f"https://mybinder.org/v2/gh/{owner_repo}/{ref}", f"git+{url}@{ref}"]


def write_release(url: str, ref: str) -> None:
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"--url must look like https://github.com/OWNER/REPO, got {url!r}")
    if not re.fullmatch(r"[\w./-]+", ref):
        raise ValueError(f"--ref must be a branch, tag or commit, got {ref!r}")
    text = CONFIG.read_text()
    section = re.search(r"^repository:\n((?:[ \t]+.*\n?)+)", text, re.M)
    body = re.sub(r"^([ \t]+url:[ \t]*)\S*", lambda m: m.group(1) + url, section.group(1), flags=re.M)
    body = re.sub(r"^([ \t]+branch:[ \t]*)\S*", lambda m: m.group(1) + ref, body, flags=re.M)
    old_url, old_ref = read_release(text)
    CONFIG.write_text(text[:section.start(1)] + body + text[section.end(1):])
    for doc in DOCS:
        path = CONFIG.parent / doc
        if path.is_file():
            page = path.read_text()
            for old, new in zip(_release_strings(old_url, old_ref), _release_strings(url, ref), strict=True):
                page = page.replace(old, new)
            path.write_text(page.replace(old_url, url))


def setup_block(url: str, ref: str) -> str:
    return SETUP_BLOCK.format(url=url, ref=ref)


def split_setup(source: str) -> tuple[str, str]:
    """A setup cell's Colab block (up to the end of the ``if "google.colab"`` block) and the rest."""
    lines = source.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith('if "google.colab" in sys.modules'))
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[:end]) + "\n", "\n".join(lines[end:]).lstrip("\n")


def _write_notebook(path: Path, nb: dict, original: str) -> None:
    """Write a notebook as JSON with the file's own key order (indent 1, like nbformat), so that
    the diff holds the changed lines only."""
    text = json.dumps(nb, indent=1, ensure_ascii=False)
    path.write_text(text + ("\n" if original.endswith("\n") else ""))


def cell_source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def rewrite_chapters(url: str, ref: str) -> list[str]:
    """Rewrite the Colab block of every chapter's setup cell; return the chapters changed."""
    changed = []
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        original = path.read_text()
        nb = json.loads(original)
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        _, rest = split_setup(cell_source(cell))
        source = setup_block(url, ref) + "\n" + rest
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if source != cell_source(cell) or SETUP_TAG not in tags:
            cell["source"] = source.splitlines(keepends=True)
            if SETUP_TAG not in tags:
                tags.append(SETUP_TAG)
            _write_notebook(path, nb, original)
            changed.append(path.stem)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="https://github.com/OWNER/REPO")
    parser.add_argument("--ref", help="the release: a tag, branch or commit")
    args = parser.parse_args(argv)
    if args.url or args.ref:
        old_url, old_ref = read_release()
        write_release(args.url or old_url, args.ref or old_ref)
    url, ref = read_release()
    changed = rewrite_chapters(url, ref)
    print(f"repository {url} at {ref}; setup cells rewritten in {len(changed)} chapter(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
