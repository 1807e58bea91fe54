"""State shared by the generator's parts: the clock, id counters, the organisation, the person.

The generator's clock stands at ``now`` = midnight UTC at the start of ``today``: everything
that happened is before it, everything planned (future slots, booked appointments, planned
episodes) after it. Nothing reads the wall clock.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Table

from .bulk import RowBuffer
from .catalog import Hospital, Text, tr

if TYPE_CHECKING:
    from .documents import DocumentQueue
    from .questionnaires import Definition

HISTORY_YEARS = 8


def between(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """A whole-minute instant in [start, end] (``start`` if the span is empty)."""
    minutes = int((end - start).total_seconds() // 60)
    return start + dt.timedelta(minutes=rng.randint(0, minutes)) if minutes > 0 else start


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` moved by whole ``years`` (29 February becomes 1 March in common years)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's method; a normal approximation for large means)."""
    if mean > 30:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass(frozen=True)
class Clock:
    """``today`` and the instant the generated history ends (``now``, its midnight UTC)."""

    today: dt.date

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.combine(self.today, dt.time())

    def history_start(self) -> dt.datetime:
        """The earliest instant any generated episode may start."""
        return self.now - dt.timedelta(days=365 * HISTORY_YEARS)


class Sequences:
    """Integer ids per table and running numbers per series (e.g. episodes of a kind and year)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = defaultdict(int)
        self._series: dict[object, int] = defaultdict(int)

    def next_id(self, table: Table) -> int:
        """The next id of ``table`` (1, 2, ...)."""
        self._ids[table.name] += 1
        return self._ids[table.name]

    def next_in(self, series: object) -> int:
        """The next number of ``series`` (1, 2, ...)."""
        self._series[series] += 1
        return self._series[series]


@dataclass(frozen=True)
class DoctorRef:
    """What the rest of the generator needs to know of a doctor."""

    id: int
    code: str
    display: str
    specialty: str
    department_id: int


@dataclass(frozen=True)
class ServiceRef:
    """A bookable service."""

    id: int
    code: str
    specialty: str
    department_id: int
    duration_min: int
    telemedicine: bool


@dataclass(frozen=True)
class SlotRef:
    """A busy slot waiting for its appointment."""

    id: int
    start: dt.datetime
    end: dt.datetime
    doctor: DoctorRef
    service: ServiceRef
    telemedicine: bool


@dataclass(frozen=True)
class QuestionnaireRef:
    """A questionnaire patients of ``locale`` may be sent."""

    id: int
    locale: str
    definition: Definition
    published_at: dt.datetime


@dataclass
class Organisation:
    """The hospital as built by ``reference``: departments, doctors, services, slots."""

    locale: str
    hospital: Hospital
    department_ids: dict[str, int] = field(default_factory=dict)
    department_names: dict[int, Text] = field(default_factory=dict)
    department_abbr: dict[int, str] = field(default_factory=dict)
    doctors: dict[str, list[DoctorRef]] = field(default_factory=dict)
    services: dict[str, list[ServiceRef]] = field(default_factory=dict)
    questionnaires: list[QuestionnaireRef] = field(default_factory=list)
    past_slots: list[SlotRef] = field(default_factory=list)
    future_slots: list[SlotRef] = field(default_factory=list)

    def department(self, code: str) -> int:
        """The id of department ``code``."""
        return self.department_ids[code]

    def department_name(self, department_id: int, locale: str) -> str:
        """The name of a department in ``locale``."""
        return tr(self.department_names[department_id], locale)

    def doctor(self, rng: random.Random, specialty: str) -> DoctorRef:
        """Some doctor of ``specialty``."""
        return rng.choice(self.doctors[specialty])


@dataclass
class Person:
    """The patient being generated, and the span of their history with the hospital."""

    id: int
    locale: str
    gender: str
    birth: dt.date
    given: str
    family: str
    national_id: str
    mrn: str
    conditions: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    alive: bool
    documents: bool

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"

    def age(self, on: dt.date) -> int:
        """Age in whole years on ``on``."""
        years = on.year - self.birth.year
        return years - ((on.month, on.day) < (self.birth.month, self.birth.day))


@dataclass
class Batch:
    """The run's shared state (clock, organisation, id counters) and the current batch's
    queued rows and documents: what every part of the generator works with."""

    clock: Clock
    org: Organisation
    seq: Sequences
    rows: RowBuffer
    docs: DocumentQueue
