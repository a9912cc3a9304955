"""Benchmarks of the book's models: ``python -m medlab.bench <task> [options]``.

Speed and quality targets live here, not in timed tests. Each task is a
module ``medlab._bench_<task>`` with a ``main(argv) -> int`` that prints one
line per run and a summary; ``python -m medlab.bench <task> --help`` lists
its options. A module may define ``PUBLISHED``, a tuple of published result
rows (each naming its source), printed beside ours.

``python -m medlab.bench all`` runs every task with its defaults, one after
the other, and then prints every task's table again, together, each followed
by its published rows.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import resource
import statistics
import sys
import time

TASKS = {
    "classification": "medlab._bench_classification",
    "segmentation": "medlab._bench_segmentation",
    "hippocampus": "medlab._bench_hippocampus",
    "detection": "medlab._bench_detection",
    "classification3d": "medlab._bench_classification3d",
}


def peak_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def mean_sd(runs: list[dict], key: str) -> str:
    """``"mean ± sd"`` of ``key`` over the runs (sd 0 for a single run)."""
    vals = [r[key] for r in runs]
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.mean(vals):.3f} ± {sd:.3f}"


def summary_line(name: str, runs: list[dict], targets: dict[str, float]) -> str:
    """A binary classifier's summary over seeds (AUC, ACC, training time), then its targets.

    ``targets`` maps a result key to its target mean: ``seconds`` at most, any other at least.
    """
    line = (f"{name:<15} n={len(runs)}  AUC {mean_sd(runs, 'auc')}  ACC {mean_sd(runs, 'accuracy')}  "
            f"train s {mean_sd(runs, 'seconds')} (CPU {mean_sd(runs, 'cpu_seconds')})")
    checks = []
    for key, target in targets.items():
        mean = statistics.mean(r[key] for r in runs)
        ok = mean <= target if key == "seconds" else mean >= target
        checks.append(f"{key} {'met' if ok else 'SHORT'} ({mean:.3f} vs {target})")
    return line + ("\n    targets: " + "; ".join(checks) if checks else "")


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
        return run_all(argv[1:] or None)
    if not argv or argv[0] not in TASKS:
        print(f"usage: python -m medlab.bench {{{','.join([*TASKS, 'all'])}}} [options]",
              file=sys.stderr)
        return 2
    module = importlib.import_module(TASKS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
