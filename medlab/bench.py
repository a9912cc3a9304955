"""Benchmarks of the book's models: ``python -m medlab.bench <task> [options]``.

Speed and quality targets live here, not in timed tests. Each task is a
module ``medlab._bench_<task>`` with a ``main(argv) -> int`` that prints one
line per run and a summary; ``python -m medlab.bench <task> --help`` lists
its options.
"""

from __future__ import annotations

import importlib
import sys

TASKS = {
    "classification": "medlab._bench_classification",
    "segmentation": "medlab._bench_segmentation",
    "hippocampus": "medlab._bench_hippocampus",
}


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark task; return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in TASKS:
        print(f"usage: python -m medlab.bench {{{','.join(TASKS)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(TASKS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
