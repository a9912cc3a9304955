"""Tests of medlab.privacy: the PS3.15 Basic profile on real DICOM files, FedAvg and attack helpers."""

from __future__ import annotations

import copy
import datetime
import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.datadict import dictionary_description
from sklearn.metrics import log_loss, roc_auc_score

from medlab import data, privacy

SHIPPED = sorted(n for n, e in data.REGISTRY.items() if e.kind == "package" and n.endswith(".dcm"))
_TEST_DIR = Path(pydicom.data.__file__).parent / "test_files"
OTHERS = sorted(p for p in _TEST_DIR.glob("**/*.dcm")
                if p.name not in SHIPPED and p.name not in ("no_meta.dcm", "rtstruct.dcm")
                and "NoMeta" not in p.name)
SALT = "test-salt"


def _read(path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def _deid(ds, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return privacy.deidentify(ds, salt=SALT, **kw)


def _walk(ds, prefix=""):
    for elem in ds:
        where = f"{prefix}{elem.keyword or str(elem.tag)}"
        yield where, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from _walk(item, f"{where}[{i}].")


def _check_profile(original, result, shift):
    """Every Table E.1-1 attribute, at any depth, was removed, emptied or replaced as the table says."""
    after = dict(_walk(result))
    if getattr(result, "file_meta", None) is not None:
        after.update(_walk(result.file_meta, "meta."))
    parts = [("", original)]
    if getattr(original, "file_meta", None) is not None:
        parts.append(("meta.", original.file_meta))
    for prefix, part in parts:
        for where, elem in _walk(part, prefix):
            parent_gone = any(where.startswith(p + "[") for p in _removed(part, prefix))
            if parent_gone or elem.tag.element == 0:
                continue
            if elem.tag.is_private:
                assert where not in after, f"private {where} survived"
                continue
            rule = privacy.rule_for(elem.tag)
            if rule is None:
                continue
            action = privacy.effective_action(rule, shift)
            new = after.get(where)
            old_values = privacy._values(elem) if elem.VR != "SQ" else []
            if action == "X":
                assert new is None, f"{where} should be removed"
            elif action == "Z":
                assert new is not None and (new.value in (None, "", b"") or len(new.value) == 0), where
            elif action == "D" and elem.VR != "SQ":
                assert new is not None and str(new.value) != "", where
                if old_values:
                    assert str(new.value) != str(elem.value), f"{where} kept its value"
            elif action == "U":
                for old, mapped in zip(old_values, privacy._values(new), strict=True):
                    assert mapped == privacy.new_uid(old, SALT) != old, where
            elif action == "C" and elem.VR == "DA" and old_values:
                try:
                    expected = privacy.shift_date(str(elem.value), shift)
                except ValueError:
                    expected = None
                assert (new.value or None) == expected, where


def _removed(ds, prefix):
    return [w for w, e in _walk(ds, prefix) if e.VR == "SQ" and (e.tag.is_private or (
        (r := privacy.rule_for(e.tag)) and privacy.effective_action(r) in ("X", "Z")))]


# ------------------------------------------------------------------ the table itself
def test_table_is_table_e11_as_pydicom_names_it():
    rules = privacy.profile_rules()
    assert len(rules) > 600 and "2024b" in privacy.profile_source()
    agree = 0
    for r in rules:
        if "X" in r.pattern:
            continue
        name = dictionary_description(int(r.pattern, 16))  # KeyError: a garbled tag
        agree += name.lower().replace(" ", "") == r.name.lower().replace(" ", "")
    assert agree >= len(rules) - 8  # a few names differ in spacing or a note only


@pytest.mark.parametrize("keyword, action", [
    ("PatientName", "Z"), ("PatientID", "Z/D"), ("PatientBirthDate", "Z"), ("AccessionNumber", "Z"),
    ("StudyInstanceUID", "U"), ("SOPInstanceUID", "U"), ("InstitutionName", "X/Z/D"),
    ("ReferringPhysicianName", "Z"), ("StudyDate", "Z"), ("PatientAge", "X"), ("OtherPatientIDs", "X"),
    ("SOPClassUID", None), ("Modality", None), ("Rows", None),
])
def test_table_rows_spot_checked_against_the_standard(keyword, action):
    rule = privacy.rule_for(pydicom.datadict.tag_for_keyword(keyword))
    assert (rule.action if rule else None) == action


def test_repeating_groups_match():
    assert privacy.rule_for(0x60003000).action == "X"  # overlay data
    assert privacy.rule_for(0x60023000).action == "X"
    assert privacy.rule_for(0x50001234).action == "X"  # curve data


# ------------------------------------------------------------------ de-identification
@pytest.mark.parametrize("path", [data.fetch(n) for n in SHIPPED] + OTHERS, ids=lambda p: Path(p).name)
@pytest.mark.parametrize("shift", [None, -365])
def test_deidentify_every_file(path, shift):
    original = _read(path)
    before = copy.deepcopy(original)
    result = _deid(original, date_shift_days=shift)
    assert original == before, "the input was modified"
    assert result is not original
    _check_profile(original, result, shift)
    assert not any(e.tag.is_private for _, e in _walk(result))
    assert privacy.surviving_values(original, result) == []
    assert result.PatientIdentityRemoved == "YES"
    codes = [i.CodeValue for i in result.DeidentificationMethodCodeSequence]
    assert codes == (["113100"] if shift is None else ["113100", "113107"])
    if "PixelData" in original:
        assert result.PixelData == original.PixelData
    buf = io.BytesIO()
    result.save_as(buf)
    back = pydicom.dcmread(io.BytesIO(buf.getvalue()), force=getattr(original, "preamble", None) is None)
    assert back.PatientIdentityRemoved == "YES"
    if "PixelData" in original:
        assert back.PixelData == original.PixelData
    meta = getattr(original, "file_meta", None)
    if "SOPInstanceUID" in original and meta is not None and \
            meta.get("MediaStorageSOPInstanceUID") == original.SOPInstanceUID:
        assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID


def test_uids_consistent_within_a_run_and_salted():
    ds = _read(data.fetch("CT_small.dcm"))
    a, b = _deid(ds), _deid(ds)
    assert a.StudyInstanceUID == b.StudyInstanceUID != ds.StudyInstanceUID
    assert a.StudyInstanceUID.startswith("2.25.")
    other = privacy.deidentify(ds, salt="another")
    assert other.StudyInstanceUID != a.StudyInstanceUID
    # two files of one study map to one new study UID
    ds2 = copy.deepcopy(ds)
    ds2.SOPInstanceUID = pydicom.uid.generate_uid()
    c = _deid(ds2)
    assert c.StudyInstanceUID == a.StudyInstanceUID and c.SOPInstanceUID != a.SOPInstanceUID


def test_date_shift_keeps_intervals():
    ds = _read(data.fetch("CT_small.dcm"))
    ds.StudyDate, ds.ContentDate = "20200228", "20200305"
    out = _deid(ds, date_shift_days=-1000)
    days = np.datetime64(f"{out.ContentDate[:4]}-{out.ContentDate[4:6]}-{out.ContentDate[6:]}") - \
        np.datetime64(f"{out.StudyDate[:4]}-{out.StudyDate[4:6]}-{out.StudyDate[6:]}")
    assert int(days.astype(int)) == 6  # 2020 is a leap year
    assert out.StudyDate == (datetime.date(2020, 2, 28) - datetime.timedelta(days=1000)).strftime("%Y%m%d")
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert not out.get("PatientBirthDate")  # not in the option: emptied


def test_find_identifiers_sees_nested_private_and_burned_in():
    ds = _read(data.fetch("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    found = privacy.find_identifiers(ds)
    reasons = {f["reason"] for f in found}
    assert {"private tag", "text burned into the pixels"} <= reasons
    assert any(f["keyword"] == "PatientName" for f in found)
    nested = pydicom.Dataset()
    nested.PersonName = "Doe^Jane"
    ds.ContentSequence = [nested]
    assert any(f["path"] == "ContentSequence[0].PersonName" for f in privacy.find_identifiers(ds))
    with pytest.warns(UserWarning, match="BurnedInAnnotation"):
        privacy.deidentify(ds, salt=SALT)


def test_surviving_values_catches_a_copy_left_behind():
    ds = _read(data.fetch("CT_small.dcm"))
    out = _deid(ds)
    out.ImageComments = f"patient {ds.PatientName}"  # an identifier copied into free text
    hits = privacy.surviving_values(ds, out)
    assert [h["path"] for h in hits] == ["ImageComments"]


def test_bad_input_gets_clear_errors(tmp_path):
    ds = _read(data.fetch("MR_small.dcm"))
    with pytest.raises(TypeError, match="pydicom.Dataset"):
        privacy.deidentify({"PatientName": "x"}, salt=SALT)
    with pytest.raises(FileNotFoundError, match="no DICOM file"):
        privacy.deidentify(tmp_path / "missing.dcm", salt=SALT)
    with pytest.raises(ValueError, match="non-empty"):
        privacy.deidentify(ds, salt="  ")
    with pytest.raises(TypeError, match="salt"):
        privacy.deidentify(ds, salt=None)
    with pytest.raises(TypeError, match="date_shift_days"):
        privacy.deidentify(ds, salt=SALT, date_shift_days=1.5)
    assert privacy.deidentify(str(data.fetch("MR_small.dcm")), salt=SALT).PatientIdentityRemoved == "YES"


# ------------------------------------------------------------------ FedAvg and the attack
def test_average_weights_equals_numpy_weighted_average():
    rng = np.random.default_rng(0)
    sets = [[rng.normal(size=(3, 2)), rng.normal(size=4)] for _ in range(3)]
    sizes = [10, 30, 60]
    avg = privacy.average_weights(sets, sizes)
    for i in range(2):
        np.testing.assert_allclose(avg[i], np.average([s[i] for s in sets], axis=0, weights=sizes))
    with pytest.raises(ValueError):
        privacy.average_weights(sets, [1, 2])
    with pytest.raises(ValueError, match="same shapes"):
        privacy.average_weights([sets[0], [np.zeros(2), np.zeros(4)]], [1, 1])


def test_one_full_batch_step_fedavg_equals_centralised_gradient_descent():
    """FedSGD: size-weighted averaging of one gradient step per client = one step on all the data."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=60)
    w0, lr = np.zeros(3), 0.1

    def step(xs, ys):
        return w0 - lr * 2 * xs.T @ (xs @ w0 - ys) / len(ys)

    parts = [slice(0, 10), slice(10, 35), slice(35, 60)]
    fed = privacy.average_weights([[step(x[p], y[p])] for p in parts], [10, 25, 25])[0]
    np.testing.assert_allclose(fed, step(x, y))


def test_clip_update():
    u = [np.array([3.0, 0.0]), np.array([[4.0]])]
    clipped, norm = privacy.clip_update(u, 1.0)
    assert norm == pytest.approx(5.0)
    assert np.sqrt(sum(np.sum(c**2) for c in clipped)) == pytest.approx(1.0)
    same, _ = privacy.clip_update(u, 10.0)
    np.testing.assert_array_equal(same[0], u[0])
    with pytest.raises(ValueError):
        privacy.clip_update(u, 0)


def test_split_hospitals_sizes_shares_and_disjoint():
    y = np.r_[np.zeros(300, int), np.ones(700, int)]
    parts = privacy.split_hospitals(y, [400, 200, 100], [0.8, 0.5, 0.2], seed=0)
    assert [len(p) for p in parts] == [400, 200, 100]
    assert [round(y[p].mean(), 2) for p in parts] == [0.8, 0.5, 0.2]
    assert len(np.unique(np.concatenate(parts))) == 700
    with pytest.raises(ValueError, match="only"):
        privacy.split_hospitals(y, [1000], [0.5])
    with pytest.raises(ValueError):
        privacy.split_hospitals(y, [10], [1.5])


def test_example_losses_and_membership_auc_match_sklearn():
    rng = np.random.default_rng(2)
    yy, p = rng.integers(0, 2, 50), rng.uniform(0.01, 0.99, 50)
    losses = privacy.example_losses(yy, p)
    assert losses.mean() == pytest.approx(log_loss(yy, p))
    members, others = rng.normal(0.2, 0.1, 40), rng.normal(0.5, 0.2, 40)
    res = privacy.membership_auc(members, others, n_boot=200)
    truth = np.r_[np.ones(40), np.zeros(40)]
    assert res.estimate == pytest.approx(roc_auc_score(truth, -np.r_[members, others]))
    assert res.low <= res.estimate <= res.high
    with pytest.raises(ValueError):
        privacy.example_losses([0, 2], [0.5, 0.5])


@pytest.mark.parametrize("name", SHIPPED)
def test_cross_check_with_dicognito(name):
    """A maintained tool agrees on names and UIDs; it keeps what the Basic profile removes."""
    from dicognito.anonymizer import Anonymizer

    original = _read(data.fetch(name))
    ours, theirs = _deid(original), copy.deepcopy(original)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Anonymizer(seed=SALT).anonymize(theirs)
    for kw in ("PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if str(original.get(kw, "")).strip():
            assert str(theirs.get(kw, "")) != str(original.get(kw)), f"dicognito kept {kw}"
            assert str(ours.get(kw, "")) != str(original.get(kw)), f"we kept {kw}"
    assert len(privacy.surviving_values(original, ours)) <= len(privacy.surviving_values(original, theirs))
