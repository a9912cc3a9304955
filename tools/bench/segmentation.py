"""Benchmark: brain tissue segmentation of the MNI152 template with a U-Net.

``python -m tools.bench segmentation [--epochs N] [--base-filters F] [--tiny]``
``python -m tools.bench segmentation --select [--epochs N]``

The recipe of the chapter *U-Net: segmentation shape by shape* (chapters/unet.ipynb),
run from :mod:`medlab.segmentation`: atlas label map (background, CSF, grey matter, white
matter) from nilearn's MNI152 T1, GM and WM maps; axial slices split into
train/validation/test by slabs; a U-Net trained with Dice + cross-entropy;
test Dice per class compared with multi-Otsu (SimpleITK) and a Gaussian
mixture (scikit-learn) fitted in the same run.

``--select`` is how the chapter's normalisation and batch size were chosen:
it trains every candidate of :data:`SELECT_GRID` (instance or batch
normalisation, batches of 2 or 4 slices) for a short budget (``--epochs``,
default :data:`SELECT_EPOCHS`) and reports the Dice on the **validation**
slabs only; the test slabs are not read.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from medlab.segmentation import (
    Recipe,
    baselines,
    predict_slices,
    slab_split,
    tissue_labels,
    train,
)

SELECT_EPOCHS = 8
"""Epochs of each candidate in ``--select`` (a short budget: four candidates fit in a few minutes)."""
SELECT_GRID = [{"norm": norm, "batch": batch} for norm in ("instance", "batch") for batch in (2, 4)]
"""Candidates compared by ``--select``: normalisation x batch size."""


def run(cfg: Recipe) -> dict[str, Any]:
    """One benchmark run: data, training, evaluation and baselines; returns the numbers."""
    from medlab.data import load_mni152
    from medlab.metrics import dice_per_class

    t1, gm, wm = load_mni152()
    labels = tissue_labels(t1, gm, wm)
    zs = np.flatnonzero(labels.any(axis=(0, 1)))
    split = slab_split(t1.shape[2], int(zs[0]), int(zs[-1]))
    res = train(cfg, split, t1, labels)
    truth = labels[:, :, split["test"]]
    pred = predict_slices(res.model, t1, split["test"], context=cfg.context)
    results = {"U-Net": dice_per_class(pred, truth, [1, 2, 3])}
    for name, pred in baselines(t1, labels, split["train"], split["test"], seed=cfg.seed).items():
        results[name] = dice_per_class(pred, truth, [1, 2, 3])
    return {"dice": results, "train_seconds": res.seconds, "train_cpu_seconds": res.cpu_seconds,
            "n_slices": {k: len(v) for k, v in split.items()}}


def select(epochs: int = SELECT_EPOCHS, seed: int = 0,
           grid: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Train every candidate of ``grid`` and score it on the validation slabs only.

    Each candidate is the chapter's :class:`medlab.segmentation.Recipe` with ``epochs`` and the
    candidate's fields replaced; its kept weights (lowest validation loss) are
    scored by the Dice of CSF, GM and WM on the validation slices. Returns one
    row per candidate. The test slices are never read.
    """
    from dataclasses import replace

    from medlab.data import load_mni152
    from medlab.metrics import dice_per_class

    t1, gm, wm = load_mni152()
    labels = tissue_labels(t1, gm, wm)
    zs = np.flatnonzero(labels.any(axis=(0, 1)))
    split = slab_split(t1.shape[2], int(zs[0]), int(zs[-1]))
    rows = []
    for cand in grid or SELECT_GRID:
        cfg = replace(Recipe(epochs=epochs, seed=seed), **cand)
        res = train(cfg, split, t1, labels)
        pred = predict_slices(res.model, t1, split["val"], context=cfg.context)
        d = dice_per_class(pred, labels[:, :, split["val"]], [1, 2, 3])
        rows.append({**cand, "val_loss": res.best_value, "best_epoch": res.best_epoch,
                     "val_dice": [d[1], d[2], d[3]], "seconds": res.seconds})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m tools.bench segmentation",
                                description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=None,
                   help=f"default {Recipe.epochs}, or {SELECT_EPOCHS} with --select")
    p.add_argument("--base-filters", type=int, default=Recipe.base_filters)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="1 epoch, 4 base filters, depth 2 (for tests)")
    p.add_argument("--select", action="store_true",
                   help="compare normalisation x batch size on the validation slabs (test slabs unread)")
    args = p.parse_args(argv)
    from medlab.env import setup

    if args.select:
        epochs = SELECT_EPOCHS if args.epochs is None else args.epochs
        setup(seed=args.seed, tensorflow=True)
        rows = select(epochs=epochs, seed=args.seed)
        print(f"selection on the validation slabs: {epochs} epochs each, seed {args.seed}")
        print(f"{'norm':<10}{'batch':>6}{'val loss':>10}{'epoch':>7}{'CSF':>8}{'GM':>8}{'WM':>8}{'mean':>8}"
              f"{'s':>7}")
        for r in rows:
            print(f"{r['norm']:<10}{r['batch']:>6}{r['val_loss']:>10.4f}{r['best_epoch']:>7}"
                  + "".join(f"{v:8.3f}" for v in r["val_dice"]) + f"{np.mean(r['val_dice']):8.3f}"
                  + f"{r['seconds']:7.0f}")
        best = max(rows, key=lambda r: np.mean(r["val_dice"]))
        print(f"best by mean validation Dice: norm={best['norm']}, batch={best['batch']}")
        return 0
    cfg = Recipe(epochs=Recipe.epochs if args.epochs is None else args.epochs,
                 base_filters=args.base_filters, seed=args.seed)
    if args.tiny:
        cfg = Recipe(epochs=1, base_filters=4, depth=2, seed=args.seed)
    setup(seed=cfg.seed, tensorflow=True)
    out = run(cfg)
    print(f"recipe: {cfg} | slices {out['n_slices']}")
    print(f"{'method':<18}{'CSF':>8}{'GM':>8}{'WM':>8}{'mean':>8}")
    for method, d in out["dice"].items():
        vals = [d[1], d[2], d[3]]
        print(f"{method:<18}" + "".join(f"{v:8.3f}" for v in vals) + f"{np.mean(vals):8.3f}")
    print(f"training: {out['train_seconds']:.1f} s wall, {out['train_cpu_seconds']:.1f} s CPU (process)")
    return 0
