"""QIDO-RS query parameters (PS3.18 §8.3.4, §10.6.1.2), parsed without Flask.

``{attributeID}={value}`` pairs become C-FIND matching keys (keywords or 8-digit hex tags);
``includefield`` (repeated or comma-separated; ``all``) adds return keys; ``fuzzymatching``,
``limit`` and ``offset`` are the search's options. Anything else is a 400 with a clear message.

Value rules (PS3.18 §8.3.4.1, PS3.4 §C.2.2.2): UID lists come comma-separated by the standard and
backslash-separated from OHIF, both accepted; date, time and datetime ranges are ``a-b``, ``-b``
or ``a-`` (a bare ``-`` is invalid); wildcards ``*`` and ``?`` pass through to the PACS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR, keyword_for_tag

from dicomweb.backends.matching import tag_of

#: options of the search itself, not attribute matching (PS3.18 Table 8.3.4-1, §8.3.5), and
#: ``token``: the credential a viewer link carries in its URL (the access policy reads it)
OPTIONS = {"includefield", "fuzzymatching", "limit", "offset", "accept", "charset", "token"}
MAX_LIMIT = 10000

_DATE = re.compile(r"\d{8}")
_TIME = re.compile(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?")
_DATETIME = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?")
_RANGE_FORMATS = {"DA": _DATE, "TM": _TIME, "DT": _DATETIME}


class QueryError(ValueError):
    """A QIDO request the gateway cannot run (answered 400 with this message)."""


@dataclass(frozen=True)
class QidoQuery:
    """One parsed QIDO-RS request: matching keys, return keys and options."""

    match: dict[str, str] = field(default_factory=dict)  # keyword -> matching value
    include: tuple[str, ...] = ()  # keywords of extra return keys
    include_all: bool = False
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0

    def keys(self, all_keys: Iterable[str] = ()) -> dict[str, str]:
        """The C-FIND keys: every matching key, then return keys (``includefield``)."""
        out = dict(self.match)
        extra = list(self.include) + (list(all_keys) if self.include_all else [])
        for keyword in extra:
            out.setdefault(keyword, "")
        return out


#: VRs of bulk data: never a matching or return key of C-FIND (PS3.4 §C.2.2.1.1: binary
#: values cannot be matched; PS3.18 §10.6.1.2: QIDO answers carry no bulk data)
BULK_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
_INT_RANGES = {
    "US": (0, 2**16 - 1),
    "UL": (0, 2**32 - 1),
    "SS": (-(2**15), 2**15 - 1),
    "SL": (-(2**31), 2**31 - 1),
    "IS": (-(2**31), 2**31 - 1),
    "SV": (-(2**63), 2**63 - 1),
    "UV": (0, 2**64 - 1),
}
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _keyword(name: str) -> str:
    """The keyword of a query attribute, refused (400) where C-FIND cannot carry it: command
    and file meta groups, group lengths, item delimitation tags, pixel data and other bulk
    data, attributes without a keyword (private ones)."""
    try:
        tag = tag_of(name)
    except ValueError:
        raise QueryError(f"unknown query parameter or attribute {name[:40]!r}") from None
    group, element = tag >> 16, tag & 0xFFFF
    if group in (0x0000, 0x0002, 0xFFFE) or element == 0x0000:
        raise QueryError(f"attribute {name[:40]!r} cannot be searched or returned")
    keyword = keyword_for_tag(tag)
    if not keyword:
        raise QueryError(f"attribute {name[:40]!r} has no keyword")
    vrs = set(str(dictionary_VR(tag)).split(" or "))
    if group == 0x7FE0 or vrs & BULK_VRS:
        raise QueryError(f"{keyword} is bulk data: it cannot be searched or returned")
    return keyword


def _check_number(keyword: str, vr: str, value: str) -> None:
    """Numbers match as single values (PS3.4 §C.2.2.2.1; no wildcards): each one must fit."""
    for item in value.split("\\"):
        text = item.strip(" ")
        if vr in _INT_RANGES:
            low, high = _INT_RANGES[vr]
            if not re.fullmatch(r"[+-]?\d{1,20}", text) or not low <= int(text) <= high:
                raise QueryError(f"{keyword}: {item[:20]!r} is not a valid {vr} value")
        elif not _DECIMAL.fullmatch(text) or (vr == "DS" and len(text) > 16):
            raise QueryError(f"{keyword}: {item[:20]!r} is not a valid {vr} value")


def _check_range(keyword: str, vr: str, value: str) -> None:
    """A single value or a range ``a-b``, ``-b``, ``a-`` of DA/TM/DT (PS3.4 §C.2.2.2.5)."""
    if value == "-":
        raise QueryError(f"{keyword}: a range needs at least one bound")
    one = _RANGE_FORMATS[vr].pattern
    found = re.fullmatch(f"({one})?(-({one})?)?", value)
    if found is None or not value:
        raise QueryError(f"{keyword}: {value[:40]!r} is not a valid {vr} value or range")
    low, _, high = value.partition("-") if vr == "DA" else ("", "", "")
    if low and high and low > high:
        raise QueryError(f"{keyword}: the range starts after it ends")


def _value(keyword: str, raws: list[str]) -> str:
    """The matching value of one attribute: repeated parameters and UID lists become a list."""
    vr = dictionary_VR(keyword)
    if len(raws) > 1 and vr != "UI":
        raise QueryError(f"{keyword} is given more than once")
    if vr == "UI":
        uids = [u.strip() for raw in raws for u in re.split(r"[,\\]", raw) if u.strip()]
        for uid in uids:
            if not re.fullmatch(r"[0-9.]{1,64}", uid):
                raise QueryError(f"{keyword}: {uid[:64]!r} is not a UID")
        return "\\".join(uids)
    value = raws[0]
    if vr in _RANGE_FORMATS and value:
        for item in value.split("\\"):
            _check_range(keyword, vr, item)
    if vr == "SQ":
        raise QueryError(f"{keyword}: sequence matching is not supported")
    if " or " in vr and value not in ("", "*"):
        raise QueryError(f"{keyword}: matching on an attribute of ambiguous VR is not supported")
    if vr in ("AT",):
        raise QueryError(f"{keyword}: matching on {vr} values is not supported")
    if value not in ("", "*") and (vr in _INT_RANGES or vr in ("DS", "FL", "FD")):
        _check_number(keyword, vr, value)
    return value


def _integer(name: str, raw: list[str]) -> int:
    if len(raw) != 1 or not raw[0].strip().isdigit():
        raise QueryError(f"{name} must be one non-negative integer")
    return int(raw[0])


def parse(args: Iterable[tuple[str, str]]) -> QidoQuery:
    """Parse the query string's ``(name, value)`` pairs (in order, repeats kept)."""
    grouped: dict[str, list[str]] = {}
    for name, value in args:
        grouped.setdefault(name, []).append(value)
    match: dict[str, str] = {}
    include: list[str] = []
    include_all = False
    for name, raws in grouped.items():
        if name in OPTIONS:
            continue
        keyword = _keyword(name)
        if keyword in match:
            raise QueryError(f"{keyword} is given more than once")
        match[keyword] = _value(keyword, raws)
    for raw in grouped.get("includefield", []):
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item == "all":
                include_all = True
            else:
                include.append(_keyword(item))
    fuzzy_raw = grouped.get("fuzzymatching", ["false"])
    if len(fuzzy_raw) != 1 or fuzzy_raw[0].lower() not in ("true", "false"):
        raise QueryError("fuzzymatching must be true or false")
    limit = _integer("limit", grouped["limit"]) if "limit" in grouped else None
    if limit is not None and limit > MAX_LIMIT:
        raise QueryError(f"limit must be at most {MAX_LIMIT}")
    offset = _integer("offset", grouped["offset"]) if "offset" in grouped else 0
    return QidoQuery(
        match=match,
        include=tuple(dict.fromkeys(include)),
        include_all=include_all,
        fuzzy=fuzzy_raw[0].lower() == "true",
        limit=limit,
        offset=offset,
    )
