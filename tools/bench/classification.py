"""Benchmark of the chapter *A CNN classification project*: ``python -m tools.bench classification``.

Trains the chapter's CNN (``medlab.train.fit_medmnist``) on PneumoniaMNIST and
BreastMNIST with several seeds, on whatever device TensorFlow finds, and prints
one line per run (test AUC, test accuracy at the threshold chosen on
validation, training seconds wall-clock and CPU, peak memory) and a summary
(mean and standard deviation) against the targets below. TensorFlow's
deterministic ops are on, so a run repeats exactly on the same machine. The machine load is
printed too: timings on a shared machine are inflated.
"""

from __future__ import annotations

import argparse
import os
import sys

from tools.bench import peak_mib, summary_line

TARGETS = {
    "pneumoniamnist": {"auc": 0.965, "accuracy": 0.90, "seconds": 120.0},
    "breastmnist": {"auc": 0.92},
}
"""Targets of the book's issue #5 (means over seeds; seconds per seed on a 2-core CPU)."""

PUBLISHED = (
    "MedMNIST v2 benchmark table (Yang et al., Scientific Data 2023; medmnist.github.io, repository "
    "MedMNIST/medmnist.github.io, index.html at commit 74c5d44), test AUC / ACC:",
    "  PneumoniaMNIST: ResNet-18 (28) 0.944 / 0.854; Google AutoML Vision 0.991 / 0.946",
    "  BreastMNIST: ResNet-18 (28) 0.901 / 0.863; Google AutoML Vision 0.919 / 0.861",
)
"""Published rows printed beside ours by ``python -m tools.bench all`` and at the end of a run."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.bench classification",
                                description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epoch budget")
    p.add_argument("--train-limit", type=int, default=None,
                   help="use only the first N training images (quick check)")
    p.add_argument("--tta", type=int, default=0, metavar="N",
                   help="test-time augmentation with N augmented copies (chapter faq; default 0: off)")
    p.add_argument("--verbose", action="store_true", help="print one line per epoch")
    return p


def _summary_line(name: str, runs: list[dict]) -> str:
    return summary_line(name, runs, TARGETS.get(name, {}))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 (results are reported, not asserted)."""
    args = _parser().parse_args(argv)
    from medlab import train
    from medlab.env import setup

    setup(seed=args.seeds[0], tensorflow=True)  # quiet logs, deterministic ops: runs repeat exactly

    print(f"device: {train.configure_device()} | cores: {os.cpu_count()} | "
          f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    results: dict[str, list[dict]] = {}
    for name in args.datasets:
        for seed in args.seeds:
            r = train.fit_medmnist(name, seed=seed, epochs=args.epochs, train_limit=args.train_limit,
                                   verbose=args.verbose, tta=args.tta)
            r.pop("model")
            results.setdefault(name, []).append(r)
            print(f"{name:<15} seed={seed}  tta={args.tta}  val AUC={r['val_auc']:.4f}  "
                  f"test AUC={r['auc']:.4f}  test ACC={r['accuracy']:.4f}  "
                  f"(threshold {r['threshold']:.3f} from validation)  epochs={r['epochs_run']} "
                  f"(best {r['best_epoch']})  train {r['seconds']:.1f} s wall, "
                  f"{r['cpu_seconds']:.1f} s CPU  peak memory {peak_mib():.0f} MiB", flush=True)
            if "no_tta" in r:
                plain = r["no_tta"]
                print(f"{'':<15} same model without TTA: val AUC={plain['val_auc']:.4f}  "
                      f"test AUC={plain['auc']:.4f}  test ACC={plain['accuracy']:.4f}", flush=True)
    print(f"summary (mean ± sd over seeds {args.seeds}; load average at end "
          f"{os.getloadavg()[0]:.2f}):")
    for name, runs in results.items():
        print(_summary_line(name, runs))
    print("published, for comparison (read from the source named):")
    print("\n".join(f"  {row}" for row in PUBLISHED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
