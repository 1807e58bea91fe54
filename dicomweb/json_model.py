"""The DICOM JSON model (PS3.18 Annex F), shared by the DICOMweb services.

A QIDO response needs, around the encoding itself: the C-FIND bookkeeping attributes removed,
the Retrieve URL (0008,1190) of each result (PS3.18 §10.6.3.3.1), and text decoded with the
result's Specific Character Set before it is written as UTF-8 JSON (F.2.1: JSON is always
UTF-8, so Romanian ``ș``/``ț`` and Polish ``ł``/``ż`` are kept whatever repertoire the PACS
used).

The encoding is pydicom's ``DataElement.to_json_dict`` (F.2: tags as 8 hex digits, ``vr``,
``Value`` arrays, PN as ``{"Alphabetic", "Ideographic", "Phonetic"}`` objects, F.2.5), with
one shortcut written here: a C-FIND answer arrives as raw, still encoded elements, and pydicom
spends some 30 µs on each to build its value objects (``PersonName``, ``IS``, ``UID``, ...)
only for them to be turned back into plain JSON values. That was most of a QIDO request's own
time. :func:`_raw_json` writes the JSON of the plain cases straight from the bytes: the string
VRs, IS/DS, PN and the fixed-size binary numbers, in a character set that is one codec without
code extensions (ISO 2022 escape sequences are pydicom's). Everything else (sequences,
ambiguous VRs, private or unknown tags, values that do not parse, bytes the codec rejects) goes
through pydicom as before, so the output is pydicom's in every case; ``tests/dicomweb/
test_json_model.py`` holds the two to each other.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

import orjson
from pydicom import config
from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

MEDIA_TYPE = "application/dicom+json"

#: attributes of the C-FIND exchange, not of the data (PS3.4 §C.4.1.1.3.2, §C.4.1.2.3)
QUERY_ONLY = frozenset(
    {
        0x00080052,  # QueryRetrieveLevel
        0x00080054,  # RetrieveAETitle
        0x00080056,  # InstanceAvailability
    }
)
RETRIEVE_URL = "00081190"
CHARSET = "00080005"
CHARSET_TAG = 0x00080005
UTF8 = "ISO_IR 192"

#: pydicom decodes these with the dataset's character set (PS3.5 §6.1.2.3) ...
_TEXT_MULTI = frozenset({"SH", "LO", "UC"})
_TEXT_SINGLE = frozenset({"ST", "LT", "UT"})
#: ... and these in its default repertoire, split on backslashes and right-trimmed as a whole
_PLAIN = frozenset({"AS", "CS", "DA", "DT", "TM"})
_DATETIME = frozenset({"DA", "DT", "TM"})
_BINARY = {"US": "H", "UL": "L", "SS": "h", "SL": "l", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
_TEXT = _TEXT_MULTI | _TEXT_SINGLE | {"PN"}
_SPLIT = _PLAIN | {"UI", "IS", "DS"}
_HANDLED = _TEXT_MULTI | _TEXT_SINGLE | _PLAIN | set(_BINARY) | {"PN", "UI", "IS", "DS", "AE", "UR"}
_LATIN1 = "iso8859"  # pydicom's default repertoire decoding
_DIGITS = frozenset("0123456789")


def _keep(tag: int) -> bool:
    group = tag >> 16
    return (
        group not in (0x0000, 0x0002)
        and tag not in QUERY_ONLY
        and tag & 0xFFFF != 0
        and tag != CHARSET_TAG
    )


@lru_cache(maxsize=4096)
def _vr_of(tag: int) -> str | None:
    """The dictionary VR of a public tag; None for private, unknown or ambiguous ones."""
    if tag >> 16 & 1:
        return None
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return None
    return None if " or " in vr else vr


def _codec(ds: Dataset) -> str | None:
    """The one Python codec of the dataset's text; None when pydicom's decoding is needed."""
    elem = ds.get_item(CHARSET_TAG)
    if elem is None:
        return _LATIN1
    raw = elem.value
    if isinstance(raw, bytes):
        value = raw.decode(_LATIN1).strip(" \x00")
    elif isinstance(raw, str):
        value = raw.strip()
    else:
        return None  # several terms: code extensions
    if "\\" in value or value.startswith("ISO 2022"):
        return None
    return python_encoding.get(value)


def _int(text: str) -> int | None:
    body = text.strip(" ")
    digits = body[1:] if body[:1] in ("+", "-") else body
    return int(body) if digits and set(digits) <= _DIGITS else None


def _float(text: str) -> float | None:
    body = text.strip(" ")
    if not body or not set(body) <= _DIGITS | {".", "+", "-", "e", "E"}:
        return None
    try:
        return float(body)
    except ValueError:
        return None


def _person_name(text: str) -> dict[str, str] | None:
    groups = text.split("=")
    while groups and not groups[-1]:
        groups.pop()
    if not groups or len(groups) > 3:
        return None
    return dict(zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False))


def _raw_json(raw: RawDataElement, codec: str | None) -> dict[str, Any] | None:
    """The JSON of a raw element as pydicom writes it, or None to leave it to pydicom."""
    vr = _vr_of(raw.tag)
    if vr is None or vr not in _HANDLED or (raw.VR is not None and vr != raw.VR):
        return None
    data = raw.value
    if raw.length == 0 and not data:
        return {"vr": vr}
    if not isinstance(data, bytes) or raw.length != len(data):
        return None
    if vr in _BINARY:
        fmt = _BINARY[vr]
        size = struct.calcsize(fmt)
        if len(data) % size:
            return None
        if not data:
            return {"vr": vr}
        order = "<" if raw.is_little_endian else ">"
        values = list(struct.unpack(f"{order}{len(data) // size}{fmt}", data))
        return {"vr": vr, "Value": values}
    if vr in _TEXT:
        if codec is None or 0x1B in data:
            return None
        try:
            text = (data.rstrip(b"\x00 ") if vr == "PN" else data).decode(codec)
        except UnicodeDecodeError:
            return None
        if vr in _TEXT_SINGLE:
            text = text.rstrip("\x00 ")
            return {"vr": vr, "Value": [text]} if text else {"vr": vr}
        if vr == "PN":
            if not text:
                return {"vr": vr}
            names = text.split("\\")
            people = [_person_name(name) if name else {} for name in names]
            if any(person is None for person in people):
                return None
            return {"vr": vr, "Value": _nulls(people)}
        parts = [part.rstrip("\x00 ") for part in text.split("\\")]
        if len(parts) == 1 and not parts[0]:
            return {"vr": vr}
        return {"vr": vr, "Value": _nulls(parts)}
    text = data.decode(_LATIN1)
    if vr in _DATETIME and config.datetime_conversion:
        return None  # pydicom's DA/DT/TM objects, whose JSON is theirs
    if vr in _SPLIT:
        body = (text.strip() if vr == "DS" else text).rstrip(" \x00")
        if not body:
            return {"vr": vr}
        parts = body.split("\\")
        if vr == "IS" or vr == "DS":
            parse = _int if vr == "IS" else _float
            numbers = [parse(part) if part.strip(" ") else "" for part in parts]
            if any(number is None for number in numbers):
                return None
            return {"vr": vr, "Value": _nulls(numbers)}
        return {"vr": vr, "Value": _nulls(parts)}
    if vr == "AE":
        parts = [part.strip() for part in text.split("\\")]
        if len(parts) == 1 and not parts[0]:
            return {"vr": vr}
        return {"vr": vr, "Value": _nulls(parts)}
    if vr == "UR":
        url = text.rstrip()
        return {"vr": vr, "Value": [url]} if url else {"vr": vr}
    return None


def _nulls(values: list[Any]) -> list[Any]:
    """An empty value inside a multi-valued attribute is ``null`` (PS3.18 F.2.5)."""
    if len(values) < 2:
        return values
    return [None if v in ("", {}) or v is None else v for v in values]


_NUMBERS = {"IS": int, "SL": int, "SS": int, "UL": int, "US": int, "SV": int, "UV": int}
_FLOATS = frozenset({"DS", "FL", "FD"})


def _tolerant_json(elem: DataElement) -> dict[str, Any]:
    """The JSON of an element whose values pydicom cannot encode (an empty number or person
    name among several values): each value on its own, empty ones ``null`` (F.2.5)."""
    vr = str(elem.VR)
    raw = elem.value
    values = list(raw) if isinstance(raw, MultiValue | list | tuple) else [raw]
    out: list[Any] = []
    for v in values:
        text = "" if v is None else str(v).strip()
        if not text:
            out.append(None)
        elif vr in _NUMBERS:
            out.append(int(float(text)))
        elif vr in _FLOATS:
            out.append(float(text))
        elif vr == "PN":
            out.append(_person_name(text) or None)
        else:
            out.append(text)
    if all(v is None for v in out):
        return {"vr": vr}
    return {"vr": vr, "Value": out}


def element_json(
    elem: DataElement,
    bulk_data_element_handler: Callable[[DataElement], str] | None = None,
    bulk_data_threshold: int = 2**31,
) -> dict[str, Any]:
    """pydicom's JSON of one element (PS3.18 F.2), with F.2.5's ``null`` for an empty value
    among several, and sequences' items encoded the same way."""
    if elem.VR == "SQ":
        items = [
            dataset_json(item, bulk_data_element_handler, bulk_data_threshold)
            for item in elem.value or []
        ]
        return {"vr": "SQ", "Value": items}
    try:
        encoded = elem.to_json_dict(bulk_data_element_handler, bulk_data_threshold)
    except (ValueError, IndexError, TypeError):
        encoded = _tolerant_json(elem)
    values = encoded.get("Value")
    if isinstance(values, list):
        encoded["Value"] = _nulls(values)
    return encoded


def dataset_json(
    ds: Dataset,
    bulk_data_element_handler: Callable[[DataElement], str] | None = None,
    bulk_data_threshold: int = 2**31,
) -> dict[str, Any]:
    """A whole dataset in the DICOM JSON model (WADO-RS metadata, STOW-RS responses)."""
    out: dict[str, Any] = {}
    for key in ds.keys():  # noqa: SIM118 - iterating a Dataset converts its elements
        out[f"{int(key):08X}"] = element_json(
            ds[key], bulk_data_element_handler, bulk_data_threshold
        )
    return out


def to_json(ds: Dataset, *, retrieve_url: str | None = None) -> dict[str, Any]:
    """One dataset in the DICOM JSON model, without the query bookkeeping (PS3.18 F.2).

    Text values are decoded with the dataset's Specific Character Set; the JSON carries the
    decoded text, so (0008,0005) says UTF-8 instead of the repertoire the PACS used (F.2.1).
    """
    codec = _codec(ds)
    out: dict[str, Any] = {}
    for key in ds.keys():  # noqa: SIM118 - iterating a Dataset converts its elements
        tag = int(key)
        if not _keep(tag):
            continue
        elem = ds.get_item(key, keep_deferred=True)
        encoded = _raw_json(elem, codec) if isinstance(elem, RawDataElement) else None
        if encoded is None:
            encoded = element_json(ds[key])
        out[f"{tag:08X}"] = encoded
    out[CHARSET] = {"vr": "CS", "Value": [UTF8]}
    if retrieve_url is not None:
        out[RETRIEVE_URL] = {"vr": "UR", "Value": [retrieve_url]}
    return dict(sorted(out.items()))


def to_json_list(
    datasets: Iterable[Dataset], retrieve_urls: Sequence[str | None] | None = None
) -> list[dict[str, Any]]:
    """Several datasets as a JSON array (a QIDO-RS response body, PS3.18 §10.6.3.3)."""
    items = list(datasets)
    urls = list(retrieve_urls) if retrieve_urls is not None else [None] * len(items)
    return [to_json(ds, retrieve_url=url) for ds, url in zip(items, urls, strict=True)]


def dumps(body: Any) -> bytes:
    """JSON bytes (UTF-8, F.2.1)."""
    return orjson.dumps(body)


def value_of(item: dict[str, Any], tag: str) -> Any:
    """The first value of ``tag`` in a DICOM JSON object (None if absent or empty)."""
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]
