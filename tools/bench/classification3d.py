"""Benchmark of the chapter *Applications*: ``python -m tools.bench classification3d``.

Trains the chapter's 3D CNN (:func:`medlab.train3d.fit_medmnist3d`) on
AdrenalMNIST3D and VesselMNIST3D with several seeds and prints one line per run
(validation and test AUC, test accuracy at the threshold chosen on validation,
training seconds wall-clock and CPU, peak memory), then a summary (mean and
standard deviation over seeds) against the targets below. With
``--datasets ... retinamnist`` it also trains the chapter's RetinaMNIST grader
(:func:`medlab.ordinal.fit_retinamnist`) and reports quadratic-weighted kappa and
accuracy of both decodings. The machine load is printed: timings on a shared
machine are inflated.
"""

from __future__ import annotations

import argparse
import os
import sys

from tools.bench import mean_sd, peak_mib, summary_line

TARGETS = {
    "adrenalmnist3d": {"auc": 0.86, "seconds": 120.0},
    "vesselmnist3d": {"auc": 0.93, "seconds": 120.0},
}
"""Targets of the book's issue #18 (means over seeds; seconds of training per seed on a 2-core CPU)."""

DATASETS = (*TARGETS, "retinamnist")

PUBLISHED = (
    "MedMNIST v2 benchmark tables (Yang et al., Scientific Data 2023; medmnist.github.io, repository "
    "MedMNIST/medmnist.github.io, index.html at commit 74c5d44), test AUC / ACC:",
    "  AdrenalMNIST3D: ResNet-18+3D 0.827 / 0.721; ResNet-50+3D 0.828 / 0.745; "
    "ResNet-18+ACS 0.839 / 0.754; auto-sklearn 0.828 / 0.802",
    "  VesselMNIST3D: ResNet-18+3D 0.874 / 0.877; ResNet-50+3D 0.907 / 0.918; "
    "ResNet-18+ACS 0.930 / 0.928; auto-sklearn 0.910 / 0.915",
    "  RetinaMNIST (no kappa published there): ResNet-18 (28) AUC 0.717 / ACC 0.524; "
    "ResNet-50 (28) 0.726 / 0.528; Google AutoML Vision 0.750 / 0.531",
)
"""Published rows printed beside ours by ``python -m tools.bench all`` and at the end of a run."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.bench classification3d",
                                description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(TARGETS), choices=list(DATASETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epoch budget")
    p.add_argument("--train-limit", type=int, default=None,
                   help="use only the first N training volumes (quick check)")
    p.add_argument("--size", type=int, default=28, choices=(28, 64),
                   help="volume size (64: AdrenalMNIST3D's 64-voxel file)")
    p.add_argument("--verbose", action="store_true", help="print one line per epoch")
    return p


def _summary_line(name: str, runs: list[dict]) -> str:
    if name != "retinamnist":
        return summary_line(name, runs, TARGETS.get(name, {}))
    return (f"{name:<15} n={len(runs)}  QWK argmax {mean_sd(runs, 'qwk_argmax')}  QWK expected "
            f"{mean_sd(runs, 'qwk_expected')}  ACC argmax {mean_sd(runs, 'acc_argmax')}  "
            f"ACC expected {mean_sd(runs, 'acc_expected')}  AUC {mean_sd(runs, 'auc')}  "
            f"train s {mean_sd(runs, 'seconds')}")


def _retina_run(seed: int, args: argparse.Namespace) -> dict:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, roc_auc_score

    from medlab import ordinal

    r = ordinal.fit_retinamnist(seed=seed, epochs=args.epochs, train_limit=args.train_limit,
                                verbose=args.verbose)
    y, p = r["y_test"], r["p_test"]
    out = {"seconds": r["seconds"], "epochs_run": r["epochs_run"],
           "auc": float(roc_auc_score(y, p, multi_class="ovr", labels=range(5)))}
    for how, pred in (("argmax", ordinal.decode_argmax(p)), ("expected", ordinal.decode_expected(p))):
        out[f"qwk_{how}"] = float(cohen_kappa_score(y, pred, weights="quadratic"))
        out[f"acc_{how}"] = float(accuracy_score(y, pred))
    print(f"{'retinamnist':<15} seed={seed}  test QWK argmax={out['qwk_argmax']:.4f} "
          f"expected={out['qwk_expected']:.4f}  ACC argmax={out['acc_argmax']:.4f} "
          f"expected={out['acc_expected']:.4f}  AUC (one-vs-rest)={out['auc']:.4f}  "
          f"epochs={out['epochs_run']}  train {out['seconds']:.1f} s  peak memory {peak_mib():.0f} MiB",
          flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 (results are reported, not asserted)."""
    args = _parser().parse_args(argv)
    from medlab import train, train3d
    from medlab.env import setup

    setup(seed=args.seeds[0], tensorflow=True)  # quiet logs, deterministic ops: runs repeat exactly
    print(f"device: {train.configure_device()} | cores: {os.cpu_count()} | "
          f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    results: dict[str, list[dict]] = {}
    for name in args.datasets:
        for seed in args.seeds:
            if name == "retinamnist":
                results.setdefault(name, []).append(_retina_run(seed, args))
                continue
            r = train3d.fit_medmnist3d(name, seed=seed, size=args.size, epochs=args.epochs,
                                       train_limit=args.train_limit, verbose=args.verbose)
            r.pop("model")
            results.setdefault(name, []).append(r)
            print(f"{name:<15} seed={seed}  size={args.size}  val AUC={r['val_auc']:.4f}  "
                  f"test AUC={r['auc']:.4f}  test ACC={r['accuracy']:.4f}  "
                  f"(threshold {r['threshold']:.3f} from validation)  epochs={r['epochs_run']} "
                  f"(best {r['best_epoch']})  train {r['seconds']:.1f} s wall, "
                  f"{r['cpu_seconds']:.1f} s CPU  peak memory {peak_mib():.0f} MiB", flush=True)
    print(f"summary (mean ± sd over seeds {args.seeds}; load average at end "
          f"{os.getloadavg()[0]:.2f}):")
    for name, runs in results.items():
        print(_summary_line(name, runs))
    print("published, for comparison (read from the source named):")
    print("\n".join(f"  {row}" for row in PUBLISHED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
