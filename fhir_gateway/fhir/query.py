"""Parse FHIR search requests into a framework-free ``SearchQuery``.

Implements the parameter syntax of http://hl7.org/fhir/R4/search.html: tokens
(``[system]|[code]``, search.html#token), references (``[type]/[id]``, ``[id]`` or an absolute
URL of this server, search.html#reference), dates with prefixes and partial precision
(search.html#date, #prefix), strings (search.html#string), OR by commas with ``\\,`` escapes
(search.html#escaping), AND by repetition, modifiers, and the result parameters ``_count``,
``_sort``, ``_include``, ``_revinclude``, ``_summary``, ``_elements``, ``_total``.
Unknown parameters are ignored under ``Prefer: handling=lenient`` (the default) and refused under
``handling=strict`` (search.html#errors). Parameters R4 defines that the gateway does not
implement (``_filter``, ``_text``, ``_list``, ``_contained``, a type's unserved parameters, an
unsupported modifier...) are refused under either handling: ignoring them would answer a wider
set of resources than the one asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import BadRequest, UnknownParameter
from .registry import DATE_PREFIXES, ResourceSpec, SearchParam, is_standard, registry

RESULT_PARAMS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_total",
        "_format",
        "_cursor",
        "_pretty",
    }
)
SUMMARY_VALUES = frozenset({"count", "false", "data"})
TOTAL_VALUES = frozenset({"none", "estimate", "accurate"})


@dataclass(frozen=True, slots=True)
class TokenValue:
    """``system|code``; ``system`` None means any system, "" means no system."""

    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    type: str | None
    id: str


@dataclass(frozen=True, slots=True)
class DateValue:
    """A date search value: the half-open instant range [low, high) and its prefix."""

    prefix: str
    low: datetime
    high: datetime


Value = TokenValue | ReferenceValue | DateValue | str


@dataclass(frozen=True, slots=True)
class Criterion:
    """One parameter occurrence: the values are ORed; criteria of a query are ANDed."""

    param: SearchParam
    modifier: str | None
    values: tuple[Value, ...]
    missing: bool | None = None  # set for :missing


@dataclass(frozen=True, slots=True)
class Include:
    source_type: str
    param: SearchParam
    target_type: str | None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    criteria: tuple[Criterion, ...]
    sort: tuple[str, bool]  # (parameter, descending)
    count: int
    cursor: str | None
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    summary: str | None = None
    elements: tuple[str, ...] = ()
    total: bool = False
    #: The parameters that were used, normalised, for the self link and paging links.
    used: tuple[tuple[str, str], ...] = ()
    #: Names of parameters ignored under lenient handling.
    ignored: tuple[str, ...] = ()
    #: Access narrowing from scope filters: results must match all criteria of one group;
    #: None = unfiltered, () = nothing matches.
    scope_filters: tuple[tuple[Criterion, ...], ...] | None = None


# --- values -------------------------------------------------------------------------------------

_SPLIT = re.compile(r"(?<!\\),")
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def split_or(raw: str) -> list[str]:
    """Split a value on unescaped commas and undo ``\\,`` ``\\|`` ``\\$`` ``\\\\`` escapes."""
    return [re.sub(r"\\([,|$\\])", r"\1", part) for part in _SPLIT.split(raw)]


def parse_token(raw: str) -> TokenValue:
    if raw == "":
        raise BadRequest("A token search value must not be empty")
    system, bar, code = raw.partition("|")
    if not bar:
        return TokenValue(None, raw)
    return TokenValue(system, code or None)


def parse_reference(raw: str, base_url: str, type_modifier: str | None) -> ReferenceValue:
    value = raw
    if value.startswith(base_url + "/"):
        value = value[len(base_url) + 1 :]
    parts = value.split("/")
    if len(parts) == 1 and parts[0]:
        return ReferenceValue(type_modifier, parts[0])
    if len(parts) == 2 and all(parts) and parts[0][:1].isupper():
        if type_modifier and type_modifier != parts[0]:
            raise BadRequest(f"Reference {parts[0]}/… does not match the modifier :{type_modifier}")
        return ReferenceValue(parts[0], parts[1])
    raise BadRequest("A reference search value is [type]/[id], [id] or a URL of this server")


def parse_date(raw: str) -> DateValue:
    prefix, text = (raw[:2], raw[2:]) if raw[:2] in DATE_PREFIXES else ("eq", raw)
    match = _DATE.match(text)
    if not match:
        raise BadRequest(f"'{_clip(raw)}' is not a FHIR date, dateTime or instant")
    g = match.groupdict()
    try:
        low, step = _date_range(g)
        high = _add(low, step)
        if g["tz"] and g["tz"] != "Z":
            if int(g["tz"][1:3]) > 14 or int(g["tz"][4:6]) > 59:
                raise ValueError("a time zone offset is at most 14:00")
            sign = 1 if g["tz"][0] == "+" else -1
            offset = timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][4:6])) * sign
            low, high = low - offset, high - offset
    except (ValueError, OverflowError):
        # a day, hour or offset out of range, or a range past year 9999 or before year 1
        raise BadRequest(f"'{_clip(raw)}' is not a valid date") from None
    return DateValue(prefix, low, high)


def _date_range(g: dict[str, str | None]) -> tuple[datetime, Any]:
    year = int(g["y"] or 0)
    if g["m"] is None:
        return datetime(year, 1, 1), "year"
    month = int(g["m"])
    if g["d"] is None:
        return datetime(year, month, 1), "month"
    day = int(g["d"])
    if g["H"] is None:
        return datetime(year, month, day), timedelta(days=1)
    hour, minute = int(g["H"]), int(g["M"] or 0)
    if g["S"] is None:
        return datetime(year, month, day, hour, minute), timedelta(minutes=1)
    second = int(g["S"])
    if g["f"] is None:
        return datetime(year, month, day, hour, minute, second), timedelta(seconds=1)
    frac = g["f"]
    micro = int(frac.ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, micro), timedelta(
        microseconds=10 ** (6 - len(frac))
    )


def _add(low: datetime, step: Any) -> datetime:
    """The end of the range that starts at ``low``; the last instant Python knows for a range
    that ends after year 9999 (``9999``, ``9999-12-31``)."""
    try:
        if step == "year":
            return low.replace(year=low.year + 1)
        if step == "month":
            return low.replace(year=low.year + low.month // 12, month=low.month % 12 + 1)
        return low + step  # type: ignore[no-any-return]
    except (ValueError, OverflowError):
        return datetime.max


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- the query ----------------------------------------------------------------------------------


def _refuse_unsupported_feature(name: str, code: str) -> None:
    """Chained parameters (search.html#chaining), ``_has`` (#has) and ``_include:iterate``
    (#revinclude) are not supported, and are refused even under lenient handling: ignoring
    them would answer with every resource the grant covers instead of the few asked for."""
    if code in ("_include", "_revinclude"):
        feature = f"{code}:{name.partition(':')[2]}"
    elif code == "_has":
        feature = "_has (reverse chaining)"
    elif "." in name:
        feature = f"chained parameters ({name.partition('.')[0]}.…)"
    else:
        return
    raise UnknownParameter(f"This server does not support {_clip(feature)}: '{_clip(name)}'")


def _unsupported(resource_type: str, name: str, known: bool) -> str:
    what = f"the modifier of '{_clip(name)}'" if known else f"the parameter '{_clip(name)}'"
    return (
        f"This server does not support {what} on {resource_type}; it is refused rather than "
        "ignored, since ignoring it would return more than was asked for"
    )


class QueryParser:
    """Turns (name, value) pairs of one request into a ``SearchQuery`` for one resource type."""

    def __init__(self, base_url: str, default_count: int, max_count: int) -> None:
        self.base_url = base_url
        self.default_count = default_count
        self.max_count = max_count

    def parse(
        self, spec: ResourceSpec, pairs: Iterable[tuple[str, str]], *, strict: bool = False
    ) -> SearchQuery:
        criteria: list[Criterion] = []
        used: list[tuple[str, str]] = []
        ignored: list[str] = []
        options: dict[str, Any] = {"count": self.default_count, "sort": ("_id", False)}
        includes: list[Include] = []
        revincludes: list[Include] = []
        for name, value in pairs:
            if name in RESULT_PARAMS:
                if self._result_param(spec, name, value, options, includes, revincludes):
                    used.append((name, value))
                continue
            code, _, modifier = name.partition(":")
            _refuse_unsupported_feature(name, code)
            param = spec.params.get(code)
            if param is None or (modifier and not self._modifier_ok(param, modifier)):
                if is_standard(spec.type, code):
                    raise UnknownParameter(_unsupported(spec.type, name, param is not None))
                if strict:
                    raise UnknownParameter(
                        f"Unknown or unsupported search parameter '{_clip(name)}' for {spec.type}"
                    )
                ignored.append(name)
                continue
            criteria.append(self._criterion(param, modifier or None, value))
            used.append((name, value))
        return SearchQuery(
            resource_type=spec.type,
            criteria=tuple(criteria),
            sort=options["sort"],
            count=options["count"],
            cursor=options.get("cursor"),
            includes=tuple(includes),
            revincludes=tuple(revincludes),
            summary=options.get("summary"),
            elements=options.get("elements", ()),
            total=options.get("total", False),
            used=tuple(used),
            ignored=tuple(ignored),
        )

    def page_size(self, raw: str | None) -> int:
        """``_count``: the default when absent, lowered to the maximum when larger."""
        if raw is None:
            return self.default_count
        if not raw.isdigit():
            raise BadRequest("_count must be a non-negative whole number")
        return min(int(raw), self.max_count)

    @staticmethod
    def _modifier_ok(param: SearchParam, modifier: str) -> bool:
        if modifier in param.modifiers:
            return True
        return param.type == "reference" and modifier in param.targets

    def _criterion(self, param: SearchParam, modifier: str | None, raw: str) -> Criterion:
        if modifier == "missing":
            if raw not in ("true", "false"):
                raise BadRequest(f"{param.code}:missing takes true or false")
            return Criterion(param, modifier, (), missing=raw == "true")
        parts = split_or(raw)
        if param.type == "token":
            values: tuple[Value, ...] = tuple(parse_token(p) for p in parts)
        elif param.type == "reference":
            type_mod = modifier if modifier and modifier in param.targets else None
            values = tuple(parse_reference(p, self.base_url, type_mod) for p in parts)
        elif param.type == "date":
            values = tuple(parse_date(p) for p in parts)
        else:
            if any(p == "" for p in parts):
                raise BadRequest(f"An empty value for {param.code} matches nothing")
            values = tuple(parts)
        return Criterion(param, modifier, values)

    def _result_param(
        self,
        spec: ResourceSpec,
        name: str,
        value: str,
        options: dict[str, Any],
        includes: list[Include],
        revincludes: list[Include],
    ) -> bool:
        """Apply one result parameter; return whether it belongs in the self link."""
        if name == "_count":
            options["count"] = self.page_size(value)
        elif name == "_sort":
            options["sort"] = self._sort(spec, value)
        elif name == "_include":
            includes.append(self._include(value, lambda src: src == spec.type))
        elif name == "_revinclude":
            revincludes.append(self._include(value, lambda _src: True, target=spec.type))
        elif name == "_summary":
            if value not in SUMMARY_VALUES:
                raise BadRequest(f"_summary supports {', '.join(sorted(SUMMARY_VALUES))}")
            options["summary"] = None if value == "false" else value
        elif name == "_elements":
            options["elements"] = tuple(e.strip() for e in value.split(",") if e.strip())
        elif name == "_total":
            if value not in TOTAL_VALUES:
                raise BadRequest("_total is none, estimate or accurate")
            options["total"] = value != "none"
        elif name == "_cursor":
            options["cursor"] = value
            return False
        else:  # _format and _pretty are handled by the HTTP layer
            return False
        return True

    @staticmethod
    def _sort(spec: ResourceSpec, value: str) -> tuple[str, bool]:
        keys = [k for k in value.split(",") if k]
        if len(keys) != 1:
            raise BadRequest("_sort takes one parameter (results are then ordered by id)")
        desc = keys[0].startswith("-")
        key = keys[0].lstrip("-")
        if key not in spec.sorts:
            raise BadRequest(f"{spec.type} can be sorted by {', '.join(spec.sorts)}")
        return key, desc

    @staticmethod
    def _include(value: str, source_ok: Any, target: str | None = None) -> Include:
        parts = value.split(":")
        if parts[-1] == "iterate" or len(parts) not in (2, 3):
            raise BadRequest("_include/_revinclude take [type]:[parameter](:[target type])")
        source, code = parts[0], parts[1]
        src_spec = registry().get(source)
        param = src_spec.params.get(code) if src_spec else None
        if param is None or param.type != "reference" or not source_ok(source):
            raise BadRequest(f"{_clip(value)} is not a supported include")
        target_type = parts[2] if len(parts) == 3 else None
        if target_type and target_type not in param.targets:
            raise BadRequest(f"{_clip(value)}: {target_type} is not a target of {code}")
        if target and target not in param.targets:
            raise BadRequest(f"{_clip(value)} does not point at {target}")
        return Include(source, param, target_type or target)
