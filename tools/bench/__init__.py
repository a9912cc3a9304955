"""Benchmarks of the book's models: ``python -m tools.bench <task> [options]`` (see ``__main__``).

Shared helpers of the task modules (``tools/bench/<task>.py``): peak memory, mean ± sd over
seeds and the summary line of a binary classifier.
"""

from __future__ import annotations

import resource
import statistics
import sys


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
