"""Patients: households of an adult and sometimes their minor children (F8's "CNP management").

About one adult in seven aged 19-62 brings one or two children under 18 to the hospital; each
child carries the parent's family name (in its feminine or masculine Polish form), lives at the
parent's address, and a ``guardian_link`` (MTH or FTH) runs from the parent to the child until
the child's 18th birthday. National IDs match birth date and sex and are unique; MRNs are
``1000000 + id``.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from fhir_gateway.his import schema

from .. import names
from .context import Batch, Person, add_years, between
from .identifiers import national_id
from .labdata import CONDITIONS

_GUARDIAN_AGES = (19, 62)
_GUARDIAN_RATE = 0.25


@dataclass(frozen=True)
class Household:
    """Everything the members of one household share."""

    locale: str
    family: str
    address: names.Address


def household(
    batch: Batch,
    rng: random.Random,
    locale: str,
    room: int,
    documents_until: int | None,
    taken: set[str],
) -> list[Person]:
    """Queue an adult and perhaps their children (at most ``room`` people); return them."""
    home = Household(locale, names.family_name(rng, locale), names.address(rng, locale))
    today = batch.clock.today
    age = int(18 + 77 * rng.betavariate(2.0, 1.8))
    birth = _birthday(rng, today.year - age - 1, today)
    adult = _person(batch, rng, home, rng.choice("MF"), birth, documents_until, taken)
    members = [adult]
    if _GUARDIAN_AGES[0] <= age <= _GUARDIAN_AGES[1] and rng.random() < _GUARDIAN_RATE:
        for _ in range(min(room - 1, rng.choice((1, 1, 2)))):
            child_birth = _child_birthday(rng, birth, today)
            if child_birth is None:
                break
            child = _person(batch, rng, home, rng.choice("MF"), child_birth, documents_until, taken)
            _guardian_link(batch, adult, child)
            members.append(child)
    return members


def _child_birthday(rng: random.Random, parent: dt.date, today: dt.date) -> dt.date | None:
    """A birthday making a minor today of a parent then adult (None if none fits)."""
    earliest = max(add_years(parent, 18), add_years(today, -18)) + dt.timedelta(days=1)
    latest = today - dt.timedelta(days=30)
    if earliest >= latest:
        return None
    return earliest + dt.timedelta(days=rng.randint(0, (latest - earliest).days))


def _birthday(rng: random.Random, year: int, today: dt.date) -> dt.date:
    """A day in ``year`` (or up to ``today`` in the current year)."""
    first = dt.date(year, 1, 1)
    last = min(dt.date(year, 12, 31), today - dt.timedelta(days=1))
    return first + dt.timedelta(days=rng.randint(0, max((last - first).days, 0)))


def _person(
    batch: Batch,
    rng: random.Random,
    home: Household,
    gender: str,
    birth: dt.date,
    documents_until: int | None,
    taken: set[str],
) -> Person:
    clock = batch.clock
    person_id = batch.seq.next_id(schema.patient)
    locale = home.locale
    given = names.given_name(rng, locale, gender)
    family = names.family_form(home.family, locale, gender)
    age = clock.today.year - birth.year
    conditions = tuple(c.code for c in CONDITIONS if rng.random() < c.probability(age, gender))
    earliest = max(dt.datetime.combine(birth, dt.time()), clock.history_start())
    span = clock.now - dt.timedelta(days=14) - earliest
    start = (earliest + span * rng.random() ** 1.5).replace(second=0, microsecond=0)
    person = Person(
        id=person_id,
        locale=locale,
        gender=gender,
        birth=birth,
        given=given,
        family=family,
        national_id=national_id(rng, locale, birth, gender, home.address.county, taken),
        mrn=str(1_000_000 + person_id),
        conditions=conditions,
        start=start,
        end=clock.now,
        alive=True,
        documents=documents_until is None or person_id <= documents_until,
    )
    if age >= 65 and rng.random() < 0.03 and clock.now - start > dt.timedelta(days=60):
        person.end = between(rng, start + dt.timedelta(days=30), clock.now - dt.timedelta(days=2))
        person.alive = False
    _patient_row(batch, rng, person, home)
    return person


def _patient_row(batch: Batch, rng: random.Random, person: Person, home: Household) -> None:
    adult = person.age(batch.clock.today) >= 18
    moved = rng.random() < 0.05
    batch.rows.add(
        schema.patient,
        {
            "id": person.id,
            "mrn": person.mrn,
            "national_id": person.national_id,
            "national_id_kind": "CNP" if person.locale == "ro" else "PESEL",
            "family": person.family,
            "given": person.given,
            "gender": person.gender,
            "birth_date": person.birth,
            "phone": names.phone(rng, person.locale) if adult and rng.random() < 0.95 else None,
            "email": names.email(person.given, person.family, person.id)
            if adult and rng.random() < 0.9
            else None,
            "address_line": home.address.line,
            "city": home.address.city,
            "postal_code": home.address.postal_code,
            "country": home.address.country,
            "deceased_at": None if person.alive else person.end,
            "active": True,
            "updated_at": between(rng, person.start, person.end) if moved else person.start,
            "version": 2 if moved else 1,
        },
    )


def _guardian_link(batch: Batch, guardian: Person, ward: Person) -> None:
    birth = ward.birth
    batch.rows.add(
        schema.guardian_link,
        {
            "id": batch.seq.next_id(schema.guardian_link),
            "guardian_id": guardian.id,
            "ward_id": ward.id,
            "relationship": "MTH" if guardian.gender == "F" else "FTH",
            "valid_from": birth,
            "valid_to": add_years(birth, 18),
            "updated_at": max(guardian.start, ward.start),
            "version": 1,
        },
    )
