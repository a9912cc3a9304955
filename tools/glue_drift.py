#!/usr/bin/env python
"""Execute chapters and compare their glued values: run by run, or with a saved baseline.

Used to decide whether a setting keeps the book reproducible (e.g. oneDNN), and whether a
change of code left the book's numbers alone:

    TF_ENABLE_ONEDNN_OPTS=1 MEDLAB_QUICK=1 python -m tools.glue_drift --runs 2
    python -m tools.glue_drift --runs 2 cnn_project unet       # full mode, two chapters
    MEDLAB_QUICK=1 python -m tools.glue_drift --json old.json  # record (e.g. on an older commit)
    MEDLAB_QUICK=1 python -m tools.glue_drift --baseline old.json --ignore '*seconds*'

Each run executes the notebook in a fresh kernel (the environment is passed on, so
``TF_ENABLE_ONEDNN_OPTS``, ``MEDLAB_QUICK`` and ``MEDLAB_CACHE_DIR`` apply). Every glued text
value (``medlab.glue``) of every run is compared with the first run's, or, with
``--baseline FILE``, with the values saved in FILE (the format ``--json`` writes: per chapter a
list of runs, each ``{"seconds", "values"}``; a single ``{"seconds", "values"}`` is read too);
figures are ignored. With ``--baseline`` one run per chapter is enough (the default). Names
matching an ``--ignore`` pattern (shell-style, e.g. timings) are compared but not counted.
Prints one line per chapter and every value that differs; exit status 1 when any counted
value differs or a chapter fails to execute.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def glued_values(nb) -> dict[str, str]:
    """``{name: text/plain}`` of every glued output of an executed notebook."""
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            data = out.get("data", {})  # glue(display=False) prefixes the MIME types
            text = next((v for k, v in data.items() if k.endswith("text/plain")), None)
            if name and text is not None and not any(k.endswith("image/png") for k in data):
                values[name] = text
    return values


def execute(path: Path) -> tuple[dict[str, str], float, str | None]:
    """Glued values, seconds and the error (None when the notebook ran to the end)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    start, error = time.perf_counter(), None
    try:
        NotebookClient(nb, timeout=3600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1][:300] if str(err).strip() else type(err).__name__
    return glued_values(nb), time.perf_counter() - start, error


def baseline_values(record: dict, chapter: str) -> dict[str, str] | None:
    """A chapter's values in a saved record: the first run of a ``--json`` list, or ``values``."""
    entry = record.get(chapter)
    if entry is None:
        return None
    if isinstance(entry, list):
        entry = entry[0] if entry else {}
    if not isinstance(entry, dict) or not isinstance(entry.get("values"), dict):
        raise ValueError(f"baseline entry of {chapter!r} has no 'values' mapping")
    return entry["values"]


def differing(reference: dict[str, str], runs: list[dict[str, str]]) -> list[str]:
    """Names whose value differs between ``reference`` and any run (present in only one counts)."""
    return sorted({k for values in runs for k in reference.keys() | values.keys()
                   if values.get(k) != reference.get(k)})


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.glue_drift", description=__doc__.splitlines()[0])
    p.add_argument("chapters", nargs="*", help="chapter slugs (default: every chapter)")
    p.add_argument("--runs", type=int, default=None,
                   help="executions per chapter (default 2; 1 with --baseline)")
    p.add_argument("--baseline", type=Path, help="compare with the glued values saved in this JSON file")
    p.add_argument("--ignore", nargs="+", default=[], metavar="PATTERN",
                   help="value names not counted as drift (shell patterns, e.g. '*seconds*')")
    p.add_argument("--json", type=Path, help="write every run's glued values here")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    runs_wanted = args.runs if args.runs is not None else (1 if args.baseline else 2)
    if runs_wanted < (1 if args.baseline else 2):
        parser.error("--runs must be at least 2 (at least 1 with --baseline)")
    base = json.loads(args.baseline.read_text()) if args.baseline else None
    paths = [ROOT / "chapters" / f"{c}.ipynb" for c in args.chapters] or \
        sorted((ROOT / "chapters").glob("*.ipynb"))
    missing = [p.stem for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such chapter(s): {', '.join(missing)}")
    record, bad = {}, 0
    for path in paths:
        runs = [execute(path) for _ in range(runs_wanted)]
        errors = [e for _, _, e in runs if e]
        if base is not None:
            reference = baseline_values(base, path.stem)
            if reference is None:
                print(f"{path.stem:<16} not in the baseline {args.baseline}", flush=True)
                bad += 1
                reference = {}
            compared = [v for v, _, _ in runs]
        else:
            reference, compared = runs[0][0], [v for v, _, _ in runs[1:]]
        differ = differing(reference, compared)
        counted = [k for k in differ if not any(fnmatch.fnmatch(k, pat) for pat in args.ignore)]
        bad += bool(counted) + bool(errors)
        secs = ", ".join(f"{t:.0f}" for _, t, _ in runs)
        print(f"{path.stem:<16} {len(runs[0][0]):>4} glued values, {len(counted):>3} differ"
              f"{f' (+{len(differ) - len(counted)} ignored)' if len(differ) > len(counted) else ''}"
              f" (run seconds: {secs}){' FAILED: ' + errors[0] if errors else ''}", flush=True)
        for k in differ:
            shown = [reference.get(k), *(v.get(k) for v in compared)]
            mark = "" if k in counted else " (ignored)"
            print(f"    {k}{mark}: " + " | ".join(str(v)[:40] for v in shown), flush=True)
        record[path.stem] = [{"seconds": t, "values": v, **({"error": e} if e else {})} for v, t, e in runs]
        if args.json:  # written as it goes: a long run keeps what it measured
            args.json.write_text(json.dumps(record, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
