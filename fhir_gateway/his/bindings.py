"""Bindings: how one FHIR search parameter becomes a SQL condition on one HIS table.

Each binding turns a parsed ``Criterion`` (values ORed) into a SQLAlchemy clause. The semantics
follow http://hl7.org/fhir/R4/search.html: token matching with systems and ``:not``,
``:missing``; reference matching by id with type checks; dates as ranges with every prefix;
strings by case-insensitive prefix, ``:exact`` and ``:contains``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, func, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from mappers import codes
from mappers.ids import parse_id

from ..errors import BadRequest
from ..fhir.query import Criterion, DateValue, ReferenceValue, TokenValue, now_utc

Clause = ColumnElement[bool]


class Binding:
    """Base: subclasses implement ``match`` for one value; ``clause`` combines values."""

    nullable_col: ColumnElement[Any] | None = None

    def clause(self, crit: Criterion) -> Clause:
        if crit.missing is not None:
            return self.missing(crit.missing)
        matched = or_(*(self.match(v, crit.modifier) for v in crit.values))
        return not_(matched) if crit.modifier == "not" else matched

    def match(self, value: Any, modifier: str | None) -> Clause:
        raise NotImplementedError

    def missing(self, missing: bool) -> Clause:
        col = self.nullable_col
        if col is None:
            return false() if missing else true()
        return col.is_(None) if missing else col.is_not(None)


def _in(col: ColumnElement[Any], values: Sequence[Any]) -> Clause:
    if not values:
        return false()
    return col == values[0] if len(values) == 1 else col.in_(values)


@dataclass
class IdBinding(Binding):
    """``_id``: a FHIR id belongs to this record kind (``mappers.ids``)."""

    resource_type: str
    kind: str
    col: ColumnElement[Any]

    def match(self, value: TokenValue, modifier: str | None) -> Clause:
        parsed = parse_id(self.resource_type, value.code or "")
        return self.col == parsed[1] if parsed and parsed[0] == self.kind else false()


@dataclass
class TokenColumn(Binding):
    """A coded column. ``codes`` maps a FHIR code to the HIS codes it stands for (None: same)."""

    col: ColumnElement[Any]
    systems: tuple[str, ...]
    codes: Mapping[str, Sequence[Any]] | None = None
    nullable: bool = False

    def __post_init__(self) -> None:
        self.nullable_col = self.col if self.nullable else None

    def match(self, value: TokenValue, modifier: str | None) -> Clause:
        if value.system is not None and value.system not in self.systems:
            return false()
        if value.code is None:
            return self.col.is_not(None)
        his = [value.code] if self.codes is None else list(self.codes.get(value.code, ()))
        return _in(self.col, his)


@dataclass
class CodingsToken(Binding):
    """A coded column shown as several codings, one per system: ``systems`` maps each system
    to its FHIR code -> HIS codes table (None: the HIS code itself). A value without a system
    matches the code in any of them."""

    col: ColumnElement[Any]
    systems: Mapping[str, Mapping[str, Sequence[Any]] | None]

    def match(self, value: TokenValue, modifier: str | None) -> Clause:
        if value.system is not None and value.system not in self.systems:
            return false()
        if value.code is None:
            return self.col.is_not(None)
        wanted = [value.system] if value.system is not None else list(self.systems)
        his: list[Any] = []
        for system in wanted:
            table = self.systems[system]
            his += [value.code] if table is None else list(table.get(value.code, ()))
        return _in(self.col, sorted(set(his)))


@dataclass
class ConstantToken(Binding):
    """Every record of the kind carries the same codings (e.g. a category)."""

    codings: tuple[tuple[str, str], ...]

    def matches(self, value: TokenValue) -> bool:
        return any(
            value.system in (None, system) and value.code in (None, code)
            for system, code in self.codings
        )

    def match(self, value: TokenValue, modifier: str | None) -> Clause:
        return true() if self.matches(value) else false()


@dataclass
class FlagToken(Binding):
    """A boolean column shown as codings: ``on`` codings when true, ``off`` codings when false."""

    col: ColumnElement[Any]
    on: tuple[tuple[str, str], ...]
    off: tuple[tuple[str, str], ...]

    def match(self, value: TokenValue, modifier: str | None) -> Clause:
        options = []
        for flag, codings in ((True, self.on), (False, self.off)):
            if ConstantToken(codings).matches(value):
                options.append(self.col.is_(flag))
        return or_(*options) if options else false()


class Absent(Binding):
    """A parameter whose element this kind of record never carries."""

    def match(self, value: Any, modifier: str | None) -> Clause:
        return false()


@dataclass
class AnalyteCode(Binding):
    """Observation ``code``: the lab's local analyte code, or LOINC through ``mappers.codes``.

    LOINC depends on the analyte *and* its unit (mass or substance concentration, ...), so a
    LOINC search becomes (analyte, unit) conditions derived from the mapper's own table.
    """

    analyte_col: ColumnElement[Any]
    unit_col: ColumnElement[Any]
    local_system: str

    def match(self, value: TokenValue, modifier: str | None) -> Clause:
        options: list[Clause] = []
        if value.system in (None, self.local_system) and value.code:
            options.append(self.analyte_col == value.code)
        if value.system in (None, codes.LOINC) and value.code:
            options += [self._analyte(rule) for rule in codes.analytes_with_loinc(value.code)]
        return or_(*options) if options else false()

    def _analyte(self, rule: codes.AnalyteUnits) -> Clause:
        unit = self.unit_col
        units: list[Clause] = []
        if rule.units:
            units.append(unit.in_(sorted(rule.units)))
        if rule.without_unit:
            units.append(unit.is_(None))
        if rule.other_units:
            units.append(and_(unit.is_not(None), unit.not_in(sorted(codes.KNOWN_UNITS))))
        return and_(self.analyte_col == rule.analyte_code, or_(*units) if units else false())


@dataclass
class BoolToken(Binding):
    col: ColumnElement[Any]

    def match(self, value: TokenValue, modifier: str | None) -> Clause:
        if value.code not in ("true", "false"):
            raise BadRequest("A boolean search value is true or false")
        return self.col.is_(value.code == "true")


@dataclass
class IdentifierBinding(Binding):
    """Identifiers in several columns, each with its system and an optional extra condition."""

    systems: Sequence[tuple[str, ColumnElement[Any], Clause | None]]

    def match(self, value: TokenValue, modifier: str | None) -> Clause:
        options = []
        for system, col, extra in self.systems:
            if value.system is not None and value.system != system:
                continue
            cond = col == value.code if value.code is not None else col.is_not(None)
            options.append(and_(cond, extra) if extra is not None else cond)
        return or_(*options) if options else false()


@dataclass
class ReferenceBinding(Binding):
    """A reference column per target type, e.g. {"Patient": patient_id}."""

    targets: Mapping[str, ColumnElement[Any]]
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.nullable and len(self.targets) == 1:
            self.nullable_col = next(iter(self.targets.values()))

    def match(self, value: ReferenceValue, modifier: str | None) -> Clause:
        options = []
        for rtype, col in self.targets.items():
            if value.type is not None and value.type != rtype:
                continue
            parsed = parse_id(rtype, value.id)
            if parsed is not None:
                options.append(col == parsed[1])
        return or_(*options) if options else false()


@dataclass
class KindReference(Binding):
    """A reference to a resource type served from several record kinds (DiagnosticReport)."""

    target_type: str
    cols: Mapping[str, ColumnElement[Any]]  # record kind of the target -> column here

    def match(self, value: ReferenceValue, modifier: str | None) -> Clause:
        if value.type not in (None, self.target_type):
            return false()
        parsed = parse_id(self.target_type, value.id)
        if parsed is None or parsed[0] not in self.cols:
            return false()
        return self.cols[parsed[0]] == parsed[1]


def _approx(value: DateValue) -> tuple[datetime, datetime]:
    """search.html#prefix ``ap``: the range widened by 10% of its distance from now."""
    gap = abs(now_utc() - value.low) * 0.1
    return value.low - gap, value.high + gap


@dataclass
class DateBinding(Binding):
    """A point in time (a DateTime column) or, with ``end``, a period whose open end is now."""

    start: ColumnElement[Any]
    end: ColumnElement[Any] | None = None
    nullable: bool = False
    is_date: bool = False  # a Date column: the point is the whole day

    def __post_init__(self) -> None:
        self.nullable_col = self.start if self.nullable else None

    def _bounds(self, low: datetime, high: datetime) -> tuple[Any, Any]:
        if self.is_date:  # compare days; a partial high bound rounds up to the next day
            hi = high.date() if high.time() == datetime.min.time() else high.date() + timedelta(1)
            return low.date(), hi
        return low, high

    def match(self, value: DateValue, modifier: str | None) -> Clause:
        low, high = _approx(value) if value.prefix == "ap" else (value.low, value.high)
        lo, hi = self._bounds(low, high)
        if self.end is None:
            return self._point(value.prefix, lo, hi)
        return self._period(value.prefix, lo, hi)

    def _point(self, prefix: str, lo: date | datetime, hi: date | datetime) -> Clause:
        col = self.start
        return {
            "eq": lambda: and_(col >= lo, col < hi),
            "ap": lambda: and_(col >= lo, col < hi),
            "ne": lambda: or_(col < lo, col >= hi),
            "gt": lambda: col >= hi,
            "sa": lambda: col >= hi,
            "ge": lambda: col >= lo,
            "lt": lambda: col < lo,
            "eb": lambda: col < lo,
            "le": lambda: col < hi,
        }[prefix]()

    def _period(self, prefix: str, lo: datetime | date, hi: datetime | date) -> Clause:
        start, end = self.start, self.end
        assert end is not None
        open_end = end.is_(None)
        return {
            "eq": lambda: and_(start >= lo, end.is_not(None), end < hi),
            "ap": lambda: and_(start < hi, or_(open_end, end >= lo)),
            "ne": lambda: not_(and_(start >= lo, end.is_not(None), end < hi)),
            "gt": lambda: or_(open_end, end >= hi),
            "sa": lambda: start >= hi,
            "ge": lambda: or_(open_end, end >= lo),
            "lt": lambda: start < lo,
            "eb": lambda: and_(end.is_not(None), end < lo),
            "le": lambda: start < hi,
        }[prefix]()


@dataclass
class StringBinding(Binding):
    """Strings: case-insensitive prefix by default; ``:exact``; ``:contains``."""

    cols: Sequence[ColumnElement[Any]]
    fold: Callable[[ColumnElement[Any]], ColumnElement[Any]] = field(default=func.lower)

    def match(self, value: str, modifier: str | None) -> Clause:
        if modifier == "exact":
            return or_(*(col == value for col in self.cols))
        needle = _escape_like(value.lower())
        pattern = f"%{needle}%" if modifier == "contains" else f"{needle}%"
        return or_(*(self.fold(col).like(literal(pattern), escape="\\") for col in self.cols))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class UriBinding(Binding):
    """A canonical URL ``{prefix}{his code}`` matched exactly (search.html#uri)."""

    col: ColumnElement[Any]
    prefix: str

    def match(self, value: str, modifier: str | None) -> Clause:
        url = value.split("|", 1)[0]
        if not url.startswith(self.prefix):
            return false()
        return self.col == url[len(self.prefix) :]


def reverse(table: Mapping[Any, str]) -> dict[str, list[Any]]:
    """Invert a HIS-code -> FHIR-code table into FHIR code -> HIS codes."""
    out: dict[str, list[Any]] = {}
    for his, fhir in table.items():
        out.setdefault(fhir, []).append(his)
    return out


def codes_of(pairs: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for fhir, his in pairs:
        out.setdefault(fhir, []).append(his)
    return out
