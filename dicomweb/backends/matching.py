"""Attribute matching of C-FIND results, done again on the gateway's side (PS3.4 §C.2.2.2).

A PACS may ignore matching keys it does not support and still return every row; results are
therefore checked against the query before they leave the backend. Only what the result shows
is checked: an attribute the PACS left out or returned empty is not held against the row.

Rules: single value matching (§C.2.2.2.1), list of UID matching (§C.2.2.2.2), universal matching
(§C.2.2.2.3: empty value or ``*``), wildcard matching with ``*`` and ``?`` (§C.2.2.2.4), range
matching of dates and times (§C.2.2.2.5). Multi-valued attributes such as ModalitiesInStudy
match when any of their values does. Person names match case- and accent-insensitively, which
§C.2.2.2.1 allows for PN ("insensitive to ... case, ... accent"), so this check is never
stricter than the PACS: Orthanc matches ``ȘTEF*`` against ``Ștefănescu``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from dicomweb.backends.base import Query, QueryValue

_RANGE_VRS = {"DA", "TM", "DT"}
_NUMBER_VRS = {"IS", "US", "UL", "SS", "SL", "DS", "FL", "FD"}
# letters that carry no combining mark in Unicode, so NFKD does not strip them
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss"})


def tag_of(key: str) -> int:
    """The tag of a DICOM keyword or of an 8-digit hex tag (PS3.18 §8.3.4.1 ``{attributeID}``)."""
    tag = tag_for_keyword(key)
    if tag is not None:
        return int(tag)
    if re.fullmatch(r"[0-9A-Fa-f]{8}", key):
        return int(Tag(int(key, 16)))
    raise ValueError(f"unknown DICOM attribute {key!r}")


def values_of(value: QueryValue) -> list[str]:
    """A query value as its list of values (backslash separates values, PS3.5 §6.4)."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        out.extend(part for part in str(item).split("\\"))
    return out


def fold_name(text: str) -> str:
    """Case- and accent-insensitive form of a person name (``Żółkiewski`` -> ``zolkiewski``)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@lru_cache(maxsize=512)
def _wildcard(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _in_range(actual: str, wanted: str, vr: str) -> bool:
    if "-" not in wanted or vr not in _RANGE_VRS:
        return actual == wanted if vr != "TM" else _tm(actual) == _tm(wanted)
    low, _, high = wanted.partition("-")
    if vr == "TM":
        actual = _tm(actual)
        low = _tm(low) if low else ""
        high = _tm(high, upper=True) if high else ""
    elif vr == "DT" and high:
        high = high.ljust(len(actual), "9")
    return (not low or actual >= low) and (not high or actual <= high)


def _tm(value: str, *, upper: bool = False) -> str:
    """A time as HHMMSS.ffffff for comparisons; a partial upper bound covers its whole span."""
    digits = value.replace(":", "")
    whole, _, fraction = digits.partition(".")
    filler = "9" if upper else "0"
    return f"{whole.ljust(6, filler)}.{fraction.ljust(6, filler)}"


def _element_values(ds: Dataset, tag: int) -> list[str]:
    elem = ds.get(tag)
    if elem is None or elem.value is None or elem.value == "":
        return []
    value = elem.value
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if str(v) != ""]
    return [str(value)]


def _matches_value(actual: str, wanted: str, vr: str) -> bool:
    if wanted in ("", "*"):
        return True
    if vr == "PN":
        rx = _wildcard(fold_name(wanted))
        alphabetic = actual.split("=")[0]
        return any(rx.fullmatch(fold_name(text)) for text in (actual, alphabetic))
    if vr in _RANGE_VRS:
        return _in_range(actual, wanted, vr)
    if vr in _NUMBER_VRS:
        try:
            return float(actual) == float(wanted)
        except ValueError:
            return False
    if vr == "UI":
        return actual == wanted
    if "*" in wanted or "?" in wanted:
        return _wildcard(wanted).fullmatch(actual) is not None
    return actual.rstrip() == wanted.rstrip()


def matches(ds: Dataset, query: Query) -> bool:
    """Whether a C-FIND result matches every matching key of ``query`` it carries a value for."""
    for key, raw in query.items():
        wanted = [v for v in values_of(raw) if v not in ("", "*")]
        if not wanted:
            continue  # return key or universal matching
        tag = tag_of(key)
        vr = dictionary_VR(tag)
        if vr == "SQ":
            continue
        actual = _element_values(ds, tag)
        if not actual:
            continue  # the PACS did not return it: nothing to hold against the row
        if not any(_matches_value(a, w, vr) for a in actual for w in wanted):
            return False
    return True


def filter_matches(results: Iterable[Dataset], query: Query) -> list[Dataset]:
    """The results that match ``query`` (see :func:`matches`)."""
    return [ds for ds in results if matches(ds, query)]
