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
    """Sequences whose items do not survive as they were: removed, emptied or replaced by a dummy."""
    return [w for w, e in _walk(ds, prefix) if e.VR == "SQ" and (e.tag.is_private or (
        (r := privacy.rule_for(e.tag)) and privacy.effective_action(r) in ("X", "Z", "D")))]


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
def _element(ds, path):
    """The element at a path such as ``A[0].B`` (or ``file_meta.X``) of a dataset."""
    part = ds.file_meta if path.startswith("file_meta.") else ds
    path = path.removeprefix("file_meta.")
    elem = None
    for step in path.split("."):
        name, _, index = step.partition("[")
        tag = pydicom.datadict.tag_for_keyword(name) if not name.startswith("(") else \
            int(name.strip("()").replace(",", ""), 16)
        elem = part[tag]
        if index:
            part = elem.value[int(index.rstrip("]"))]
    return elem


def _kept_by_option(original, hit):
    """A value the Modified Dates option keeps on purpose: a time of day or a time-zone offset."""
    src = _element(original, hit["source"])
    rule = privacy.rule_for(src.tag)
    return src.VR in ("TM", "SH") and rule is not None and rule.modified_dates == "C"


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
    left = privacy.surviving_values(original, result)
    if shift is None:
        assert left == [], left
    else:  # the option keeps times of day and time-zone offsets; the check reports them all the same
        assert all(_kept_by_option(original, h) for h in left), left
    assert result.PatientIdentityRemoved == "YES"
    codes = [i.CodeValue for i in result.DeidentificationMethodCodeSequence]
    assert codes == (["113100"] if shift is None else ["113100", "113107"])
    if "PixelData" in original:
        assert result.PixelData == original.PixelData
    if getattr(result, "preamble", None) is not None:
        assert result.preamble == b"\x00" * 128
    meta = getattr(result, "file_meta", None)
    if meta is not None:  # PS3.15 E.1.1 (7): the file meta describes the de-identifier, no AE titles
        assert meta.ImplementationVersionName == privacy.IMPLEMENTATION_VERSION_NAME
        assert not {"SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                    "ReceivingApplicationEntityTitle", "PrivateInformation"} & {e.keyword for e in meta}
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


NO_META = sorted(p for p in _TEST_DIR.glob("**/*.dcm") if p.name in ("no_meta.dcm", "rtstruct.dcm")
                 or "NoMeta" in p.name)


@pytest.mark.parametrize("path", NO_META, ids=lambda p: p.name)
def test_deidentify_files_without_file_meta(path):
    """The pydicom test files that need force=True to be read: no original value survives either."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = pydicom.dcmread(path, force=True)
    result = _deid(original)
    assert privacy.surviving_values(original, result) == []
    assert not any(e.tag.is_private for _, e in _walk(result))


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


def test_table_only_profile_and_the_copy_search():
    """remove_copies=False applies Table E.1-1 alone: the one shipped value it leaves (MR_small's
    institution name, TOSHIBA, inside Manufacturer, which the table does not list) is what the
    copy search replaces; the checker finds it in the table-only output, not in the full one."""
    ds = _read(data.fetch("MR_small.dcm"))
    log_table, log_full = [], []
    table = _deid(ds, remove_copies=False, log=log_table)
    full = _deid(ds, log=log_full)
    assert privacy.rule_for(0x00080070) is None and privacy.rule_for(0x00080080).action == "X/Z/D"
    left = privacy.surviving_values(ds, table)
    assert [(h["value"], h["source"], h["path"]) for h in left] == [("TOSHIBA", "InstitutionName",
                                                                     "Manufacturer")]
    assert table.Manufacturer == ds.Manufacturer and full.Manufacturer != ds.Manufacturer
    assert privacy.surviving_values(ds, full) == []
    # the two differ in that element only, and the log says why
    extra = [r for r in log_full if r not in log_table]
    assert [(r["path"], r["action"]) for r in extra] == [
        ("Manufacturer", "D (held a copy of InstitutionName)")]
    table.Manufacturer = full.Manufacturer
    assert table == full


def test_surviving_values_catches_a_copy_left_behind():
    ds = _read(data.fetch("CT_small.dcm"))
    out = _deid(ds)
    out.ImageComments = f"patient {ds.PatientName}"  # an identifier copied into free text
    hits = privacy.surviving_values(ds, out)
    assert [h["path"] for h in hits] == ["ImageComments"]
    assert hits[0]["source"] == "PatientName"


def _structured_report():
    """A small SR document built with pydicom: the patient's name and MRN in a Content Item's text,
    an observer's name and staff code in Person Identification Code Sequence, nested two deep."""
    ds = _read(data.fetch("CT_small.dcm"))
    ds.PatientName, ds.PatientID = "Doe^Jane", "MRN-4711"
    text = pydicom.Dataset()
    text.RelationshipType, text.ValueType = "CONTAINS", "TEXT"
    text.TextValue = "Findings for Jane Doe, MRN-4711: no consolidation."
    observer = pydicom.Dataset()
    observer.RelationshipType, observer.ValueType = "HAS OBS CONTEXT", "PNAME"
    observer.PersonName = "Smith^Robert"
    container = pydicom.Dataset()
    container.ValueType, container.ContentSequence = "CONTAINER", [observer, text]
    ds.ContentSequence = [container]
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "STAFF-0815", "99HOSP", "Robert Smith"
    verifier = pydicom.Dataset()
    verifier.VerifyingObserverName = "Smith^Robert"
    verifier.VerifyingOrganization = "Springfield General"
    verifier.PersonIdentificationCodeSequence = [code]
    ds.VerifyingObserverSequence = [verifier]
    return ds


SR_SECRETS = ["Jane Doe", "MRN-4711", "Smith", "Robert", "STAFF-0815", "Springfield"]


def _text_of(ds):
    parts = [ds, ds.file_meta] if getattr(ds, "file_meta", None) is not None else [ds]
    return " ".join(str(e.value) for part in parts for _, e in _walk(part) if e.VR != "SQ").casefold()


def test_structured_report_keeps_nothing_of_its_content():
    """D on a sequence replaces the sequence and all of its contents (PS3.15 E.1.1)."""
    sr = _structured_report()
    assert all(s.casefold() in _text_of(sr) for s in SR_SECRETS)
    log = []
    out = _deid(sr, log=log)
    assert not any(s.casefold() in _text_of(out) for s in SR_SECRETS)
    assert privacy.surviving_values(sr, out) == []
    for kw in ("ContentSequence", "VerifyingObserverSequence"):  # D: one item, and every value in it a dummy
        seq = out.data_element(kw).value
        assert len(seq) == 1
        leaves = [e for _, e in _walk(seq[0]) if e.VR != "SQ"]
        assert leaves and all(privacy._generated(str(e.value)) for e in leaves), leaves
    assert {r["path"]: r["action"] for r in log}["ContentSequence"] == "D"


def test_surviving_values_sees_inside_sequences_a_naive_tool_keeps():
    """The checker does not rely on deidentify: a tool that keeps the items of the Content Sequence and
    of Person Identification Code Sequence (as medlab did before) is caught, names, MRN and codes."""
    sr = _structured_report()
    naive = copy.deepcopy(sr)
    for kw in ("PatientName", "PatientID", "VerifyingObserverSequence"):
        if kw == "VerifyingObserverSequence":
            naive.VerifyingObserverSequence[0].VerifyingObserverName = "ANONYMOUS"
            naive.VerifyingObserverSequence[0].VerifyingOrganization = "ANONYMOUS"
        else:
            setattr(naive, kw, "")
    found = {(h["value"], h["path"]) for h in privacy.surviving_values(sr, naive)}
    text = "ContentSequence[0].ContentSequence[1].TextValue"
    assert ("Jane Doe", text) in found and ("MRN-4711", text) in found
    assert ("Smith^Robert", "ContentSequence[0].ContentSequence[0].PersonName") in found
    code = "VerifyingObserverSequence[0].PersonIdentificationCodeSequence[0]"
    assert ("STAFF-0815", f"{code}.CodeValue") in found and ("Robert Smith", f"{code}.CodeMeaning") in found
    assert not any(p.endswith("CodingSchemeDesignator") or p.endswith("ValueType") for _, p in found)


@pytest.mark.parametrize("keyword, vr", [("ContentDescription", "LO"), ("BodyPartExamined", "CS")])
def test_a_name_copied_into_a_kept_element_is_found_and_replaced(keyword, vr):
    """The copy sits in the *original*, in an attribute the profile keeps: it is still a secret."""
    ds = _read(data.fetch("MR_small.dcm"))
    ds.PatientName = "Doe^Jane"
    copied = "JANE DOE" if vr == "CS" else "Follow-up, Jane Doe"
    ds.add_new(pydicom.datadict.tag_for_keyword(keyword), vr, copied)
    assert privacy.rule_for(pydicom.datadict.tag_for_keyword(keyword)) is None  # not in Table E.1-1: kept
    naive = copy.deepcopy(ds)
    naive.PatientName = ""
    assert [(h["value"], h["path"]) for h in privacy.surviving_values(ds, naive)
            if h["source"] == "PatientName"] == [("Jane Doe", keyword)]
    log = []
    out = _deid(ds, log=log)
    assert privacy.surviving_values(ds, out) == []
    assert "Doe" not in str(out.data_element(keyword).value)
    assert any(r["path"] == keyword and "copy of PatientName" in r["action"] for r in log)


def test_copies_in_nested_kept_sequences_and_binary_values_are_found():
    ds = _read(data.fetch("CT_small.dcm"))
    ds.PatientName = "Doe^Jane"
    region = pydicom.Dataset()  # Anatomic Region Sequence is not in the table: kept, items cleaned
    region.CodeValue, region.CodingSchemeDesignator = "T-D3000", "SRT"
    region.CodeMeaning = "Chest of Doe, Jane"
    inner = pydicom.Dataset()
    inner.PersonName = "Doe^Jane"  # a PN deep inside a kept sequence: handled by the table (D)
    region.ContentSequence = [inner]
    ds.AnatomicRegionSequence = [region]
    ds.add_new(0x00211234, "UN", b"Jane Doe")  # a private blob that spells the name
    naive = copy.deepcopy(ds)
    naive.PatientName = ""
    paths = {h["path"] for h in privacy.surviving_values(ds, naive)}
    assert {"AnatomicRegionSequence[0].CodeMeaning", "(0021,1234)",
            "AnatomicRegionSequence[0].ContentSequence[0].PersonName"} <= paths
    out = _deid(ds)
    assert privacy.surviving_values(ds, out) == []
    assert out.AnatomicRegionSequence[0].CodeValue == "T-D3000"  # what holds no copy is kept


def test_private_values_of_unknown_vr_are_searched_for():
    """A private tag read as UN (implicit VR, no private dictionary) is still a secret if it is text."""
    ds = _read(data.fetch("MR_small.dcm"))
    ds.add_new(0x00291010, "LO", "ACME IMAGING")  # private creator
    ds.add_new(0x00291011, "UN", b"Radiology Wing B, Room 12\x00")
    ds.add_new(0x00291012, "UN", bytes(range(256)))  # binary: not text, not a secret
    values = {v["value"]: v["reason"] for v in privacy.identifying_values(ds)}
    assert values["Radiology Wing B, Room 12"] == "private tag (bytes read as text)"
    assert not any("\x01" in v for v in values)
    hits = privacy.surviving_values(ds, copy.deepcopy(ds))  # a tool that keeps private tags
    assert {"Radiology Wing B, Room 12", "ACME IMAGING"} <= {h["value"] for h in hits}
    assert privacy.surviving_values(ds, _deid(ds)) == []


def test_identifying_values_forms_and_exclusions():
    sr = _structured_report()
    values = {v["value"] for v in privacy.identifying_values(sr)}
    assert {"Doe^Jane", "Jane Doe", "Doe Jane", "Doe, Jane", "MRN-4711", "20040119", "2004-01-19"} <= values
    assert not any(v.startswith("1.2.840.10008.") for v in values)  # SOP classes are public
    assert "99HOSP" not in values and "CONTAINER" not in values  # vocabulary and SR structure
    assert all(len(v) >= 4 for v in values)
    long_ones = {v["value"] for v in privacy.identifying_values(sr, min_length=12)}
    assert long_ones and long_ones <= {v for v in values if len(v) >= 12}


def test_surviving_values_matches_words_not_fragments():
    assert privacy._holds("MRN 12345", "12345") and privacy._holds("MRN12345", "12345")
    assert privacy._holds("TOSHIBA_MEC", "toshiba")
    assert not privacy._holds("6.000000", "0000") and not privacy._holds("2.260000", "60000")
    assert not privacy._holds("ANON79A2C4E1B0", "79A2")  # inside a generated pseudonym: chance
    assert privacy._holds("ANON", "anon")  # but an equal value is always a survivor


def test_modified_dates_survivors_are_counted_not_excused():
    """Times of day the option keeps are reported, whichever tool keeps them (issue #27, point 16)."""
    ds = _read(data.fetch("MR_small.dcm"))
    out = _deid(ds, date_shift_days=-30)
    hits = privacy.surviving_values(ds, out)
    assert {h["source"] for h in hits} >= {"StudyTime", "TimezoneOffsetFromUTC"}
    assert privacy.surviving_values(ds, _deid(ds)) == []


@pytest.mark.parametrize("shift", [None, -400])
@pytest.mark.parametrize("name", ["Doe^Jane", "Smith^Robert"])
def test_an_unlisted_person_name_is_emptied_with_or_without_a_date_shift(shift, name):
    """A PN attribute that Table E.1-1 does not list is emptied by its VR, also when dates
    are shifted: the Modified Dates option shifts dates and keeps times, never names
    (review round 3, item 1: with a shift such a name was kept, and the copy search skipped it)."""
    ds = _read(data.fetch("MR_small.dcm"))
    ds.PatientName = "Doe^Jane"
    tag = pydicom.datadict.tag_for_keyword("SecondaryReviewerName")
    assert privacy.rule_for(tag) is None  # not in the table: handled by its VR
    ds.add_new(tag, "PN", name)
    ds.add_new(pydicom.datadict.tag_for_keyword("EvaluatorName"), "PN", "Roe^Richard")
    out = _deid(ds, date_shift_days=shift)
    assert out.SecondaryReviewerName in (None, "") and out.EvaluatorName in (None, "")
    hits = privacy.surviving_values(ds, out)
    assert not [h for h in hits if "Name" in h["path"] or "Name" in h["source"]]
    if shift is None:
        assert hits == []
    assert not any("Jane" in str(e.value) or "Robert" in str(e.value)
                   or "Richard" in str(e.value) for e in out.iterall())
    assert privacy.action_for(tag, "PN", shift) == "Z"


def test_the_vr_rule_with_a_date_shift_shifts_dates_and_keeps_times():
    """Unlisted DA and DT are shifted (C), unlisted TM kept (C), unlisted PN emptied (Z)."""
    tag = 0x00081001  # not in the data dictionary, not private
    assert privacy.rule_for(tag) is None
    assert {vr: privacy.action_for(tag, vr, 30) for vr in ("PN", "DA", "DT", "TM", "LO")} == {
        "PN": "Z", "DA": "C", "DT": "C", "TM": "C", "LO": "K"}
    assert {vr: privacy.action_for(tag, vr) for vr in ("PN", "DA", "DT", "TM", "LO")} == {
        "PN": "Z", "DA": "Z", "DT": "Z", "TM": "Z", "LO": "K"}
    ds = _read(data.fetch("MR_small.dcm"))
    ds.add_new(tag, "DA", "20040826")
    ds.add_new(tag + 1, "TM", "101010")
    out = _deid(ds, date_shift_days=-400)
    assert out[tag].value == privacy.shift_date("20040826", -400)
    assert out[tag + 1].value == "101010"


def test_bad_input_gets_clear_errors(tmp_path):
    ds = _read(data.fetch("MR_small.dcm"))
    with pytest.raises(TypeError, match="dataset must be a pydicom.Dataset"):
        privacy.deidentify({"PatientName": "x"}, salt=SALT)
    with pytest.raises(FileNotFoundError, match="no DICOM file"):
        privacy.deidentify(tmp_path / "missing.dcm", salt=SALT)
    with pytest.raises(ValueError, match="non-empty"):
        privacy.deidentify(ds, salt="  ")
    with pytest.raises(TypeError, match="salt"):
        privacy.deidentify(ds, salt=None)
    with pytest.raises(TypeError, match="date_shift_days"):
        privacy.deidentify(ds, salt=SALT, date_shift_days=1.5)
    with pytest.raises(TypeError, match="date_shift_days"):
        privacy.deidentify(ds, salt=SALT, date_shift_days=True)
    with pytest.raises(ValueError, match="date_shift_days=0"):
        privacy.deidentify(ds, salt=SALT, date_shift_days=0)
    with pytest.raises(ValueError, match="date_shift_days"):
        privacy.deidentify(ds, salt=SALT, date_shift_days=10**9)
    with pytest.raises(TypeError, match="log"):
        privacy.deidentify(ds, salt=SALT, log={})
    with pytest.raises(TypeError, match="remove_copies must be True or False"):
        privacy.deidentify(ds, salt=SALT, remove_copies="no")
    assert privacy.deidentify(str(data.fetch("MR_small.dcm")), salt=SALT).PatientIdentityRemoved == "YES"
    with pytest.raises(TypeError, match="original"):
        privacy.surviving_values(None, ds)
    with pytest.raises(TypeError, match="deidentified"):
        privacy.surviving_values(ds, 3)
    with pytest.raises(ValueError, match="min_length"):
        privacy.surviving_values(ds, ds, min_length=0)


@pytest.mark.parametrize("length", [0, 7, 65, -1])
def test_pseudonym_length_is_checked(length):
    with pytest.raises(ValueError, match="length"):
        privacy.pseudonym("Doe^Jane", SALT, length=length)


def test_pseudonym_and_uid_inputs():
    with pytest.raises(TypeError, match="length"):
        privacy.pseudonym("Doe^Jane", SALT, length=10.0)
    with pytest.raises(TypeError, match="salt"):
        privacy.pseudonym("Doe^Jane", 1234)
    with pytest.raises(ValueError, match="salt"):
        privacy.new_uid("1.2.3", "")
    with pytest.raises(ValueError, match="uid"):
        privacy.new_uid("  ", SALT)
    a, b = privacy.pseudonym("Doe^Jane", SALT), privacy.pseudonym("Roe^Richard", SALT)
    assert a != b and len(a) == 14 and privacy.pseudonym("Doe^Jane", SALT, length=64)[4:].startswith(a[4:])
    with pytest.raises(ValueError, match="years 1 to 9999"):
        privacy.shift_date("99991231", 1)
    with pytest.raises(TypeError, match="days"):
        privacy.shift_date("20200101", 1.5)
    with pytest.raises(ValueError):
        privacy.shift_date("2020-01-01", 1)


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


@pytest.mark.parametrize("weights, sizes, match", [
    ([[np.array([1.0, np.nan])], [np.array([1.0, 2.0])]], [1, 1], r"weight_sets\[0\]\[0\]"),
    ([[np.array([1.0, 2.0])], [np.array([np.inf, 2.0])]], [1, 1], r"weight_sets\[1\]\[0\]"),
    ([[np.array([1.0])], [np.array([2.0])]], [1, float("nan")], "sizes contains 1 NaN"),
    ([[np.array([1.0])], [np.array([2.0])]], [1, -1], "non-negative"),
    ([[np.array([1.0])], [np.array([2.0])]], [0, 0], "not all zero"),
    ([[np.array([1.0])]], [1, 2], "1 weight sets but 2 sizes"),
])
def test_average_weights_refuses_bad_input(weights, sizes, match):
    with pytest.raises(ValueError, match=match):
        privacy.average_weights(weights, sizes)


def test_average_weights_and_clip_update_type_errors():
    with pytest.raises(TypeError, match="sizes"):
        privacy.average_weights([[np.zeros(2)]], [True])
    with pytest.raises(TypeError, match="weight_sets"):
        privacy.average_weights(np.zeros((2, 3)), [1, 1])
    with pytest.raises(TypeError, match=r"weight_sets\[0\]"):
        privacy.average_weights([np.zeros(3)], [1])
    for bad in (float("nan"), float("inf"), -1.0, 0):
        with pytest.raises(ValueError, match="max_norm"):
            privacy.clip_update([np.ones(2)], bad)
    for bad in (True, "1", None):
        with pytest.raises(TypeError, match="max_norm"):
            privacy.clip_update([np.ones(2)], bad)
    with pytest.raises(ValueError, match="update"):
        privacy.clip_update([np.array([np.nan, 1.0])], 1.0)


def test_split_hospitals_and_attack_refuse_bad_input():
    y = np.r_[np.zeros(30, int), np.ones(70, int)]
    with pytest.raises(ValueError, match="sizes must be whole"):
        privacy.split_hospitals(y, [10.5], [0.5])
    with pytest.raises(ValueError, match="positive_shares contains 1 NaN"):
        privacy.split_hospitals(y, [10], [float("nan")])
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1"):
        privacy.split_hospitals(np.r_[y, 2], [10], [0.5])
    with pytest.raises(ValueError, match="probabilities"):
        privacy.example_losses([0, 1], [0.5, np.nan])
    with pytest.raises(ValueError, match="probabilities"):
        privacy.example_losses([0, 1], [0.5, 3.2])
    with pytest.raises(ValueError, match="eps"):
        privacy.example_losses([0, 1], [0.5, 0.5], eps=0)
    with pytest.raises(ValueError, match="member_losses"):
        privacy.membership_auc([0.1, np.nan], [0.2, 0.3])
    with pytest.raises(ValueError, match="nonmember_losses"):
        privacy.membership_auc([0.1, 0.2], [-0.2, 0.3])
    with pytest.raises(ValueError, match="at least one member"):
        privacy.membership_auc([], [0.2])
    with pytest.raises(ValueError, match="n_boot"):
        privacy.membership_auc([0.1], [0.2], n_boot=0)
    with pytest.raises(TypeError, match="eps"):
        privacy.example_losses([0, 1], [0.5, 0.5], eps=True)
    with pytest.raises(ValueError, match="labels has 2 entries but probabilities has 3"):
        privacy.example_losses([0, 1], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="labels must hold at least one label"):
        privacy.example_losses([], [])
    with pytest.raises(TypeError, match="sizes must hold real numbers"):
        privacy.split_hospitals(np.r_[y, 1], [True], [0.5])
