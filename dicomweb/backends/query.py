"""C-FIND identifiers, return keys and result order (PS3.4 §C.4.1, §C.6.2; PS3.18 §10.6).

Every query asks for the attributes a QIDO-RS response carries by default (PS3.18 Table
6.7.1-2, -2a, -2b) and those an image viewer needs, plus the caller's keys. C-FIND has no
order and no paging, so results are sorted deterministically and sliced for ``limit`` and
``offset``. An identifier holding non-ASCII values declares UTF-8 (PS3.4 §C.4.1.1.3.1: Specific
Character Set is sent only when the default repertoire is not enough).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from dicomweb.backends.base import Query
from dicomweb.backends.matching import tag_of, values_of

STUDY_KEYS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyID",
    "StudyDescription",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "SOPClassesInStudy",
)
SERIES_KEYS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "NumberOfSeriesRelatedInstances",
)
IMAGE_KEYS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "NumberOfFrames",
)
LEVEL_KEYS = {"STUDY": STUDY_KEYS, "SERIES": SERIES_KEYS, "IMAGE": IMAGE_KEYS}
UTF8 = "ISO_IR 192"


Elements = dict[int, tuple[str, str]]
"""An identifier as ``{tag: (VR, value text)}``; ``""`` is a universal (return) key."""

_LEVEL_ELEMENTS: dict[str, tuple[tuple[int, str], ...]] = {
    level: tuple((tag, dictionary_VR(tag)) for tag in map(tag_of, keys))
    for level, keys in LEVEL_KEYS.items()
}
_QUERY_RETRIEVE_LEVEL = tag_of("QueryRetrieveLevel")
_SPECIFIC_CHARACTER_SET = tag_of("SpecificCharacterSet")
_SKIPPED = {_QUERY_RETRIEVE_LEVEL, _SPECIFIC_CHARACTER_SET}
_INTEGER_VRS = ("US", "UL", "SS", "SL")


def identifier_elements(level: str, query: Query, **unique_keys: str | None) -> Elements:
    """The C-FIND Identifier for ``level`` (PS3.4 §C.4.1.1.3): return keys, then matching keys.

    ``unique_keys`` (StudyInstanceUID, SeriesInstanceUID) pin the levels above the query level,
    as the hierarchical search of the Study Root model requires (PS3.4 §C.4.1.3.1). Kept as
    plain tags and texts: :mod:`dicomweb.backends.wire` encodes them directly, and
    :func:`identifier` makes the pydicom Dataset of the same identifier.
    """
    elements: Elements = {_QUERY_RETRIEVE_LEVEL: ("CS", level)}
    for tag, vr in _LEVEL_ELEMENTS[level]:
        elements[tag] = (vr, "")
    non_ascii = False
    for key, value in query.items():
        tag = tag_of(key)
        text = "\\".join(values_of(value))
        non_ascii = non_ascii or not text.isascii()
        if tag in _SKIPPED:
            continue
        vr = dictionary_VR(tag)
        if vr == "SQ":
            continue  # sequence matching is not offered (PS3.4 §C.2.2.2.6 is optional)
        elements[tag] = (vr, text)
    for keyword, uid in unique_keys.items():
        if uid is not None:
            elements[tag_of(keyword)] = ("UI", uid)
    if non_ascii:
        elements[_SPECIFIC_CHARACTER_SET] = ("CS", UTF8)
    return elements


def identifier(level: str, query: Query, **unique_keys: str | None) -> Dataset:
    """:func:`identifier_elements` as a pydicom Dataset."""
    return identifier_dataset(identifier_elements(level, query, **unique_keys))


def identifier_dataset(elements: Elements) -> Dataset:
    ds = Dataset()
    for tag, (vr, text) in elements.items():
        ds[tag] = _element(tag, vr, text)
    return ds


def _element(tag: int, vr: str, text: str) -> DataElement:
    value: object = text if text != "" else None
    if text and vr in _INTEGER_VRS and "\\" not in text:
        value = int(text)
    return DataElement(tag, vr, value)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value)


def _number(ds: Dataset, keyword: str) -> int:
    try:
        return int(str(ds.get(keyword, "")).strip())
    except ValueError:
        return 2**31


def sort_results(level: str, results: list[Dataset]) -> list[Dataset]:
    """Studies newest first; series and instances by their number; ties broken by UID."""
    if level == "STUDY":
        ordered = sorted(results, key=lambda d: _text(d, "StudyInstanceUID"))
        return sorted(
            ordered, key=lambda d: (_text(d, "StudyDate"), _text(d, "StudyTime")), reverse=True
        )
    number, uid = (
        ("SeriesNumber", "SeriesInstanceUID")
        if level == "SERIES"
        else ("InstanceNumber", "SOPInstanceUID")
    )
    return sorted(results, key=lambda d: (_number(d, number), _text(d, uid)))


def page(results: Sequence[Dataset], limit: int | None, offset: int) -> list[Dataset]:
    """``offset``/``limit`` slicing (PS3.18 §8.3.4.4)."""
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError("limit and offset must not be negative")
    end = None if limit is None else offset + limit
    return list(results[offset:end])
