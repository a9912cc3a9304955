"""Known-failures lists for the page-layout checks (issue #28): they can only shrink.

A check reports every violation as ``{group: {key: value}}`` (group: a chapter or page; key: one
element). The chapters fail some checks today; the violations found when a check was introduced
are listed in ``tests/known-failures/<name>.json``. :func:`compare` fails a test on a violation
that is not listed (a new one) and on a listed one that no longer occurs (fixed: take it off the
list), so the list can only shrink. ``MEDLAB_KNOWN_FAILURES=shrink`` rewrites the list without the
fixed entries (new violations still fail); nothing adds to it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "known-failures"


def load(name: str) -> dict[str, dict[str, object]]:
    path = FOLDER / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def save(name: str, found: dict[str, dict[str, object]]) -> Path:
    path = FOLDER / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    clean = {g: dict(sorted(v.items())) for g, v in sorted(found.items()) if v}
    path.write_text(json.dumps(clean, indent=1, ensure_ascii=False) + "\n")
    return path


def diff(known: dict, found: dict, *, same=lambda k, f: k == f) -> tuple[list[str], list[str]]:
    """(new, fixed): violations found but not listed, and listed ones not found (or changed).

    ``same(known_value, found_value)`` says whether a listed entry still holds; by default the
    values must be equal. A listed entry whose value no longer holds counts as both fixed and new.
    """
    new, fixed = [], []
    for group in sorted(set(known) | set(found)):
        k, f = known.get(group, {}), found.get(group, {})
        for key in sorted(set(k) | set(f)):
            if key not in k:
                new.append(f"{group}: {key}: {f[key]}")
            elif key not in f:
                fixed.append(f"{group}: {key} (listed: {k[key]})")
            elif not same(k[key], f[key]):
                new.append(f"{group}: {key}: {f[key]} (listed: {k[key]})")
    return new, fixed


def compare(name: str, found: dict[str, dict[str, object]], *, same=lambda k, f: k == f,
            what: str = "violations", known: dict | None = None) -> None:
    """Fail (AssertionError) when ``found`` differs from the list ``name`` (or ``known``, given
    directly); see the module doc."""
    from_file = known is None
    known = load(name) if from_file else known
    new, fixed = diff(known, found, same=same)
    if fixed and from_file and os.environ.get("MEDLAB_KNOWN_FAILURES") == "shrink":
        kept = {g: {k: v for k, v in entries.items() if g in found and k in found[g] and same(v, found[g][k])}
                for g, entries in known.items()}
        save(name, kept)
        fixed = []
    message = []
    if new:
        message.append(f"{len(new)} new {what} (fix them; the list only shrinks):\n  " + "\n  ".join(new))
    if fixed:
        message.append(f"{len(fixed)} listed {what} no longer occur: take them off "
                       f"tests/known-failures/{name}.json (MEDLAB_KNOWN_FAILURES=shrink does it):\n  "
                       + "\n  ".join(fixed))
    assert not message, "\n".join(message)
