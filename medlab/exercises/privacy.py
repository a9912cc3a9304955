"""Exercises of the chapter *Data privacy* (chapters/privacy.ipynb)."""

from __future__ import annotations

import datetime as dt
import warnings
from functools import cache

from medlab.exercises import Exercise


def _read(name: str):
    import pydicom

    from medlab import data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(data.fetch(name))


def _removed_top_level(name: str = "MR_small.dcm", resolve: bool = True) -> set[str]:
    """Keywords of the standard top-level attributes the Basic profile removes (action X)."""
    from medlab import privacy

    out = set()
    for elem in _read(name):
        rule = None if elem.tag.is_private else privacy.rule_for(elem.tag)
        if rule is not None and (privacy.effective_action(rule) if resolve else rule.action) == "X":
            out.add(elem.keyword)
    return out


def _flagged_top_level(name: str = "MR_small.dcm") -> set[str]:
    """Every top-level attribute the table lists with an action other than K (a common over-answer)."""
    from medlab import privacy

    return {e.keyword for e in _read(name) if not e.tag.is_private and (r := privacy.rule_for(e.tag))
            and r.action != "K"}


def _uid_table_size(distinct: bool = True) -> int:
    """Entries of a UID mapping table over CT_small, a second slice of it and MR_small."""
    keywords = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    ct, mr = _read("CT_small.dcm"), _read("MR_small.dcm")
    values = [str(ds.data_element(k).value) for ds in (ct, mr) for k in keywords]
    values += [str(ct.StudyInstanceUID), str(ct.SeriesInstanceUID), "a new SOP Instance UID"]
    return len(set(values)) if distinct else len(values)


def _days(a: str, b: str) -> int:
    parse = lambda s: dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))  # noqa: E731
    return (parse(b) - parse(a)).days


EXERCISE_DATES = ("20191130", "20200301")
"""Exercise 3: a baseline and a follow-up whose interval crosses 29 February 2020 (the chapter's
own example uses other dates, so its printed intervals are not the answer)."""


def _intervals(years_back: int = 3) -> tuple[int, int]:
    """(interval after a -1000-day shift, interval after subtracting ``years_back`` from the years)."""
    from medlab import privacy

    shifted = [privacy.shift_date(d, -1000) for d in EXERCISE_DATES]
    earlier = [f"{int(d[:4]) - years_back}{d[4:]}" for d in EXERCISE_DATES]
    return (_days(*shifted), _days(*earlier))


@cache
def _tree_attack_auc() -> float:
    from sklearn.tree import DecisionTreeClassifier

    from medlab import data, privacy

    d = data.load_medmnist("pneumoniamnist")
    xm, ym = d["train_images"][:300].reshape(300, -1), d["train_labels"][:300].ravel()
    xo, yo = d["val_images"][:300].reshape(300, -1), d["val_labels"][:300].ravel()
    tree = DecisionTreeClassifier(random_state=0).fit(xm, ym)
    lm = privacy.example_losses(ym, tree.predict_proba(xm)[:, 1])
    lo = privacy.example_losses(yo, tree.predict_proba(xo)[:, 1])
    return float(privacy.membership_auc(lm, lo, n_boot=100).estimate)


EXERCISES = {
    "q1": Exercise(
        answer=_removed_top_level,
        hint="Look only at action X after privacy.effective_action resolves the compound codes "
        "(X/Z/D becomes D, X/Z becomes Z): most identifying attributes are emptied or replaced, not removed.",
        hints=[(_flagged_top_level, "That is every attribute the table lists (Z, D, U, X, ...). Keep only "
                "those whose resolved action is X.")],
    ),
    "q2": Exercise(
        answer=_uid_table_size,
        hint="A mapping table has one entry per distinct old UID: the two CT slices share their study "
        "and series UIDs.",
        hints=[(lambda: _uid_table_size(distinct=False), "That counts every UID value; equal old UIDs "
                "must map to one new UID, so the table needs only one entry for each distinct value.")],
    ),
    "q3": Exercise(
        answer=_intervals,
        hint="Count the days with datetime.date or numpy.datetime64 (or the chapter's days_between); "
        "look at which February each interval crosses.",
        hints=[(lambda: (_intervals()[0], _intervals()[0]), "Subtracting 3 from the years moves the "
                "interval to November 2016 - March 2017: how many days has February 2017?"),
               ((6, 5), "Those are the chapter's dates (28 February and 5 March 2020); the exercise "
                "uses 30 November 2019 and 1 March 2020.")],
    ),
    "q4": Exercise(
        answer=(0.2 * 100 + 0.5 * 300 + 0.9 * 600) / 1000,
        hint="FedAvg weights each hospital by its share of the images, n_k / n.",
        hints=[((0.2 + 0.5 + 0.9) / 3, "That is the plain mean; FedAvg weights each hospital by its "
                "number of images.")],
    ),
    "q5": Exercise(
        answer=_tree_attack_auc,
        rtol=1e-6,
        hint="Compute the losses with privacy.example_losses(labels, tree.predict_proba(x)[:, 1]) for "
        "the 300 members and the 300 validation images, then privacy.membership_auc(members, others).",
        hints=[(1.0, "A perfect memoriser does not give a perfect attack: non-members that the tree "
                "classifies correctly have the same (minimal) loss as members. Run it.")],
    ),
}
