"""The period filters the record and documents screens share: quick choices (this year, last
year, the last 3 years, any period) and an advanced from/to range, turned into FHIR ``date``
search parameters; and times written in the hospital's time zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import current_app
from flask_babel import get_locale, lazy_gettext  # type: ignore[import-untyped]

#: the quick choices, in the order the screens show them
QUICK = ("this-year", "last-year", "last-3-years", "any")
#: how each language writes a date (as ``local_date``) and a time
_PATTERNS = {"ro": "ro_RO", "pl": "pl_PL", "en": "en_GB"}


@dataclass
class Period:
    """The period a screen shows: ``start`` and ``end`` are inclusive days (None: open)."""

    quick: str
    start: dt.date | None
    end: dt.date | None
    #: the advanced fields as typed, for the form
    typed_from: str = ""
    typed_to: str = ""
    #: (field id, message) of each field that was refused
    errors: list[tuple[str, Any]] = field(default_factory=list)

    def params(self) -> list[str]:
        """The FHIR ``date`` values (search.html#date) of this period."""
        found = []
        if self.start is not None:
            found.append(f"ge{self.start.isoformat()}")
        if self.end is not None:
            found.append(f"le{self.end.isoformat()}")
        return found

    def query(self) -> dict[str, str]:
        """The portal URL parameters that give this period back."""
        if self.typed_from or self.typed_to:
            return {"from": self.typed_from, "to": self.typed_to}
        return {"period": self.quick}


def today() -> dt.date:
    return dt.datetime.now(zone()).date()


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.extensions["portal_settings"].portal_time_zone)


def _day(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def chosen(args: Any, default: str = "any") -> Period:
    """The period asked for by ``args`` (``period``, or ``from`` and ``to`` as yyyy-mm-dd)."""
    now = today()
    typed_from = args.get("from", "").strip()[:10]
    typed_to = args.get("to", "").strip()[:10]
    if typed_from or typed_to:
        start = _day(typed_from) if typed_from else None
        end = _day(typed_to) if typed_to else None
        period = Period("custom", start, end, typed_from, typed_to)
        if typed_from and start is None:
            period.errors.append(("from", lazy_gettext("Enter the start date as a real date.")))
        if typed_to and end is None:
            period.errors.append(("to", lazy_gettext("Enter the end date as a real date.")))
        if start and end and start > end:
            period.errors.append(("to", lazy_gettext("The end date must not be before the start.")))
        if period.errors:
            period.start = period.end = None
        return period
    quick = args.get("period", default)
    if quick == "this-year":
        return Period(quick, dt.date(now.year, 1, 1), now)
    if quick == "last-year":
        return Period(quick, dt.date(now.year - 1, 1, 1), dt.date(now.year - 1, 12, 31))
    if quick == "last-3-years":
        return Period(quick, _years_before(now, 3), now)
    return Period("any", None, None)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def labels() -> dict[str, Any]:
    """The quick choices' names (this year's and last year's with the year itself)."""
    year = today().year
    return {
        "this-year": lazy_gettext("Year %(year)s", year=year),
        "last-year": lazy_gettext("Year %(year)s", year=year - 1),
        "last-3-years": lazy_gettext("Last 3 years"),
        "any": lazy_gettext("Any period"),
    }


def local_datetime(value: str) -> str:
    """A FHIR instant as the day and the time in the hospital's time zone (21.04.2026 09:34)."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None or len(value) <= 10:
        return str(current_app.jinja_env.filters["local_date"](value))
    moment = moment.astimezone(zone())
    lang = str(get_locale())
    pattern = "dd/MM/yyyy" if lang == "en" else "dd.MM.yyyy"
    day = format_date(moment.date(), format=pattern, locale=_PATTERNS.get(lang, "en_GB"))
    return f"{day} {moment:%H:%M}"


def local_day(value: str) -> str:
    """A FHIR instant's day in the hospital's time zone."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return str(current_app.jinja_env.filters["local_date"](value))
    if moment.tzinfo is not None and len(value) > 10:
        value = moment.astimezone(zone()).date().isoformat()
    return str(current_app.jinja_env.filters["local_date"](value))
