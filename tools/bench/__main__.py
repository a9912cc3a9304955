"""Benchmarks of the book's models: ``python -m tools.bench <task> [options]``.

Speed and quality targets live here, not in timed tests. Each task is a module
``tools.bench.<task>`` with a ``main(argv) -> int`` that prints one line per run and a
summary; ``python -m tools.bench <task> --help`` lists its options. The task modules hold
only the command line, the tables, the targets and the published rows: every recipe they
run is a public ``medlab`` function, the one the chapter teaches. A module may define
``PUBLISHED``, a tuple of published result rows (each naming its source), printed beside ours.

``python -m tools.bench all`` runs every task with its defaults, one after the other, and
then prints every task's table again, together, each followed by its published rows.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import time

TASKS = {
    "classification": "tools.bench.classification",
    "segmentation": "tools.bench.segmentation",
    "hippocampus": "tools.bench.hippocampus",
    "detection": "tools.bench.detection",
    "classification3d": "tools.bench.classification3d",
}


class _Tee(io.TextIOBase):
    """Write to the terminal and keep a copy."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        return self.copy.write(text)


def published(task: str) -> tuple[str, ...]:
    """The published rows a task prints beside its own results (may be empty)."""
    return tuple(getattr(importlib.import_module(TASKS[task]), "PUBLISHED", ()))


def run_all(tasks: list[str] | None = None) -> int:
    """Run every task (or ``tasks``) with its defaults; then print all tables together."""
    outputs, status = {}, 0
    for task in tasks or list(TASKS):
        print(f"\n===== {task} =====", flush=True)
        tee, start = _Tee(sys.stdout), time.perf_counter()
        with contextlib.redirect_stdout(tee):
            code = int(importlib.import_module(TASKS[task]).main([]) or 0)
        status |= code
        outputs[task] = (tee.copy.getvalue(), time.perf_counter() - start, code)
    print("\n\n########## every benchmark ##########")
    for task, (text, seconds, code) in outputs.items():
        print(f"\n===== {task} ({seconds:.0f} s{', exit ' + str(code) if code else ''}) =====")
        print(text.rstrip())
        rows = published(task)
        if rows and not all(row in text for row in rows):  # a task may print its own
            print("published, for comparison (read from the sources named):")
            print("\n".join(f"  {row}" for row in rows))
    return status


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark task, or ``all``; return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["all"]:
        unknown = [t for t in argv[1:] if t not in TASKS]
        if unknown:
            print(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}", file=sys.stderr)
            return 2
        return run_all(argv[1:] or None)
    if not argv or argv[0] not in TASKS:
        print(f"usage: python -m tools.bench {{{','.join([*TASKS, 'all'])}}} [options]",
              file=sys.stderr)
        return 2
    module = importlib.import_module(TASKS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
