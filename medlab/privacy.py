"""Data privacy: de-identifying DICOM, federated averaging, membership inference.

Helpers of the chapter *Data privacy* (chapters/privacy.ipynb).

* :func:`deidentify` applies the **Basic Application Level Confidentiality
  Profile** of DICOM PS3.15 Annex E to a pydicom dataset and returns a new one
  (the input is never modified). The profile's action codes come from
  ``ps315_basic_profile.json``: Table E.1-1 of the standard (edition 2024b), made
  by ``tools/make_ps315_table.py`` (in the repository); :func:`profile_source` says where from.
* :func:`find_identifiers` lists every element that may identify a patient
  (nested sequences and the file meta information included);
  :func:`surviving_values` is the independent check that no original
  identifying value is left anywhere in a de-identified copy.
* :func:`split_hospitals`, :func:`average_weights` and :func:`clip_update` are
  the pieces of federated averaging (FedAvg) on simulated hospitals.
* :func:`example_losses` and :func:`membership_auc` measure what a model leaks
  about its training set (a loss-threshold membership-inference attack).

TensorFlow is never imported here.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import importlib.resources
import json
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_FILE = "ps315_basic_profile.json"
"""Table E.1-1 of PS3.15 as data, shipped inside medlab."""

DUMMY_DATE, DUMMY_DATETIME, DUMMY_TIME = "19000101", "19000101000000", "000000"
"""Dummy values written by the action D for dates, date-times and times."""

ACTIONS = {
    "D": "replace with a dummy value of the same VR (non-empty)",
    "Z": "replace with an empty value",
    "X": "remove",
    "K": "keep (sequences: keep, and clean their items)",
    "C": "clean: keep the meaning, drop the identity (here: shift dates)",
    "U": "replace the UID by a new one, the same new one wherever the old one occurs",
}
"""The action codes of Table E.1-1 (PS3.15 E.1.1), in words."""

_COMPOUND = {"Z/D": "D", "X/Z": "Z", "X/D": "D", "X/Z/D": "D", "X/Z/U*": "U*"}
"""Compound codes ("X unless Z is needed for a valid object", ...) and the choice made here:
always the last alternative, which keeps every IOD valid whatever the attribute's type."""

_TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}
_NUMBER_VRS = {"IS": "0", "DS": "0"}
_BINARY_VRS = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"}
_BYTES_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1.

    Attributes
    ----------
    pattern
        Tag as 8 hex digits; ``X`` stands for any digit (repeating groups such as
        ``60XX3000``, overlay data).
    name
        Attribute name as the standard prints it.
    action
        Basic-profile action code (``"X"``, ``"Z/D"``, ...).
    modified_dates
        Action of the *Retain Longitudinal Temporal Information with Modified
        Dates* option (``"C"``) or ``""``.
    """

    pattern: str
    name: str
    action: str
    modified_dates: str = ""

    def matches(self, tag: int) -> bool:
        hexa = f"{int(tag):08X}"
        return all(p in ("X", h) for p, h in zip(self.pattern, hexa, strict=True))


@cache
def _profile() -> tuple[str, dict[int, Rule], tuple[Rule, ...]]:
    raw = json.loads(importlib.resources.files("medlab").joinpath(PROFILE_FILE).read_text())
    exact: dict[int, Rule] = {}
    patterns: list[Rule] = []
    for pattern, name, action, mod in raw["rows"]:
        rule = Rule(pattern, name, action, mod)
        if "X" in pattern:
            patterns.append(rule)
        else:
            exact[int(pattern, 16)] = rule
    return raw["source"], exact, tuple(patterns)


def profile_source() -> str:
    """Where the action table comes from (standard, edition, parser, commit)."""
    return _profile()[0]


def profile_rules() -> list[Rule]:
    """Every row of Table E.1-1 (private attributes are a rule of their own: removed)."""
    _, exact, patterns = _profile()
    return sorted([*exact.values(), *patterns], key=lambda r: r.pattern)


def rule_for(tag: int) -> Rule | None:
    """The Table E.1-1 row for a tag, or None when the table does not list it."""
    _, exact, patterns = _profile()
    tag = int(tag)
    if tag in exact:
        return exact[tag]
    return next((r for r in patterns if r.matches(tag)), None)


def effective_action(rule: Rule, date_shift_days: int | None = None) -> str:
    """The single action applied for a rule: compound codes resolved, date option applied.

    ``X/Z`` becomes ``Z``, ``X/D``, ``Z/D`` and ``X/Z/D`` become ``D`` and ``X/Z/U*``
    becomes ``U*`` (keep the sequence, clean its items): without the module tables of
    every IOD we cannot know whether an attribute is optional, so we take the
    alternative that is valid in every case. None of them keeps an original value.
    With ``date_shift_days`` given, the rows the *Modified Dates* option marks ``C``
    are cleaned by shifting instead.
    """
    if date_shift_days is not None and rule.modified_dates == "C":
        return "C"
    return _COMPOUND.get(rule.action, rule.action)


# --------------------------------------------------------------------------- input checks
def _as_dataset(dataset: Any) -> Any:
    import pydicom

    if isinstance(dataset, (str, os.PathLike)):
        path = Path(dataset)
        if not path.is_file():
            raise FileNotFoundError(f"no DICOM file at {str(path)!r}")
        return pydicom.dcmread(path)
    if not isinstance(dataset, pydicom.Dataset):
        raise TypeError("expected a pydicom.Dataset (or the path of a DICOM file), got "
                        f"{type(dataset).__name__}")
    return dataset


def _check_salt(salt: Any) -> str:
    if isinstance(salt, bytes):
        salt = salt.hex()
    if not isinstance(salt, str):
        raise TypeError(f"salt must be a string (a secret kept by the data owner), got {type(salt).__name__}")
    if not salt.strip():
        raise ValueError("salt must be a non-empty secret: without one, anyone who knows an original "
                         "UID can recompute its replacement")
    return salt


def _check_shift(days: Any) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)):
        raise TypeError(f"date_shift_days must be a whole number of days or None, got {days!r}")
    return int(days)


# --------------------------------------------------------------------------- replacements
def pseudonym(value: Any, salt: str, length: int = 10) -> str:
    """A keyed hash of ``value``: the same input and salt give the same pseudonym.

    ``"ANON"`` followed by ``length`` upper-case hex digits of SHA-256(salt, value).
    Without the salt the original cannot be recomputed from it (nor checked by guessing).
    """
    digest = hashlib.sha256(f"{_check_salt(salt)}\x00{value}".encode()).hexdigest().upper()
    return "ANON" + digest[:length]


def new_uid(uid: str, salt: str) -> str:
    """Replacement UID: ``2.25.`` followed by a UUID derived from HMAC-SHA-256(salt, old UID).

    The ``2.25`` root turns a UUID (ISO/IEC 9834-8) into a DICOM UID without a
    registered prefix. Deterministic, so every file of a study gets the same new
    Study Instance UID and references between files stay intact; a different salt
    gives unrelated UIDs, and without the salt the old UID cannot be checked by
    guessing. (pydicom's ``generate_uid(prefix=None)`` ignores its entropy sources
    and is random, so it cannot keep a study together.)
    """
    key = _check_salt(salt).encode()
    digest = hmac.new(key, str(uid).strip().strip("\x00").encode(), hashlib.sha256).digest()
    return "2.25." + str(uuid.UUID(bytes=digest[:16], version=4).int)


def shift_date(value: str, days: int) -> str:
    """Shift a DICOM date ``YYYYMMDD`` (or the date part of a date-time) by whole days.

    The rest of a date-time (time, fraction, UTC offset) is kept, so intervals
    between any two shifted dates are unchanged.

    Raises
    ------
    ValueError
        If ``value`` does not start with a valid ``YYYYMMDD``.
    """
    text = str(value).strip()
    day = dt.datetime.strptime(text[:8], "%Y%m%d").date()
    return (day + dt.timedelta(days=int(days))).strftime("%Y%m%d") + text[8:]


def _dummy(elem: Any, salt: str) -> Any:
    vr = elem.VR
    if vr in _TEXT_VRS:
        return pseudonym(elem.value, salt)
    if vr == "DA":
        return DUMMY_DATE
    if vr == "DT":
        return DUMMY_DATETIME
    if vr == "TM":
        return DUMMY_TIME
    if vr == "AS":
        return "000Y"
    if vr in _NUMBER_VRS:
        return _NUMBER_VRS[vr]
    if vr in _BINARY_VRS:
        return 0
    if vr in _BYTES_VRS:
        return b"\x00\x00"
    if vr == "UI":
        return new_uid(elem.value, salt)
    raise ValueError(f"no dummy value for VR {vr} ({elem.keyword or elem.tag})")


def _values(elem: Any) -> list:
    from pydicom.multival import MultiValue

    v = elem.value
    if v is None or (isinstance(v, (str, bytes)) and not v):
        return []
    if isinstance(v, (list, tuple, MultiValue)):
        return list(v)
    return [v]


def _shift_values(elem: Any, days: int) -> Any:
    out = []
    for v in _values(elem):
        try:
            out.append(shift_date(str(v), days))
        except ValueError:
            return None  # an unreadable date is emptied, never kept
    return out if len(out) > 1 else (out[0] if out else None)


# --------------------------------------------------------------------------- the walk
@dataclass
class _Context:
    salt: str
    shift: int | None
    log: list | None


def _record(ctx: _Context, path: str, elem: Any, action: str, new: Any) -> None:
    if ctx.log is not None:
        ctx.log.append({"path": path, "tag": f"({elem.tag.group:04X},{elem.tag.element:04X})",
                        "keyword": elem.keyword or "(private)", "VR": elem.VR, "action": action,
                        "before": _short(elem.value, elem.VR), "after": _short(new, elem.VR)})


def _short(value: Any, vr: str, width: int = 40) -> str:
    if value is None:
        return ""
    if vr == "SQ":
        return f"{len(value)} item(s)"
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _clean(ds: Any, ctx: _Context, path: str = "") -> None:
    for elem in list(ds):
        tag, where = elem.tag, f"{path}{elem.keyword or str(elem.tag)}"
        if tag.is_private:
            _record(ctx, where, elem, "X (private)", None)
            del ds[tag]
            continue
        if tag.element == 0 and tag.group != 0x0002:
            del ds[tag]  # retired group lengths would no longer be right
            continue
        rule = rule_for(tag)
        if rule is None or effective_action(rule, ctx.shift) == "K":
            _clean_items(elem, ctx, where)
            continue
        action = effective_action(rule, ctx.shift)
        if action == "X":
            _record(ctx, where, elem, "X", None)
            del ds[tag]
        elif action == "Z":
            new = [] if elem.VR == "SQ" else None
            _record(ctx, where, elem, "Z", new)
            elem.value = new
        elif action == "U*":
            _clean_items(elem, ctx, where)
        elif action == "U":
            new = [new_uid(v, ctx.salt) for v in _values(elem)]
            new = new[0] if len(new) == 1 else (new or None)
            _record(ctx, where, elem, "U", new)
            elem.value = new
        elif action == "C":
            if elem.VR in ("DA", "DT"):
                new = _shift_values(elem, ctx.shift)
                _record(ctx, where, elem, "C (date shifted)", new)
                elem.value = new
            else:
                _clean_items(elem, ctx, where)  # times keep their value: whole days are shifted
        elif action == "D":
            if elem.VR == "SQ":
                _clean_items(elem, ctx, where)
            else:
                new = _dummy(elem, ctx.salt)
                _record(ctx, where, elem, "D", new)
                elem.value = new
        else:
            raise ValueError(f"unknown action {action!r} for {rule.name}")


def _clean_items(elem: Any, ctx: _Context, where: str) -> None:
    if elem.VR == "SQ":
        for i, item in enumerate(elem.value):
            _clean(item, ctx, f"{where}[{i}].")


def deidentify(dataset: Any, *, salt: str, date_shift_days: int | None = None,
               log: list | None = None) -> Any:
    """De-identify a DICOM dataset with the Basic Application Level Confidentiality Profile.

    Applies Table E.1-1 of PS3.15 Annex E to every element, nested sequences and
    the file meta information included: ``X`` removes, ``Z`` empties, ``D`` writes
    a dummy (text: a keyed :func:`pseudonym`), ``U`` maps each UID with
    :func:`new_uid`; private tags are removed. Pixel data are not touched. Then it
    records what was done: ``PatientIdentityRemoved = YES``,
    ``DeidentificationMethod`` and ``DeidentificationMethodCodeSequence``
    (DCM 113100, plus 113107 when dates were shifted) and
    ``LongitudinalTemporalInformationModified``.

    Parameters
    ----------
    dataset
        A :class:`pydicom.Dataset` (never modified) or the path of a DICOM file.
    salt
        Secret string that keys UIDs and pseudonyms: the same salt maps the files
        of one study consistently; keep it, or throw it away for anonymisation.
    date_shift_days
        None: dates follow the Basic profile (emptied or dummy). A whole number:
        the *Retain Longitudinal Temporal Information with Modified Dates* option,
        every date the option lists shifted by this many days (use one secret
        shift per patient, so intervals between a patient's studies survive).
    log
        A list to which one dict per changed element is appended (path, tag,
        keyword, VR, action, before, after).

    Returns
    -------
    pydicom.Dataset
        A new dataset (a deep copy of a ``FileDataset`` keeps its preamble and meta).

    Raises
    ------
    TypeError
        Not a dataset or a path; a salt that is not a string.
    FileNotFoundError
        A path that does not exist.
    ValueError
        An empty salt.

    Warns
    -----
    UserWarning
        When ``BurnedInAnnotation`` is ``YES``: text burned into the pixels is not
        removed by a header profile (that is the *Clean Pixel Data* option).
    """
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes

    source = _as_dataset(dataset)
    ctx = _Context(_check_salt(salt), _check_shift(date_shift_days), log)
    out = copy.deepcopy(source)
    if str(out.get("BurnedInAnnotation", "")).upper() == "YES":
        warnings.warn("BurnedInAnnotation is YES: the pixels may show identifying text, which header "
                      "de-identification does not remove", UserWarning, stacklevel=2)
    _clean(out, ctx)
    if getattr(out, "file_meta", None) is not None:
        _clean(out.file_meta, ctx, "file_meta.")  # the same UID map: equal UIDs stay equal
    out.PatientIdentityRemoved = "YES"
    methods = [codes.DCM.BasicApplicationConfidentialityProfile]
    out.DeidentificationMethod = "PS3.15 E.1-1 Basic Profile (medlab.privacy)"
    if ctx.shift is not None:
        methods.append(codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption)
        out.DeidentificationMethod = [out.DeidentificationMethod, "Modified Dates option"]
    items = []
    for code in methods:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = (
            code.value, code.scheme_designator, code.meaning)
        items.append(item)
    out.DeidentificationMethodCodeSequence = items
    out.LongitudinalTemporalInformationModified = "REMOVED" if ctx.shift is None else "MODIFIED"
    return out


# --------------------------------------------------------------------------- checks
def find_identifiers(dataset: Any) -> list[dict[str, str]]:
    """List every non-empty element that may identify a patient, a date, a place or a device.

    Walks the whole dataset, nested sequences and file meta included, and flags
    an element when

    * it is private (odd group): vendors store anything there, names included;
    * Table E.1-1 gives it an action other than K (identifiers, names, dates,
      institutions, devices, free text, instance UIDs, overlays and curves);
    * its VR says person name (PN) or date (DA, DT), whatever the table says;
    * it is ``BurnedInAnnotation = YES``: the identity is in the pixels.

    Parameters
    ----------
    dataset
        A pydicom Dataset or the path of a DICOM file.

    Returns
    -------
    list of dict
        ``path, tag, keyword, VR, value, reason`` per flagged element.
    """
    ds = _as_dataset(dataset)
    found: list[dict[str, str]] = []
    meta = getattr(ds, "file_meta", None)
    for prefix, part in (("file_meta.", meta), ("", ds)):
        if part is not None:
            _scan(part, prefix, found)
    return found


def _scan(ds: Any, path: str, found: list) -> None:
    for elem in ds:
        where = f"{path}{elem.keyword or str(elem.tag)}"
        reason = _reason(elem)
        if reason:
            found.append({"path": where, "tag": f"({elem.tag.group:04X},{elem.tag.element:04X})",
                          "keyword": elem.keyword or "(private)", "VR": elem.VR,
                          "value": _short(elem.value, elem.VR), "reason": reason})
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                _scan(item, f"{where}[{i}].", found)


def _reason(elem: Any) -> str:
    if elem.VR == "SQ":
        empty = not elem.value
    else:
        empty = not _values(elem) or all(str(v).strip() == "" for v in _values(elem))
    if elem.tag.is_private:
        return "" if empty else "private tag"
    if empty:
        return ""
    if elem.keyword == "BurnedInAnnotation":
        return "text burned into the pixels" if str(elem.value).upper() == "YES" else ""
    rule = rule_for(elem.tag)
    if rule is not None and rule.action != "K":
        return f"Table E.1-1: {rule.action}"
    if elem.VR == "PN":
        return "person name (PN)"
    if elem.VR in ("DA", "DT"):
        return "date (DA/DT)"
    return ""


def _strings(ds: Any, path: str = "") -> list[tuple[str, str]]:
    out = []
    for elem in ds:
        where = f"{path}{elem.keyword or str(elem.tag)}"
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                out += _strings(item, f"{where}[{i}].")
        elif elem.VR not in _BYTES_VRS and elem.value is not None:
            out += [(where, str(v)) for v in _values(elem)]
    return out


def surviving_values(original: Any, deidentified: Any, min_length: int = 4) -> list[dict[str, str]]:
    """Original identifying values found anywhere in a de-identified dataset.

    The independent check of :func:`deidentify`: it does not replay the table's
    actions, it looks for the old values. It collects the text of every element
    :func:`find_identifiers` flags in ``original`` (values of at least
    ``min_length`` characters), drops the values that the original also holds in
    an element nobody flags (a manufacturer's name that equals the institution's
    is not a secret the profile could hide), and, when the copy says its dates
    were shifted (``LongitudinalTemporalInformationModified = MODIFIED``), the
    times and time-zone offsets that option keeps on purpose. Then it scans every
    element of ``deidentified``, nested sequences and file meta included, for any
    remaining value as a substring.

    Returns
    -------
    list of dict
        ``path, value, found_in`` per surviving value (empty when nothing survived).
    """
    before, after = _as_dataset(original), _as_dataset(deidentified)
    shifted = str(after.get("LongitudinalTemporalInformationModified", "")).upper() == "MODIFIED"
    secrets, public = set(), []
    for prefix, part in (("file_meta.", getattr(before, "file_meta", None)), ("", before)):
        if part is None:
            continue
        flagged = {f["path"] for f in _flagged(part, prefix, shifted)}
        for where, text in _strings(part, prefix):
            if where in flagged and len(text.strip()) >= min_length:
                secrets.add(text.strip())
            elif where not in flagged:
                public.append(text)
    secrets = {s for s in secrets if not any(s in text for text in public)}
    hits = []
    for prefix, part in (("file_meta.", getattr(after, "file_meta", None)), ("", after)):
        if part is None:
            continue
        for where, text in _strings(part, prefix):
            hits += [{"path": where, "value": s, "found_in": text} for s in sorted(secrets)
                     if s == text.strip() or (s in text and not _generated(text))]
    return hits


def _generated(text: str) -> bool:
    """A value :func:`deidentify` writes (a dummy, a pseudonym, a new UID): it may contain an old
    short value by chance (``"ANON"`` inside ``"ANON79A2..."``) without leaking it."""
    text = text.strip()
    return (text in (DUMMY_DATE, DUMMY_DATETIME, DUMMY_TIME) or text.startswith("2.25.")
            or (len(text) == 14 and text.startswith("ANON")))


def _flagged(ds: Any, prefix: str, shifted: bool) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    _scan(ds, prefix, found)
    if not shifted:
        return found

    def kept_by_option(f: dict[str, str]) -> bool:
        rule = rule_for(int(f["tag"][1:5] + f["tag"][6:10], 16))
        return rule is not None and rule.modified_dates == "C" and f["VR"] not in ("DA", "DT")

    return [f for f in found if not kept_by_option(f)]


# --------------------------------------------------------------------------- federated learning
def split_hospitals(labels: Any, sizes: Sequence[int], positive_shares: Sequence[float],
                    seed: int = 0) -> list[np.ndarray]:
    """Split a labelled training set into simulated hospitals of different size and case mix.

    Each hospital draws, without replacement and disjoint from the others,
    ``round(size * share)`` positive and the rest negative cases (non-IID data).

    Parameters
    ----------
    labels
        Binary labels ``(n,)`` or ``(n, 1)``.
    sizes
        Number of cases per hospital.
    positive_shares
        Share of positive cases (class 1) per hospital, each in [0, 1].
    seed
        Seed of the draw.

    Returns
    -------
    list of numpy.ndarray
        Sorted indices into ``labels``, one array per hospital.

    Raises
    ------
    ValueError
        Mismatched lengths, shares outside [0, 1], or more cases of a class than exist.
    """
    y = np.asarray(labels).reshape(len(labels), -1)[:, 0]
    if len(sizes) != len(positive_shares) or not len(sizes):
        raise ValueError("give one size and one positive share per hospital")
    if any(not 0 <= s <= 1 for s in positive_shares) or any(int(n) < 1 for n in sizes):
        raise ValueError("sizes must be positive and positive_shares must lie in [0, 1]")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be binary (0/1)")
    rng = np.random.default_rng(seed)
    pools = {c: list(rng.permutation(np.flatnonzero(y == c))) for c in (0, 1)}
    need = {1: sum(round(n * s) for n, s in zip(sizes, positive_shares, strict=True))}
    need[0] = sum(int(n) for n in sizes) - need[1]
    for c in (0, 1):
        if need[c] > len(pools[c]):
            raise ValueError(f"the hospitals need {need[c]} cases of class {c}, only {len(pools[c])} exist")
    out = []
    for n, share in zip(sizes, positive_shares, strict=True):
        k = round(int(n) * share)
        pos, pools[1] = pools[1][:k], pools[1][k:]
        neg, pools[0] = pools[0][: int(n) - k], pools[0][int(n) - k:]
        out.append(np.sort(np.array(pos + neg, dtype=np.int64)))
    return out


def average_weights(weight_sets: Sequence[Sequence[np.ndarray]], sizes: Sequence[float]) -> list[np.ndarray]:
    """FedAvg's server step: the average of the clients' weights, weighted by their data sizes.

    ``w = sum_k (n_k / n) * w_k`` for every weight array (McMahan et al., 2017).

    Parameters
    ----------
    weight_sets
        One list of arrays per client (as ``model.get_weights()`` returns), all of
        the same shapes.
    sizes
        Number of training examples of each client.
    """
    if len(weight_sets) != len(sizes) or not len(sizes):
        raise ValueError(f"{len(weight_sets)} weight sets but {len(sizes)} sizes")
    n = np.asarray(sizes, dtype=np.float64)
    if np.any(n < 0) or n.sum() <= 0:
        raise ValueError("sizes must be non-negative and not all zero")
    shapes = [tuple(np.shape(w) for w in ws) for ws in weight_sets]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("all clients must send weights of the same shapes (the same model)")
    share = n / n.sum()
    return [sum(s * np.asarray(ws[i], dtype=np.float64) for s, ws in zip(share, weight_sets, strict=True))
            .astype(np.asarray(weight_sets[0][i]).dtype) for i in range(len(weight_sets[0]))]


def clip_update(update: Sequence[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Scale a model update (a list of arrays) down to an L2 norm of at most ``max_norm``.

    The first half of the differential-privacy recipe for federated learning:
    after clipping, no single client can move the model by more than
    ``max_norm``, so noise of a known scale can hide its contribution.

    Returns
    -------
    (list of numpy.ndarray, float)
        The clipped update and the norm before clipping.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    norm = float(np.sqrt(sum(float(np.sum(np.square(u, dtype=np.float64))) for u in update)))
    scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
    return [np.asarray(u) * np.asarray(scale, dtype=np.asarray(u).dtype) for u in update], norm


# --------------------------------------------------------------------------- membership inference
def example_losses(labels: Any, probabilities: Any, eps: float = 1e-7) -> np.ndarray:
    """Binary cross-entropy of every example: ``-log p`` for class 1, ``-log(1 - p)`` for class 0."""
    y = np.asarray(labels, dtype=np.float64).reshape(len(labels), -1)[:, 0]
    p = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), eps, 1 - eps)
    if len(p) != len(y):
        raise ValueError(f"{len(y)} labels but {len(p)} probabilities")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def membership_auc(member_losses: Any, nonmember_losses: Any, *, n_boot: int = 1000, seed: int = 0,
                   statistic: Callable | None = None) -> Any:
    """AUC of the loss-threshold membership attack, with a bootstrap interval.

    The attacker guesses "was in the training set" when an example's loss is low
    (Yeom et al., 2018): the score is ``-loss``, the truth is membership. 0.5 means
    the model leaks nothing this attack can see; 1.0 means every member is found.

    Returns
    -------
    medlab.metrics.BootstrapResult
    """
    from sklearn.metrics import roc_auc_score

    from medlab.metrics import bootstrap_ci

    m = np.asarray(member_losses, dtype=np.float64).ravel()
    o = np.asarray(nonmember_losses, dtype=np.float64).ravel()
    if not len(m) or not len(o):
        raise ValueError("need at least one member and one non-member")
    truth = np.r_[np.ones(len(m), dtype=int), np.zeros(len(o), dtype=int)]
    return bootstrap_ci(truth, -np.r_[m, o], statistic or roc_auc_score, n_boot=n_boot, seed=seed)
