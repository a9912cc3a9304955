"""Exercises of the chapter *U-Net: segmentation shape by shape* (chapters/unet.ipynb)."""

from __future__ import annotations

import numpy as np

from medlab.exercises import Exercise

Q1_P = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 1], [0, 0, 0, 0]])
Q1_T = np.array([[0, 0, 1, 0], [0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]])


def _q1_dice() -> float:
    from medlab.metrics import dice

    return dice(Q1_P, Q1_T)


def _q1_iou() -> float:
    from medlab.metrics import iou

    return iou(Q1_P, Q1_T)


def _layer_shape(name: str) -> tuple[int, int, int]:
    from medlab.models import unet, unet_table

    rows = {r["layer"]: r for r in unet_table(unet((256, 256, 3), n_classes=2, base_filters=64, depth=4))}
    return rows[name]["height"], rows[name]["width"], rows[name]["channels"]


def _skip_params() -> int:
    from medlab.models import unet

    args = {"input_shape": (160, 192, 3), "n_classes": 4, "base_filters": 8, "depth": 4, "norm": "instance"}
    return unet(**args).count_params() - unet(**args, skip=False).count_params()


EXERCISES = {
    "q1": Exercise(
        answer=_q1_dice,
        hint="Dice = 2 x overlap / (pixels in P + pixels in T); the overlap is where both are 1.",
        hints=[(_q1_iou, "That is the IoU (overlap / union); Dice counts the overlap twice over the "
                           "sum of the two sizes.")],
    ),
    "q2": Exercise(
        answer=lambda: _layer_shape("dec3_concat"),
        hint="dec3 works at encoder level 3's size (256 / 4); concatenation adds the up-step's and the "
        "skip's channels.",
        hints=[((64, 64, 256), "That is the up-step alone: the skip from enc3 adds its channels too."),
               ((128, 128, 512), "The up-step doubles the size once per level, not twice.")],
    ),
    "q3": Exercise(
        answer=0.9 / 1.1,
        hint="Write both in terms of the overlap I and the two mask sizes |P|, |T|: Dice = 2I/(|P|+|T|) "
        "and IoU = I/(|P|+|T|-I); or use the relation between the two given in the section "
        "'Evaluation on the held-out slabs'.",
        hints=[(0.9, "Dice and IoU differ except at 0 and 1."), (0.81, "IoU is not Dice squared.")],
    ),
    "q4": Exercise(
        answer=_skip_params,
        hint="Build both networks with medlab.models.unet and subtract their count_params().",
    ),
}
