"""Episodes of care (AMB, DAY, HOSP and CONS within an admission) of one patient.

Statuses follow the clock: episodes that ended are ``closed`` (a few AMB/DAY ``cancelled``),
an admission still running at ``now`` is ``open`` (ended_at NULL), a booked future visit is
``planned``. A CONS always starts inside its admission (``parent_id``) and belongs to another
specialty. Numbers read ``<KIND>-<YEAR>-<000123>`` and count per kind and year.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace

from fhir_gateway.his import schema

from .catalog import CLINICAL, WARD_OF, tr
from .context import Batch, DoctorRef, Person, between, poisson
from .labdata import CONDITION_BY_CODE, ROUTINE_ADULT, ROUTINE_CHILD, ROUTINE_WOMAN
from .texts import REASONS

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Episode:
    """An episode as the rest of the generator sees it (id and number given when queued)."""

    kind: str
    status: str
    start: dt.datetime
    end: dt.datetime | None
    doctor: DoctorRef
    department_id: int
    reason: str
    parent_id: int | None = None
    id: int = 0
    number: str = ""

    @property
    def happened(self) -> bool:
        """True if care took place (closed or open), so tests and documents can hang off it."""
        return self.status in ("closed", "open")


def specialties_of(person: Person, on: dt.date) -> list[str]:
    """The specialties ``person`` is seen by, likeliest first (conditions, then routine care)."""
    chosen = [s for code in person.conditions for s in CONDITION_BY_CODE[code].specialties]
    routine: tuple[str, ...]
    if person.age(on) < 18:
        chosen = [s if s != "pulmonology" else "paediatrics" for s in chosen]
        routine = ROUTINE_CHILD
    else:
        chosen = [s for s in chosen if s != "paediatrics"]
        routine = ROUTINE_WOMAN if person.gender == "F" else ROUTINE_ADULT
    return chosen * 3 + list(routine)


def episodes(batch: Batch, rng: random.Random, person: Person) -> list[Episode]:
    """Queue the patient's episodes (chronological, each admission before its CONS)."""
    years = max((person.end - person.start).days / 365.25, 0.05)
    burden = len(person.conditions)
    oncology = "oncology" in person.conditions
    # (kind, episodes per year, at least): everyone known to the hospital came once
    rates = (
        ("AMB", 0.5 + 0.45 * burden, 1),
        ("HOSP", 0.03 + 0.05 * burden, 0),
        ("DAY", 0.04 + 0.8 * oncology, 0),
    )
    plan = [
        (kind, when)
        for kind, rate, least in rates
        for when in _times(rng, person, least + poisson(rng, years * rate))
    ]
    if person.alive and rng.random() < 0.025:
        plan.append(("HOSP", batch.clock.now - dt.timedelta(hours=rng.randint(6, 140))))
    plan.sort(key=lambda item: item[1])
    result: list[Episode] = []
    busy_until = person.start
    for kind, start in plan:
        if start < busy_until:
            continue  # a visit cannot fall inside an admission
        added = _episode(batch, rng, person, kind, start)
        busy_until = added[0].end or batch.clock.now
        result.extend(added)
    if person.alive and rng.random() < 0.07:
        start = batch.clock.now + dt.timedelta(days=rng.randint(1, 60), hours=rng.randint(6, 12))
        result.extend(_episode(batch, rng, person, rng.choice(("AMB", "AMB", "DAY")), start))
    return result


def _times(rng: random.Random, person: Person, count: int) -> list[dt.datetime]:
    return [between(rng, person.start, person.end - _DAY) for _ in range(min(count, 40))]


def _episode(
    batch: Batch, rng: random.Random, person: Person, kind: str, start: dt.datetime
) -> list[Episode]:
    specialty = rng.choice(specialties_of(person, start.date()))
    doctor = batch.org.doctor(rng, specialty)
    if kind == "AMB":
        department = batch.org.department("AMBU")
    else:
        department = batch.org.department("DAYH" if kind == "DAY" else WARD_OF[specialty])
    start, end = _span(rng, kind, start)
    if not person.alive:
        end = min(end, person.end)
    status = _status(batch, rng, kind, start, end)
    ended = end if status == "closed" else None
    reason = tr(rng.choice(REASONS[specialty]), person.locale)
    admission = _add(
        batch, rng, person, Episode(kind, status, start, ended, doctor, department, reason)
    )
    if kind != "HOSP" or not admission.happened:
        return [admission]
    consults = [
        _consult(batch, rng, person, admission, specialty) for _ in range(poisson(rng, 0.8))
    ]
    return [admission, *sorted(consults, key=lambda episode: episode.start)]


def _span(rng: random.Random, kind: str, day: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    midnight = dt.datetime.combine(day.date(), dt.time())
    if kind == "AMB":
        start = midnight + dt.timedelta(hours=rng.randint(6, 13), minutes=rng.randrange(0, 60, 5))
        return start, start + dt.timedelta(minutes=rng.randrange(15, 50, 5))
    if kind == "DAY":
        start = midnight + dt.timedelta(hours=rng.randint(6, 8), minutes=rng.randrange(0, 60, 5))
        return start, start + dt.timedelta(hours=rng.randint(4, 8))
    start = day
    end = (midnight + rng.randint(2, 14) * _DAY).replace(hour=rng.randint(8, 12))
    return start, end + dt.timedelta(minutes=rng.randrange(0, 60, 5))


def _status(
    batch: Batch, rng: random.Random, kind: str, start: dt.datetime, end: dt.datetime
) -> str:
    if start >= batch.clock.now:
        return "planned"
    if end > batch.clock.now:
        return "open"
    if kind != "HOSP" and rng.random() < 0.03:
        return "cancelled"
    return "closed"


def _consult(
    batch: Batch, rng: random.Random, person: Person, admission: Episode, specialty: str
) -> Episode:
    others = [
        code
        for code in CLINICAL
        if code not in (specialty, "paediatrics", "obstetrics_gynaecology")
    ]
    consultant = batch.org.doctor(rng, rng.choice(others))
    last = admission.end or batch.clock.now
    start = between(rng, admission.start + dt.timedelta(hours=2), last - dt.timedelta(hours=1))
    end = min(start + dt.timedelta(minutes=rng.randrange(20, 60, 5)), last)
    reason = tr(rng.choice(REASONS[consultant.specialty]), person.locale)
    consult = Episode(
        "CONS", "closed", start, end, consultant, consultant.department_id, reason, admission.id
    )
    return _add(batch, rng, person, consult)


def _add(batch: Batch, rng: random.Random, person: Person, draft: Episode) -> Episode:
    """Queue the row of ``draft``; return the episode with its id and number."""
    year = draft.start.year
    episode = replace(
        draft,
        id=batch.seq.next_id(schema.episode),
        number=f"{draft.kind}-{year}-{batch.seq.next_in((draft.kind, year)):06d}",
    )
    now = batch.clock.now
    if episode.status == "planned":
        updated = now - dt.timedelta(days=rng.randint(1, 20), minutes=rng.randint(1, 600))
    else:
        updated = min(
            (episode.end or episode.start) + dt.timedelta(minutes=rng.randint(5, 240)), now
        )
    batch.rows.add(
        schema.episode,
        {
            "id": episode.id,
            "number": episode.number,
            "kind": episode.kind,
            "patient_id": person.id,
            "parent_id": episode.parent_id,
            "doctor_id": episode.doctor.id,
            "department_id": episode.department_id,
            "started_at": episode.start,
            "ended_at": episode.end,
            "status": episode.status,
            "reason": episode.reason,
            "updated_at": updated,
            "version": 2 if rng.random() < 0.03 else 1,
        },
    )
    return episode
