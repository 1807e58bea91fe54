"""The DICOM JSON model (PS3.18 Annex F), shared by the DICOMweb services.

pydicom's ``Dataset.to_json_dict`` does the encoding (F.2: tags as 8 hex digits, ``vr``,
``Value`` arrays, PN as ``{"Alphabetic", "Ideographic", "Phonetic"}`` objects, F.2.5); this
module adds what a QIDO response needs around it: the C-FIND bookkeeping attributes removed,
the Retrieve URL (0008,1190) of each result (PS3.18 §10.6.3.3.1), multi-valued code strings kept
as arrays, and text decoded with the result's Specific Character Set before it is written as
UTF-8 JSON (F.2.1: JSON is always UTF-8, so Romanian ``ș``/``ț`` and Polish ``ł``/``ż`` are kept
whatever repertoire the PACS used).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from pydicom.dataset import Dataset

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
UTF8 = "ISO_IR 192"


def _keep(tag: int) -> bool:
    group = tag >> 16
    return group not in (0x0000, 0x0002) and tag not in QUERY_ONLY and tag & 0xFFFF != 0


def to_json(ds: Dataset, *, retrieve_url: str | None = None) -> dict[str, Any]:
    """One dataset in the DICOM JSON model, without the query bookkeeping (PS3.18 F.2).

    Text values are decoded with the dataset's Specific Character Set (pydicom does it when the
    elements are read); the JSON carries the decoded text, so (0008,0005) is dropped: it would
    describe an encoding the JSON does not use (F.2.1).
    """
    ds.decode()
    kept = Dataset()
    for elem in ds:
        if _keep(int(elem.tag)) and int(elem.tag) != 0x00080005:
            kept.add(elem)
    out = kept.to_json_dict(bulk_data_threshold=2**31)
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
