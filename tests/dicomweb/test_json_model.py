"""The DICOM JSON of a C-FIND answer equals pydicom's own encoding of the same elements.

``json_model.to_json`` writes the JSON of plain raw elements itself (see its module text); here
every kind of element a PACS can answer is encoded as it travels (implicit and explicit VR,
little and big endian, several character sets), read back the way pynetdicom reads a C-FIND
response, and the two encodings compared whole.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom.dsutils import decode, encode

from dicomweb import json_model

SKIPPED = {0x00080005, 0x00080052, 0x00080054, 0x00080056}


def _reference(ds: Dataset) -> dict[str, Any]:
    """pydicom's encoding, element by element, without the C-FIND bookkeeping."""
    out = {
        f"{int(tag):08X}": ds[tag].to_json_dict(None, 2**31)
        for tag in ds.keys()  # noqa: SIM118 - tags, not converted elements
        if int(tag) not in SKIPPED and tag.element != 0 and tag.group not in (0, 2)
    }
    out["00080005"] = {"vr": "CS", "Value": ["ISO_IR 192"]}
    out["00081190"] = {"vr": "UR", "Value": ["http://gw/studies/1"]}
    return dict(sorted(out.items()))


def _base() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.RetrieveAETitle = "ORTHANC"
    ds.StudyInstanceUID = "2.25.1234567890123456789"
    ds.SeriesInstanceUID = "2.25.98765432109876543210"
    ds.SOPClassesInStudy = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"]
    ds.StudyDate = "20240101"
    ds.StudyTime = "080000.123456"
    ds.AcquisitionDateTime = "20240101080000.5+0200"
    ds.SeriesDate = None
    ds.SeriesTime = ""
    ds.AccessionNumber = "B000001"
    ds.ModalitiesInStudy = ["CT", "MR"]
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientAge = "041Y"
    ds.PatientSex = "F"
    ds.StationAETitle = " CT01 "
    ds.RetrieveURL = "http://pacs.example/wado/1 "
    ds.SeriesNumber = "3"
    ds.NumberOfStudyRelatedInstances = " 18"
    ds.ReferencedFrameNumber = ["1", "2", "-3"]
    ds.SliceThickness = "0.50"
    ds.PixelSpacing = ["0.703125", "-2e3"]
    ds.Rows = 512
    ds.SimpleFrameList = [1, 2, 70000]
    ds.ReferencePixelX0 = -12
    ds.DiffusionBValue = 1000.25
    ds.RecommendedDisplayFrameRateInFloat = 29.97
    ds.FrameIncrementPointer = 0x00181063
    ds.InstanceAvailability = "ONLINE"
    ds.ReferencedSeriesSequence = Sequence([Dataset()])
    ds.ReferencedSeriesSequence[0].SeriesInstanceUID = "2.25.5"
    ds.ReferencedStudySequence = Sequence([])
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "private value")
    return ds


def _texts(ds: Dataset, name: str, other: str, text: str) -> Dataset:
    ds.PatientName = name
    ds.ReferringPhysicianName = [other, "Kowalski^Jan"]
    ds.PerformingPhysicianName = ""
    ds.StudyDescription = text
    ds.SeriesDescription = f"{text} \\ {text}"  # LO: a backslash separates values
    ds.ImageComments = f"{text}\\ with a backslash, kept  "  # LT: one value, trailing cut
    ds.AdditionalPatientHistory = f"{text} "
    ds.PatientComments = text
    ds.StudyID = "S1 "
    ds.InstitutionName = ""
    return ds


CASES: dict[str, Callable[[], Dataset]] = {
    "default repertoire": lambda: _texts(_base(), "Popescu^Ana^^Dr.", "Nowak^Ewa", "CT thorax"),
    "UTF-8": lambda: _texts(_base(), "Ștefănescu^Țică", "Żółć^Łucja", "Tomografie toracică"),
    "Latin-2": lambda: _texts(_base(), "Wójcik^Łukasz", "Źrebiec^Żaneta", "Badanie płuc"),
    "Latin-1": lambda: _texts(_base(), "Müller^Jörg", "Ærø^Åse", "Thorax natif"),
    "ISO 2022 extensions": lambda: _texts(
        _base(), "Yamada^Tarou=山田^太郎=やまだ^たろう", "Sato^Jiro", "CT"
    ),
    "person name groups": lambda: _texts(_base(), "A^B==C^D", "Ideo^Only=漢", "x"),
}
CHARSETS = {
    "default repertoire": None,
    "UTF-8": "ISO_IR 192",
    "Latin-2": "ISO_IR 101",
    "Latin-1": "ISO_IR 100",
    "ISO 2022 extensions": ["", "ISO 2022 IR 87"],
    "person name groups": "ISO_IR 192",
}
SYNTAXES = {
    "implicit little endian": (True, True),
    "explicit little endian": (False, True),
    "explicit big endian": (False, False),
}


def _answer(case: str, syntax: tuple[bool, bool]) -> bytes:
    ds = CASES[case]()
    if CHARSETS[case] is not None:
        ds.SpecificCharacterSet = CHARSETS[case]
    encoded = encode(ds, *syntax)
    assert encoded is not None
    return encoded


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
@pytest.mark.parametrize("case", CASES)
def test_raw_answers_encode_as_pydicom_does(case: str, syntax: tuple[bool, bool]) -> None:
    encoded = _answer(case, syntax)
    answer = decode(io.BytesIO(encoded), *syntax)
    ours = json_model.to_json(answer, retrieve_url="http://gw/studies/1")
    theirs = _reference(decode(io.BytesIO(encoded), *syntax))
    assert ours == theirs
    # the plain elements were written from their bytes, without pydicom's value objects
    raw = {
        int(t)
        for t in answer.keys()  # noqa: SIM118 - iterating would convert them
        if isinstance(answer.get_item(t, keep_deferred=True), RawDataElement)
    }
    assert {0x00200011, 0x00280010, 0x00080060, 0x00280030} <= raw
    assert (0x00100010 in raw) is (case != "ISO 2022 extensions")
    # and the text really is the decoded text, not the bytes of another repertoire
    name = ours["00100010"]["Value"][0]["Alphabetic"]
    assert name == CASES[case]().PatientName.components[0]


def test_datasets_built_in_python_encode_as_pydicom_does() -> None:
    ds = _texts(_base(), "Ștefănescu^Țică", "Żółć^Łucja", "Tomografie")
    ds.SpecificCharacterSet = "ISO_IR 192"
    assert json_model.to_json(ds, retrieve_url="http://gw/studies/1") == _reference(ds)


def test_bookkeeping_is_dropped_and_the_charset_says_utf8() -> None:
    encoded = _answer("Latin-2", SYNTAXES["implicit little endian"])
    out = json_model.to_json(decode(io.BytesIO(encoded), True, True))
    for tag in ("00080052", "00080054", "00080056"):
        assert tag not in out
    assert out["00080005"] == {"vr": "CS", "Value": ["ISO_IR 192"]}
    assert out["00100010"]["Value"] == [{"Alphabetic": "Wójcik^Łukasz"}]
    assert out["00200011"] == {"vr": "IS", "Value": [3]}
    assert out["00080021"] == {"vr": "DA"}
    assert list(out) == sorted(out)


def test_numbers_that_do_not_parse_are_left_to_pydicom() -> None:
    ds = Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that the value is not a valid IS
        ds.SeriesNumber = "6.0"  # an IS written as a decimal: pydicom reads it as 6
        encoded = encode(ds, True, True)
        assert encoded is not None
        out = json_model.to_json(decode(io.BytesIO(encoded), True, True))
    assert out["00200011"] == {"vr": "IS", "Value": [6]}


def _with_empty_values() -> Dataset:
    """Multi-valued attributes holding an empty value among others (PS3.5 §6.4 allows it)."""
    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "", "AXIAL"]
    ds.ModalitiesInStudy = ["", "CT"]
    ds.SOPClassesInStudy = ["1.2.840.10008.5.1.4.1.1.2", ""]
    ds.OtherPatientIDs = ["X1", ""]
    ds.StationAETitle = ["CT01", ""]
    ds.PatientName = "Popescu^Ana\\\\Nowak^Ewa"
    ds.ReferencedFrameNumber = ["1", ""]
    ds.ImagePositionPatient = ["1.5", "", "-3"]
    ds.SeriesDescription = "one value"
    return ds


def _nulled(encoded: dict[str, Any]) -> dict[str, Any]:
    """pydicom's encoding with F.2.5 applied: an empty value among several is null."""
    values = encoded.get("Value")
    if isinstance(values, list) and len(values) > 1:
        return {**encoded, "Value": [None if v in ("", {}) else v for v in values]}
    return encoded


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
def test_an_empty_value_among_several_is_null(syntax: tuple[bool, bool]) -> None:
    """PS3.18 F.2.5: null, not "", for an empty value inside a multi-valued attribute; every
    other value as pydicom's own to_json writes it, and pydicom reads the JSON back."""
    encoded = encode(_with_empty_values(), *syntax)
    assert encoded is not None
    ours = json_model.to_json(decode(io.BytesIO(encoded), *syntax))
    assert ours["00080008"]["Value"] == ["ORIGINAL", None, "AXIAL"]
    assert ours["00080061"]["Value"] == [None, "CT"]
    assert ours["00080062"]["Value"] == ["1.2.840.10008.5.1.4.1.1.2", None]
    assert ours["00101000"]["Value"] == ["X1", None]
    assert ours["00080055"]["Value"] == ["CT01", None]
    assert ours["00100010"]["Value"] == [
        {"Alphabetic": "Popescu^Ana"},
        None,
        {"Alphabetic": "Nowak^Ewa"},
    ]
    assert ours["00081160"]["Value"] == [1, None]
    assert ours["00200032"]["Value"] == [1.5, None, -3.0]
    assert ours["0008103E"]["Value"] == ["one value"]
    reference = decode(io.BytesIO(encoded), *syntax)
    for tag in ("00080008", "00080061", "00080062", "00101000", "00080055", "0008103E"):
        assert ours[tag] == _nulled(reference[int(tag, 16)].to_json_dict(None, 2**31)), tag
    # pydicom reads the JSON back into the same values
    back = Dataset.from_json({k: v for k, v in ours.items() if k != "00080005"})
    assert list(back.ImageType) == ["ORIGINAL", "", "AXIAL"]
    assert [str(n) for n in back.PatientName] == ["Popescu^Ana", "", "Nowak^Ewa"]


def test_an_empty_value_among_several_is_null_in_the_pydicom_fallback() -> None:
    """The elements pydicom itself encodes (built in Python, not raw) get the same nulls,
    including those pydicom's to_json cannot encode at all (an empty IS, DS or PN)."""
    ds = _with_empty_values()
    ours = json_model.to_json(ds)
    assert ours["00080008"]["Value"] == ["ORIGINAL", None, "AXIAL"]
    assert ours["00081160"]["Value"] == [1, None]
    assert ours["00200032"]["Value"] == [1.5, None, -3.0]
    assert ours["00080008"] == _nulled(ds["ImageType"].to_json_dict(None, 2**31))
    seq = Dataset()
    seq.ReferencedSeriesSequence = Sequence([_with_empty_values()])
    item = json_model.dataset_json(seq)["00081115"]["Value"][0]
    assert item["00080061"]["Value"] == [None, "CT"]
    assert item["00200032"]["Value"] == [1.5, None, -3.0]
