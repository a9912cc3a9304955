"""Benchmark: 3D U-Net segmentation of the hippocampus on held-out volumes.

``python -m tools.bench hippocampus [--epochs N] [--base-filters F] [--seed S] [--tiny]``

The recipe of the chapter *Segmentation in 3D: the hippocampus* (chapters/hippocampus.ipynb), run
from :mod:`medlab.hippocampus`: the Decathlon's 260 labelled hippocampus MRI crops split by volume
(70/10/20 %, seeded; the subjects are not published, so one subject's two crops can sit on both
sides of the split: see :func:`medlab.hippocampus.probable_subject`); volumes z-scored and padded
to 48x64x48 (a multiple of 2**depth); a compact 3D U-Net trained on whole volumes with Dice +
cross-entropy, keeping the epoch of lowest validation loss; tested once on the test volumes (Dice
per label, HD95, volume error) and compared with a 2D slice-wise U-Net trained on the same volumes
in the same run.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from medlab.data import HIPPOCAMPUS_CASES, load_hippocampus
from medlab.hippocampus import (
    LABELS,
    SHAPE,
    Recipe,
    evaluate,
    predict_2d,
    predict_3d,
    stack_cases,
    summarise,
    train_2d,
    train_3d,
    volume_split,
)
from tools.bench import peak_mib


def run(cfg: Recipe, ids: tuple[int, ...] = HIPPOCAMPUS_CASES, with_2d: bool = True,
        test: bool = True) -> dict[str, Any]:
    """One benchmark run; ``test=False`` evaluates on the validation volumes instead (for choices)."""
    cases = load_hippocampus(ids)
    split = volume_split(list(cases), seed=0)
    data = {k: stack_cases(cases, v, SHAPE) for k, v in split.items()}
    (x, y), (xv, yv) = data["train"], data["val"]
    held = "test" if test else "val"
    xt, _ = data[held]
    res = train_3d(cfg, (x, y), (xv, yv))
    out = {"split": {k: len(v) for k, v in split.items()}, "evaluated_on": held,
           "train_seconds": res.seconds, "train_cpu_seconds": res.cpu_seconds, "best_epoch": res.best_epoch,
           "results": {"3D U-Net": summarise(evaluate(cases, split[held], predict_3d(res.model, xt)))}}
    if with_2d:
        res2 = train_2d(cfg, (x, y), (xv, yv))
        out["train_seconds_2d"] = res2.seconds
        pred2 = predict_2d(res2.model, xt)
        out["results"]["2D U-Net (slices)"] = summarise(evaluate(cases, split[held], pred2))
    out["peak_mib"] = peak_mib()
    return out


TARGETS = {"dice": 0.88, "train_seconds": 600.0}
"""Issue #15's targets on a 2-core CPU: mean Dice of each label on held-out volumes, training time."""


def target_line(result: dict[str, dict[str, float]], train_seconds: float) -> str:
    """One line saying which targets a 3D result (from :func:`summarise`) meets."""
    parts = []
    for name in LABELS.values():
        verdict = "met" if result[name]["dice"] >= TARGETS["dice"] else "SHORT"
        parts.append(f"{name} Dice >= {TARGETS['dice']:.2f} {verdict}")
    ok = train_seconds <= TARGETS["train_seconds"]
    parts.append(f"training <= {TARGETS['train_seconds']:.0f} s {'met' if ok else 'NOT met'}")
    return "targets: " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m tools.bench hippocampus", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=Recipe.epochs)
    p.add_argument("--base-filters", type=int, default=Recipe.base_filters)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val", action="store_true", help="evaluate on the validation volumes (for choices)")
    p.add_argument("--no-2d", action="store_true", help="skip the 2D slice-wise baseline")
    p.add_argument("--tiny", action="store_true", help="12 volumes, 1 epoch, 4 filters, depth 2 (for tests)")
    args = p.parse_args(argv)
    cfg = Recipe(epochs=args.epochs, base_filters=args.base_filters, seed=args.seed)
    ids = HIPPOCAMPUS_CASES
    if args.tiny:
        cfg = Recipe(epochs=1, base_filters=4, depth=2, epochs_2d=1, base_filters_2d=4, seed=args.seed)
        ids = HIPPOCAMPUS_CASES[:12]
    from medlab.env import setup

    setup(seed=cfg.seed, tensorflow=True)
    out = run(cfg, ids, with_2d=not args.no_2d, test=not args.val)
    print(f"recipe: {asdict(cfg)} | volumes {out['split']} | evaluated on {out['evaluated_on']}")
    print(f"{'method':<20}{'Dice ant':>9}{'Dice post':>10}{'HD95 ant':>9}{'HD95 post':>10}"
          f"{'|dV| ant':>10}{'|dV| post':>10}")
    for method, r in out["results"].items():
        a, b = r["anterior"], r["posterior"]
        print(f"{method:<20}{a['dice']:9.3f}{b['dice']:10.3f}{a['hd95']:9.2f}{b['hd95']:10.2f}"
              f"{a['abs_volume_error']:10.1f}{b['abs_volume_error']:10.1f}")
    print("(Dice: mean over volumes; HD95: median, mm; |dV|: mean absolute volume error, mm^3)")
    extra = f", 2D baseline {out['train_seconds_2d']:.1f} s" if "train_seconds_2d" in out else ""
    print(f"training 3D: {out['train_seconds']:.1f} s wall ({out['train_cpu_seconds']:.1f} s CPU), "
          f"best epoch {out['best_epoch']}{extra}; peak memory {out['peak_mib']:.0f} MiB")
    print(target_line(out["results"]["3D U-Net"], out["train_seconds"]))
    return 0
