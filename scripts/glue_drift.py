#!/usr/bin/env python
"""Execute chapters several times and compare their glued numbers run by run.

Used to decide whether a setting keeps the book reproducible, e.g. oneDNN:

    TF_ENABLE_ONEDNN_OPTS=1 MEDLAB_QUICK=1 python scripts/glue_drift.py --runs 2
    python scripts/glue_drift.py --runs 2 cnn_project unet     # full mode, two chapters

Each run executes the notebook in a fresh kernel (the environment is passed on,
so ``TF_ENABLE_ONEDNN_OPTS`` and ``MEDLAB_QUICK`` apply). Every glued text value
(``medlab.glue``) of every run is compared with the first run's; figures are
ignored. Prints one line per chapter and, with ``--json``, writes all values.
Exit status 1 when any glued value differs between runs.
"""

from __future__ import annotations

import argparse
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


def execute(path: Path) -> tuple[dict[str, str], float]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=3600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return glued_values(nb), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter slugs (default: every chapter)")
    parser.add_argument("--runs", type=int, default=2, help="executions per chapter (>= 2)")
    parser.add_argument("--json", type=Path, help="write every run's glued values here")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    paths = [ROOT / "chapters" / f"{c}.ipynb" for c in args.chapters] or \
        sorted((ROOT / "chapters").glob("*.ipynb"))
    record, drifted = {}, 0
    for path in paths:
        runs = [execute(path) for _ in range(args.runs)]
        first = runs[0][0]
        differ = sorted({k for values, _ in runs[1:] for k in first.keys() | values.keys()
                         if values.get(k) != first.get(k)})
        drifted += bool(differ)
        secs = ", ".join(f"{t:.0f}" for _, t in runs)
        print(f"{path.stem:<16} {len(first):>4} glued values, {len(differ):>3} differ "
              f"(run seconds: {secs}){': ' + ', '.join(differ[:8]) if differ else ''}", flush=True)
        for k in differ[:8]:
            print(f"    {k}: " + " | ".join(str(v.get(k))[:40] for v, _ in runs))
        record[path.stem] = [{"seconds": t, "values": v} for v, t in runs]
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
