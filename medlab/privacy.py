"""Data privacy: de-identifying DICOM, federated averaging, membership inference.

Helpers of the chapter *Data privacy* (chapters/privacy.ipynb).

* :func:`deidentify` applies the **Basic Application Level Confidentiality
  Profile** of DICOM PS3.15 Annex E to a pydicom dataset and returns a new one
  (the input is never modified). The profile's action codes come from
  ``ps315_basic_profile.json``: Table E.1-1 of the standard (edition 2024b), made
  by ``tools/make_ps315_table.py`` (in the repository); :func:`profile_source` says where from.
* :func:`find_identifiers` lists every element that may identify a patient
  (nested sequences and the file meta information included);
  :func:`identifying_values` collects the original values the profile protects, and
  :func:`surviving_values` checks that none of them is left anywhere in a
  de-identified copy (made by this module or by any other tool). It does not replay
  the table; but :func:`deidentify`'s last step runs the same search, so on that
  output it can only confirm the step ran (``remove_copies=False`` gives the table alone).
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

from medlab import validate

PROFILE_FILE = "ps315_basic_profile.json"
"""Table E.1-1 of PS3.15 as data, shipped inside medlab."""

DUMMY_DATE, DUMMY_DATETIME, DUMMY_TIME = "19000101", "19000101000000", "000000"
"""Dummy values written by the action D for dates, date-times and times."""

ACTIONS = {
    "D": "replace with a dummy value of the same VR (non-empty; a sequence: one item of dummies)",
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
        if isinstance(tag, bool) or not isinstance(tag, (int, np.integer)):
            raise TypeError(f"tag must be an integer such as 0x00100010, got {tag!r}")
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
    if isinstance(tag, bool) or not isinstance(tag, (int, np.integer)):
        raise TypeError(f"tag must be an integer such as 0x00100010 (pydicom's Tag is one), got {tag!r}")
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
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a medlab.privacy.Rule (see rule_for), got {type(rule).__name__}")
    date_shift_days = _check_shift(date_shift_days)
    if date_shift_days is not None and rule.modified_dates == "C":
        return "C"
    return _COMPOUND.get(rule.action, rule.action)


# --------------------------------------------------------------------------- input checks
# Generic checks (integers, numbers, arrays, labels, probabilities) are medlab.validate's; what is
# here is particular to de-identification: a dataset or a path, a secret salt, a date shift.
def _as_dataset(dataset: Any, name: str = "dataset") -> Any:
    import pydicom

    if isinstance(dataset, (str, os.PathLike)):
        path = Path(dataset)
        if not path.is_file():
            raise FileNotFoundError(f"{name}: no DICOM file at {str(path)!r}")
        return pydicom.dcmread(path)
    if not isinstance(dataset, pydicom.Dataset):
        raise TypeError(f"{name} must be a pydicom.Dataset (or the path of a DICOM file), got "
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


def _check_days(days: Any, name: str) -> int:
    return validate.check_int(days, name, low=-MAX_SHIFT_DAYS, high=MAX_SHIFT_DAYS)


def _check_shift(days: Any) -> int | None:
    if days is None:
        return None
    days = _check_days(days, "date_shift_days")
    if days == 0:
        raise ValueError("date_shift_days=0 keeps every date unchanged: that is the Retain Full Dates "
                         "option, not Modified Dates; give a non-zero secret shift, or None")
    return days


MAX_SHIFT_DAYS = 365_000
"""Largest date shift accepted (days): shifted dates must stay within the years 1 to 9999."""


# --------------------------------------------------------------------------- replacements
def pseudonym(value: Any, salt: str, *, length: int = 10) -> str:
    """A keyed hash of ``value``: the same input and salt give the same pseudonym.

    ``"ANON"`` followed by ``length`` upper-case hex digits of SHA-256(salt, value); ``length``
    runs from 8 (about four billion values, so two patients rarely share one) to 64.
    Without the salt the original cannot be recomputed from it (nor checked by guessing).

    Raises
    ------
    ValueError
        ``length`` outside [8, 64]: fewer than 8 hex digits (32 bits) make two patients
        likely to share a pseudonym in a large archive (``length=0`` would give every
        patient the same one); SHA-256 has 64.
    """
    length = validate.check_int(length, "length", low=8, high=64)
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

    Raises
    ------
    ValueError
        An empty ``uid`` (there is nothing to replace) or an empty salt.
    """
    key = _check_salt(salt).encode()
    text = str(uid).strip().strip("\x00")
    if not text:
        raise ValueError("uid must be a non-empty UID")
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return "2.25." + str(uuid.UUID(bytes=digest[:16], version=4).int)


def shift_date(value: str, days: int) -> str:
    """Shift a DICOM date ``YYYYMMDD`` (or the date part of a date-time) by whole days.

    The rest of a date-time (time, fraction, UTC offset) is kept, so intervals
    between any two shifted dates are unchanged.

    Raises
    ------
    ValueError
        If ``value`` does not start with a valid ``YYYYMMDD``, or the shifted date
        falls outside the years 1 to 9999.
    TypeError
        If ``days`` is not a whole number.
    """
    days = _check_days(days, "days")
    text = str(value).strip()
    day = dt.datetime.strptime(text[:8], "%Y%m%d").date()
    try:
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d") + text[8:]
    except OverflowError:
        raise ValueError(f"shifting {text[:8]} by {days} days leaves the years 1 to 9999") from None


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
    if vr == "SQ":
        return _dummy_sequence(elem, salt)
    if " or " in vr:  # pydicom's ambiguous VRs ("US or SS", "OB or OW")
        return b"\x00\x00" if "O" in vr else 0
    raise ValueError(f"no dummy value for VR {vr} ({elem.keyword or elem.tag})")


def _dummy_sequence(elem: Any, salt: str) -> list:
    """Action D on a sequence: one item that has the first item's attributes, each a dummy.

    PS3.15 E.1.1: the action codes apply to sequences too, "the action is applicable to
    the Sequence and all of its contents". D asks for a non-zero length value of the
    same VR; for a sequence that is one item, and nothing of the original items may be
    kept, so every value in it (nested sequences included) is a dummy. The number of
    items, their other attributes and every original value are gone.
    """
    from pydicom.dataset import Dataset

    if not elem.value:
        return []
    item = Dataset()
    for sub in elem.value[0]:
        if sub.tag.is_private or (sub.tag.element == 0 and sub.tag.group != 0x0002):
            continue
        empty = sub.VR != "SQ" and not _values(sub)
        item.add_new(sub.tag, sub.VR, None if empty else _dummy(sub, salt))
    return [item]


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
_BY_VR = {"PN": "Z", "DA": "C", "DT": "C", "TM": "C"}
"""Attributes the table does not list are handled by their VR when it says person name, date or
time (PS3.15 E.1.1, Note 4: "handling all dates and times on the basis of their Value
Representation"): all emptied (``"Z"``), or, with the Modified Dates option, the actions above:
dates shifted and times kept (``"C"``), person names still emptied (the option cleans dates and
times, never names)."""


def action_for(tag: Any, vr: str, date_shift_days: int | None = None) -> str:
    """The action :func:`deidentify` applies to an element: Table E.1-1, then the VR rule.

    Private tags: ``"X"``; group lengths: ``"X"``; listed attributes:
    :func:`effective_action`; unlisted PN, DA, DT and TM: ``"Z"`` (with a date shift,
    ``"C"`` for DA, DT and TM, while PN stays ``"Z"``); everything else: ``"K"``
    (sequences: keep, and clean their items).
    """
    if not isinstance(vr, str):
        raise TypeError(f"vr must be a DICOM value representation such as 'PN', got {vr!r}")
    from pydicom.tag import Tag

    tag = Tag(tag)
    if tag.is_private or (tag.element == 0 and tag.group != 0x0002):
        return "X"
    rule = rule_for(tag)
    if rule is not None:
        return effective_action(rule, date_shift_days)
    if vr in _BY_VR:
        return _BY_VR[vr] if date_shift_days is not None else "Z"
    return "K"


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
        action = action_for(tag, elem.VR, ctx.shift)
        if tag.is_private:
            _record(ctx, where, elem, "X (private)", None)
            del ds[tag]
        elif action == "X":
            if tag.element != 0:  # group lengths go silently: they would no longer be right
                _record(ctx, where, elem, "X", None)
            del ds[tag]
        elif action in ("K", "U*"):
            _clean_items(elem, ctx, where)  # K: keep, U*: keep the sequence; both clean the items
        elif action == "Z":
            new = [] if elem.VR == "SQ" else None
            _record(ctx, where, elem, "Z", new)
            elem.value = new
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
            new = _dummy(elem, ctx.salt)
            _record(ctx, where, elem, "D", new)
            elem.value = new
        else:
            raise ValueError(f"unknown action {action!r} for {where}")


def _clean_items(elem: Any, ctx: _Context, where: str) -> None:
    if elem.VR == "SQ":
        for i, item in enumerate(elem.value or []):
            _clean(item, ctx, f"{where}[{i}].")


def _new_file_meta(meta: Any, ctx: _Context) -> Any:
    """PS3.15 E.1.1 (7): the file meta information is replaced by a description of the
    de-identifying application; only what a reader needs is carried over (class, UID mapped
    like the dataset's, transfer syntax). Source/sending/receiving AE titles and private
    information do not survive."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

    new = FileMetaDataset()
    new.FileMetaInformationVersion = b"\x00\x01"
    for kw in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"):
        if kw in meta:
            new[kw] = copy.deepcopy(meta[kw])
    _clean(new, ctx, "file_meta.")
    new.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    new.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    for elem in meta:
        if elem.keyword not in new and ctx.log is not None:
            _record(ctx, f"file_meta.{elem.keyword or elem.tag}", elem, "X (file meta replaced)", None)
    return new


IMPLEMENTATION_VERSION_NAME = "MEDLAB_DEID"
"""Implementation Version Name written into the new file meta information."""


def _remove_copies(ds: Any, secrets: dict[str, str], ctx: _Context, path: str = "") -> None:
    """Replace every element that still holds an original identifying value (a copy of a
    protected value in an element the profile keeps) by a dummy, as action D would."""
    for elem in list(ds):
        where = f"{path}{elem.keyword or str(elem.tag)}"
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                _remove_copies(item, secrets, ctx, f"{where}[{i}].")
            continue
        if action_for(elem.tag, elem.VR, ctx.shift) == "C":
            continue  # the Modified Dates option's work: shifted dates keep their times on purpose
        hit = next((s for text in _texts(elem) for s in secrets if _holds(text, s)), None)
        if hit is not None:
            new = _dummy(elem, ctx.salt)
            _record(ctx, where, elem, f"D (held a copy of {secrets[hit]})", new)
            elem.value = new


def deidentify(dataset: Any, *, salt: str, date_shift_days: int | None = None,
               remove_copies: bool = True, log: list | None = None) -> Any:
    """De-identify a DICOM dataset with the Basic Application Level Confidentiality Profile.

    Applies Table E.1-1 of PS3.15 Annex E to every element, nested sequences and
    the file meta information included: ``X`` removes, ``Z`` empties, ``D`` writes
    a dummy (text: a keyed :func:`pseudonym`; a sequence: one item of dummies, so a
    structured report's Content Sequence keeps none of its text), ``U`` maps each UID
    with :func:`new_uid`, ``K`` keeps and cleans a sequence's items; private tags are
    removed; person names, dates and times the table does not list are emptied
    (:func:`action_for`). The file meta information is replaced (only class, mapped
    instance UID and transfer syntax carried over) and the preamble zeroed.

    Then, unless ``remove_copies=False``, it goes beyond the profile's table: every
    element that still holds an original identifying value (:func:`identifying_values`),
    for example a name copied into a kept free-text attribute, is replaced by a dummy.
    This step is the same search :func:`surviving_values` runs, so that check cannot
    find a survivor after it (by construction); run the table alone to see what the
    table misses. It is *not* the Clean Descriptors or Clean Structured Content option
    (which remove any identifying text, known or not); it removes copies of the values
    the profile protects. Pixel data are not touched. Last, it records what was done:
    ``PatientIdentityRemoved = YES``,
    ``DeidentificationMethod``, ``DeidentificationMethodCodeSequence`` (DCM 113100,
    plus 113107 when dates were shifted) and ``LongitudinalTemporalInformationModified``.

    Parameters
    ----------
    dataset
        A :class:`pydicom.Dataset` (never modified) or the path of a DICOM file.
    salt
        Secret string that keys UIDs and pseudonyms: the same salt maps the files
        of one study consistently; keep it, or throw it away for anonymisation.
    date_shift_days
        None: dates follow the Basic profile (emptied or dummy). A non-zero whole
        number: the *Retain Longitudinal Temporal Information with Modified Dates*
        option, every date the option lists shifted by this many days (use one secret
        shift per patient, so intervals between a patient's studies survive); times of
        day and the time-zone offset, which the option also marks C, are kept. Dates
        and times the table does not list are shifted and kept the same way; person
        names the table does not list are emptied with or without a shift.
    remove_copies
        True (default): after the table, replace every element that still holds a
        copy of a protected original value. False: the table's actions alone (with
        the file meta replaced and the method recorded), the profile as PS3.15 prints it.
    log
        A list to which one dict per changed element is appended (path, tag,
        keyword, VR, action, before, after).

    Returns
    -------
    pydicom.Dataset
        A new dataset (a deep copy; a ``FileDataset`` keeps a zeroed preamble).

    Raises
    ------
    TypeError
        Not a dataset or a path; a salt that is not a string; a shift that is not a
        whole number; ``remove_copies`` not True or False; a log that is not a list.
    FileNotFoundError
        A path that does not exist.
    ValueError
        An empty salt; a shift of 0 days or of more than :data:`MAX_SHIFT_DAYS`.

    Warns
    -----
    UserWarning
        When ``BurnedInAnnotation`` is ``YES``: text burned into the pixels is not
        removed by a header profile (that is the *Clean Pixel Data* option).
    """
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes

    source = _as_dataset(dataset)
    if log is not None and not isinstance(log, list):
        raise TypeError(f"log must be a list (or None), got {type(log).__name__}")
    if not isinstance(remove_copies, bool):
        raise TypeError(f"remove_copies must be True or False, got {remove_copies!r}")
    ctx = _Context(_check_salt(salt), _check_shift(date_shift_days), log)
    out = copy.deepcopy(source)
    if str(out.get("BurnedInAnnotation", "")).upper() == "YES":
        warnings.warn("BurnedInAnnotation is YES: the pixels may show identifying text, which header "
                      "de-identification does not remove", UserWarning, stacklevel=2)
    _clean(out, ctx)
    if getattr(out, "file_meta", None) is not None:
        out.file_meta = _new_file_meta(out.file_meta, ctx)  # the same UID map: equal UIDs stay equal
    if getattr(out, "preamble", None) is not None:
        out.preamble = b"\x00" * 128
    if remove_copies:
        secrets = {s: src for s, src, _ in _identifying(source, 4)}
        _remove_copies(out, secrets, ctx)
        if getattr(out, "file_meta", None) is not None:
            _remove_copies(out.file_meta, secrets, ctx, "file_meta.")
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
    * its VR says person name (PN), date (DA, DT) or time (TM), whatever the table says;
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
    if elem.VR in ("DA", "DT", "TM"):
        return f"date or time ({elem.VR})"
    return ""


_SEARCH_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
"""VRs whose values :func:`identifying_values` collects: text, names, dates, times and UIDs. Numbers
(a weight, a size) are not: they coincide with measurements everywhere and name no one."""

_NOT_SECRET_INSIDE = {"CodingSchemeDesignator", "CodingSchemeVersion", "CodingSchemeUID", "ValueType",
                      "RelationshipType", "ContinuityOfContent"}
"""Inside a protected sequence, attributes that name a vocabulary or a structure, never a person:
the same values occur in every structured report."""

_PIXEL_LIKE = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0x54001010}
"""Pixel Data, Float and Double Float Pixel Data, Waveform Data: numbers, not searched for text."""


def _texts(elem: Any) -> list[str]:
    """Every value of an element as text (bytes decoded as Latin-1; pixel data skipped)."""
    if elem.VR == "SQ" or elem.value is None or int(elem.tag) in _PIXEL_LIKE:
        return []
    if isinstance(elem.value, bytes):
        return [elem.value.decode("latin-1")]
    return [str(v) for v in _values(elem)]


def _variants(value: str, vr: str, min_length: int) -> list[str]:
    """The forms a value may take when it is copied into text: itself; a person name written out
    (``Doe^Jane`` as ``Jane Doe``, ``Doe Jane`` and ``Doe, Jane``); a date in ISO form."""
    text = value.strip().strip("\x00").strip()
    out = [text]
    if vr == "PN":
        family, _, rest = text.split("=")[0].partition("^")
        given = " ".join(p for p in rest.split("^") if p.strip())
        if family.strip() and given:
            out += [f"{given} {family}", f"{family} {given}", f"{family}, {given}"]
    if vr in ("DA", "DT") and len(text) >= 8 and text[:8].isdigit():
        out.append(f"{text[:4]}-{text[4:6]}-{text[6:8]}")
    return [v for v in dict.fromkeys(out) if len(v) >= min_length]


def _identifying(ds: Any, min_length: int) -> list[tuple[str, str, str]]:
    """(value, path, reason) of every original value the profile protects; see identifying_values."""
    strong, weak, public = [], [], []

    def walk(part: Any, path: str, inside: str) -> None:
        for elem in part:
            where = f"{path}{elem.keyword or str(elem.tag)}"
            action = action_for(elem.tag, elem.VR)
            if elem.VR == "SQ":
                if elem.tag.is_private:
                    why = "inside a private sequence"
                elif action in ("X", "Z", "D"):
                    why = f"inside a sequence the profile protects ({action})"
                else:
                    why = inside
                for i, item in enumerate(elem.value or []):
                    walk(item, f"{where}[{i}].", why)
                continue
            if elem.tag.is_private and isinstance(elem.value, bytes):  # a private value of unknown VR
                text = elem.value.decode("latin-1").strip("\x00 ")
                if len(text) >= min_length and text.isprintable():
                    weak.append((text, where, "private tag (bytes read as text)"))
                continue
            if elem.VR not in _SEARCH_VRS:
                continue
            texts = [t for t in _texts(elem) if t.strip()]
            if elem.tag.is_private:
                bucket, why = weak, "private tag"
            elif action != "K":
                bucket, why = strong, f"Table E.1-1: {rule.action}" if (rule := rule_for(elem.tag)) \
                    else f"{elem.VR} by VR"
            elif inside and elem.keyword not in _NOT_SECRET_INSIDE and elem.VR != "CS":
                bucket, why = weak, inside
            else:
                public.extend(texts)
                continue
            for t in texts:
                if elem.VR == "UI" and t.strip().startswith(_STANDARD_UID_ROOT):
                    continue  # a UID the DICOM standard defines (SOP class, transfer syntax): public
                bucket.extend((v, where, why) for v in _variants(t, elem.VR, min_length))

    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        walk(meta, "file_meta.", "")
    walk(ds, "", "")
    # A private or nested value that the original also shows in an attribute the profile keeps is
    # not a secret the profile could hide (a vendor tag repeating Body Part Examined); a value of an
    # attribute the profile protects by name (strong) always counts, wherever else it appears.
    weak = [w for w in weak if not any(_holds(text, w[0]) for text in public)]
    seen: dict[str, tuple[str, str, str]] = {}
    for row in strong + weak:
        seen.setdefault(row[0].casefold(), row)
    return list(seen.values())


_STANDARD_UID_ROOT = "1.2.840.10008."


def _holds(text: str, secret: str) -> bool:
    """Whether ``text`` shows ``secret``, case-insensitively: as the whole value, or inside a value
    that :func:`deidentify` did not generate, as long as it is not glued to more of the same kind
    (``12345`` is in ``MRN12345`` and ``TOSHIBA`` in ``TOSHIBA_MEC``, but ``0000`` is not in
    ``6.000000``)."""
    t, s = text.strip().casefold(), secret.strip().casefold()
    if not s:
        return False
    if s == t:
        return True
    if _generated(text):
        return False
    start = t.find(s)
    while start >= 0:
        end = start + len(s)
        if not (_glued(t, start - 1, s[0]) or _glued(t, end, s[-1])):
            return True
        start = t.find(s, start + 1)
    return False


def _glued(text: str, i: int, c: str) -> bool:
    """Whether ``text[i]`` continues a word or number that ends in ``c``."""
    if not 0 <= i < len(text):
        return False
    return (c.isdigit() and text[i].isdigit()) or (c.isalpha() and text[i].isalpha())


def identifying_values(dataset: Any, *, min_length: int = 4) -> list[dict[str, str]]:
    """Every original value that the Basic profile protects, as the check searches for it.

    A value is collected (at least ``min_length`` characters, text VRs only) when

    * its element is one the profile acts on by name or VR: a Table E.1-1 row whose
      action is not K, or an unlisted person name, date or time (:func:`action_for`);
    * it is the value of a private tag, or of any attribute nested in a sequence the
      profile removes, empties or replaces (X, Z or D: "the action is applicable to the
      Sequence and all of its contents", PS3.15 E.1.1), except code strings and the
      attributes that name a vocabulary (coding scheme) or an SR structure, and except
      when the original shows the same value in an attribute the profile keeps (a
      vendor tag that repeats the body part is not a secret).

    UIDs defined by the standard itself (root ``1.2.840.10008``) are never collected.
    Each value also gives the forms a copy may take: a person name written out
    (``Doe^Jane`` gives ``Jane Doe``, ``Doe Jane`` and ``Doe, Jane``) and a date's ISO
    form (``20200228`` gives ``2020-02-28``).

    Returns
    -------
    list of dict
        ``value, path, reason`` per distinct value (case-insensitive).
    """
    min_length = validate.check_int(min_length, "min_length", low=1)
    rows = _identifying(_as_dataset(dataset, "dataset"), min_length)
    return [{"value": v, "path": p, "reason": r} for v, p, r in rows]


def surviving_values(original: Any, deidentified: Any, *, min_length: int = 4) -> list[dict[str, str]]:
    """Original identifying values found anywhere in a de-identified dataset.

    The check of a de-identifier (this module's or any other): it does not replay the
    table's actions, it looks for the old values. :func:`deidentify` ends with the same
    search (unless ``remove_copies=False``), so on its output a clean result is by
    construction; the check tests the table alone, or another tool. A clean result
    means that none of the values collected from the original was found, not that
    nothing identifying is left (text in pixels, values the collection does not cover). It collects
    :func:`identifying_values` of ``original`` and searches **every** element of
    ``deidentified`` for them, kept elements, private tags, nested sequences, binary
    values (read as Latin-1 text) and file meta included, case-insensitively: a value
    survives where an element equals it, or contains it as a word or number of its own
    (``12345`` in ``MRN 12345`` or ``MRN12345``, not in ``6.0123456``), unless that element
    holds a value the de-identifier generated (a dummy date, a ``2.25.`` UID, an ``ANON``
    pseudonym), which can contain a short old value by chance. It grants no exemption
    for options: times or time-zone offsets kept on purpose (the Modified Dates option)
    are reported like any other surviving value, whichever tool kept them.

    Parameters
    ----------
    original, deidentified
        Datasets (or paths) before and after de-identification.
    min_length
        Shortest value searched for (shorter ones, such as a sex code, occur everywhere).

    Returns
    -------
    list of dict
        ``value, source, path, found_in`` per surviving value and element where it was
        found: ``source`` is where the value was in the original, ``path`` where it is now.
    """
    min_length = validate.check_int(min_length, "min_length", low=1)
    before = _as_dataset(original, "original")
    after = _as_dataset(deidentified, "deidentified")
    secrets = _identifying(before, min_length)
    hits = []
    for prefix, part in (("file_meta.", getattr(after, "file_meta", None)), ("", after)):
        if part is None:
            continue
        for where, elem in _walk_elements(part, prefix):
            for text in _texts(elem):
                hits += [{"value": s, "source": src, "path": where, "found_in": _short(text, "LT", 60)}
                         for s, src, _ in secrets if _holds(text, s)]
    return hits


def _walk_elements(ds: Any, path: str = ""):
    for elem in ds:
        where = f"{path}{elem.keyword or str(elem.tag)}"
        yield where, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from _walk_elements(item, f"{where}[{i}].")


def _generated(text: str) -> bool:
    """A value :func:`deidentify` writes (a dummy, a pseudonym, a new UID): it may contain an old
    short value by chance (``"ANON"`` inside ``"ANON79A2..."``) without leaking it."""
    text = text.strip()
    return (text in (DUMMY_DATE, DUMMY_DATETIME, DUMMY_TIME) or text.startswith("2.25.")
            or (text.startswith("ANON") and len(text) >= 12 and set(text[4:]) <= set("0123456789ABCDEF")))


# --------------------------------------------------------------------------- federated learning
def _finite_vector(values: Any, name: str) -> np.ndarray:
    """A one-dimensional, finite, numeric (not boolean) argument as float64 (medlab.validate's checks)."""
    arr = validate.check_array(values, name, ndim=1, kind="numeric", finite=True)
    if arr.dtype.kind in "bc":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _binary_labels(labels: Any, name: str = "labels") -> np.ndarray:
    """Labels 0/1, ``(n,)`` or ``(n, 1)``, at least one (medlab.validate's check_labels)."""
    y = validate.check_labels(labels, 2, name=name)
    if not len(y):
        raise ValueError(f"{name} must hold at least one label")
    return y


def split_hospitals(labels: Any, sizes: Sequence[int], positive_shares: Sequence[float], *,
                    seed: int = 0) -> list[np.ndarray]:
    """Split a labelled training set into simulated hospitals of different size and case mix.

    Each hospital draws, without replacement and disjoint from the others,
    ``round(size * share)`` positive and the rest negative cases (non-IID data).

    Parameters
    ----------
    labels
        Binary labels ``(n,)`` or ``(n, 1)``.
    sizes
        Number of cases per hospital (whole numbers, at least 1).
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
        Mismatched lengths, sizes below 1 or not whole, shares outside [0, 1] (or NaN),
        labels other than 0/1, or more cases of a class than exist.
    """
    y = _binary_labels(labels)
    n_k = _finite_vector(sizes, "sizes")
    shares = _finite_vector(positive_shares, "positive_shares")
    if len(n_k) != len(shares) or not len(n_k):
        raise ValueError(f"give one size and one positive share per hospital: {len(n_k)} sizes, "
                         f"{len(shares)} positive_shares")
    if np.any(n_k < 1) or np.any(n_k != np.round(n_k)):
        raise ValueError(f"sizes must be whole numbers of at least 1, got {n_k.tolist()}")
    if np.any((shares < 0) | (shares > 1)):
        raise ValueError(f"positive_shares must lie in [0, 1], got {shares.tolist()}")
    validate.check_int(seed, "seed", low=0)
    rng = np.random.default_rng(seed)
    pools = {c: list(rng.permutation(np.flatnonzero(y == c))) for c in (0, 1)}
    counts = [(int(n), round(int(n) * float(sh))) for n, sh in zip(n_k, shares, strict=True)]
    need = {1: sum(k for _, k in counts)}
    need[0] = sum(n for n, _ in counts) - need[1]
    for c in (0, 1):
        if need[c] > len(pools[c]):
            raise ValueError(f"the hospitals need {need[c]} cases of class {c}, only {len(pools[c])} exist")
    out = []
    for n, k in counts:
        pos, pools[1] = pools[1][:k], pools[1][k:]
        neg, pools[0] = pools[0][: n - k], pools[0][n - k:]
        out.append(np.sort(np.array(pos + neg, dtype=np.int64)))
    return out


def average_weights(weight_sets: Sequence[Sequence[np.ndarray]], sizes: Sequence[float]) -> list[np.ndarray]:
    """FedAvg's server step: the average of the clients' weights, weighted by their data sizes.

    ``w = sum_k (n_k / n) * w_k`` for every weight array (McMahan et al., 2017).

    Parameters
    ----------
    weight_sets
        One list of arrays per client (as ``model.get_weights()`` returns), all of
        the same shapes and finite.
    sizes
        Number of training examples of each client (finite, non-negative, not all zero).

    Raises
    ------
    ValueError
        Mismatched numbers of clients or shapes, NaN or infinite weights or sizes,
        negative sizes, or sizes that sum to zero.
    """
    n = _finite_vector(sizes, "sizes")
    if isinstance(weight_sets, np.ndarray) or not isinstance(weight_sets, Sequence):
        raise TypeError(f"weight_sets must be a list with one list of arrays per client, got "
                        f"{type(weight_sets).__name__}")
    if len(weight_sets) != len(n) or not len(n):
        raise ValueError(f"{len(weight_sets)} weight sets but {len(n)} sizes")
    if np.any(n < 0) or n.sum() <= 0:
        raise ValueError(f"sizes must be non-negative and not all zero, got {n.tolist()}")
    arrays = []
    for k, ws in enumerate(weight_sets):
        if isinstance(ws, np.ndarray) or not isinstance(ws, Sequence) or not len(ws):
            raise TypeError(f"weight_sets[{k}] must be a non-empty list of arrays (model.get_weights())")
        client = [np.asarray(w) for w in ws]
        for i, w in enumerate(client):  # one client's NaN would poison the average
            validate.check_array(w, f"weight_sets[{k}][{i}]", kind="numeric", finite=True)
        arrays.append(client)
    shapes = [tuple(w.shape for w in ws) for ws in arrays]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("all clients must send weights of the same shapes (the same model)")
    share = n / n.sum()
    return [sum(s * ws[i].astype(np.float64) for s, ws in zip(share, arrays, strict=True))
            .astype(arrays[0][i].dtype) for i in range(len(arrays[0]))]


def clip_update(update: Sequence[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Scale a model update (a list of arrays) down to an L2 norm of at most ``max_norm``.

    The first half of the differential-privacy recipe for federated learning:
    after clipping, no single client can move the model by more than
    ``max_norm``, so noise of a known scale can hide its contribution.

    Returns
    -------
    (list of numpy.ndarray, float)
        The clipped update and the norm before clipping.

    Raises
    ------
    ValueError
        ``max_norm`` not a positive finite number; an update with NaN or inf.
    TypeError
        ``max_norm`` not a number (booleans included).
    """
    max_norm = validate.check_number(max_norm, "max_norm", low=0, low_open=True)
    arrays = [np.asarray(u) for u in update]
    if not arrays or any(not np.issubdtype(u.dtype, np.number) or not np.all(np.isfinite(u)) for u in arrays):
        raise ValueError("update must be a non-empty list of finite numeric arrays")
    norm = float(np.sqrt(sum(float(np.sum(np.square(u, dtype=np.float64))) for u in arrays)))
    scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
    return [u * np.asarray(scale, dtype=u.dtype) for u in arrays], norm


# --------------------------------------------------------------------------- membership inference
def example_losses(labels: Any, probabilities: Any, *, eps: float = 1e-7) -> np.ndarray:
    """Binary cross-entropy of every example: ``-log p`` for class 1, ``-log(1 - p)`` for class 0.

    Probabilities are clipped to ``[eps, 1 - eps]`` so that a confident mistake costs
    ``-log(eps)`` instead of infinity.

    Raises
    ------
    ValueError
        Labels other than 0/1 (or none), probabilities outside [0, 1] or NaN, mismatched
        lengths, ``eps`` outside (0, 0.5).
    TypeError
        Labels or probabilities that are not numbers; ``eps`` not a number.
    """
    eps = validate.check_number(eps, "eps", low=0, high=0.5, low_open=True, high_open=True)
    y = _binary_labels(labels).astype(np.float64)
    p = validate.check_probabilities(probabilities, "probabilities").ravel()
    validate.check_same_length(("labels", y), ("probabilities", p))
    p = np.clip(p, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def membership_auc(member_losses: Any, nonmember_losses: Any, *, n_boot: int = 1000, seed: int = 0,
                   statistic: Callable | None = None) -> Any:
    """AUC of the loss-threshold membership attack, with a bootstrap interval.

    The attacker guesses "was in the training set" when an example's loss is low
    (Yeom et al., 2018): the score is ``-loss``, the truth is membership. 0.5 means
    the model leaks nothing this attack can see; 1.0 means every member is found.
    The interval resamples members and non-members separately
    (:func:`medlab.metrics.bootstrap_ci`, stratified).

    Returns
    -------
    medlab.metrics.BootstrapResult

    Raises
    ------
    ValueError
        No member or no non-member, a loss that is NaN, infinite or negative, ``n_boot``
        below 1 or a negative ``seed``.
    """
    from sklearn.metrics import roc_auc_score

    from medlab.metrics import bootstrap_ci

    m = _finite_vector(np.ravel(member_losses), "member_losses")
    o = _finite_vector(np.ravel(nonmember_losses), "nonmember_losses")
    if not len(m) or not len(o):
        raise ValueError("need at least one member and one non-member (member_losses, nonmember_losses)")
    for name, v in (("member_losses", m), ("nonmember_losses", o)):
        if np.any(v < 0):
            raise ValueError(f"{name} must be non-negative (cross-entropy losses), got minimum {v.min():g}")
    validate.check_int(n_boot, "n_boot", low=1)
    validate.check_int(seed, "seed", low=0)
    truth = np.r_[np.ones(len(m), dtype=int), np.zeros(len(o), dtype=int)]
    return bootstrap_ci(truth, -np.r_[m, o], statistic or roc_auc_score, n_boot=n_boot, seed=seed)
