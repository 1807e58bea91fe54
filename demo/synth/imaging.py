"""Imaging orders (F14): CT, MR, CR/DX, MG, US, XA interventions and ultrasound-guided biopsies.

Statuses follow the clock, and tell the PACS seeder and the mappers what exists:

* ``ordered`` / ``scheduled``: no study yet (study_uid, counts, performed_at NULL).
* ``performed``: study_uid, series_count and instance_count set, images in the PACS, no report.
* ``reported`` with series_count/instance_count set: images in the PACS and a report
  (radiologist_id, report_text, report_conclusion, reported_at; report_document_id for patients
  with documents).
* ``reported`` with series_count/instance_count NULL: the report exists and the study UID is
  known, but the images are not (yet) in the PACS. :func:`images_in_pacs` states the rule.
* ``cancelled``: nothing performed.

Study UIDs are ``2.25.<integer>`` (PS3.5 B.2: a UUID-derived root), the integer drawn from the
seeded generator; accession numbers are ``A<yy><id>`` (at most 16 characters).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir_gateway.his import schema

from .care import Episode
from .catalog import Text, tr
from .context import Batch, DoctorRef, Person, between
from .documents import letter, stamp
from .imaging_catalog import BY_SPECIALTY, PROCEDURES, Procedure

_RATE = {"oncology": 0.6, "neurology": 0.4, "general_surgery": 0.35, "gastroenterology": 0.3}
_LABELS: dict[str, Text] = {
    "accession": ("Nr. acces", "Nr dostępu"),
    "modality": ("Modalitate", "Modalność"),
    "examination": ("Examinare", "Badanie"),
    "performed": ("Efectuat", "Wykonano"),
    "referrer": ("Medic trimițător", "Lekarz kierujący"),
    "report": ("Descriere", "Opis"),
    "conclusion": ("Concluzie", "Wnioski"),
}


def images_in_pacs(order: Mapping[str, Any]) -> bool:
    """Whether the PACS holds the images of an ``imaging_order`` row."""
    return order["status"] in ("performed", "reported") and order["series_count"] is not None


@dataclass(frozen=True)
class _Request:
    """What the referring doctor asks for, when, from which episode."""

    procedure: Procedure
    referrer: DoctorRef
    episode_id: int | None
    ordered: dt.datetime
    inpatient: bool


@dataclass(frozen=True)
class _Times:
    performed: dt.datetime | None
    reported: dt.datetime | None
    status: str


def imaging_orders(
    batch: Batch, rng: random.Random, person: Person, episodes: list[Episode]
) -> None:
    """Queue the patient's imaging orders: some episodes order one; some orders are upcoming."""
    for episode in episodes:
        keys = BY_SPECIALTY.get(episode.doctor.specialty)
        rate = _RATE.get(episode.doctor.specialty, 0.15)
        if keys and episode.happened and episode.kind != "CONS" and rng.random() < rate:
            when = episode.start + dt.timedelta(minutes=rng.randint(10, 60))
            procedure = PROCEDURES[rng.choice(keys)]
            request = _Request(procedure, episode.doctor, episode.id, when, episode.kind == "HOSP")
            _order(batch, rng, person, request)
    if person.alive and rng.random() < 0.05:
        specialty = rng.choice(sorted(BY_SPECIALTY))
        now = batch.clock.now
        when = between(rng, now - dt.timedelta(days=10), now - dt.timedelta(hours=1))
        procedure = PROCEDURES[rng.choice(BY_SPECIALTY[specialty])]
        _order(
            batch,
            rng,
            person,
            _Request(procedure, batch.org.doctor(rng, specialty), None, when, False),
        )


def _times(batch: Batch, rng: random.Random, person: Person, request: _Request) -> _Times:
    now, ordered = batch.clock.now, request.ordered
    if request.inpatient:
        delay = dt.timedelta(minutes=rng.randint(60, 2880))
    else:
        delay = dt.timedelta(days=rng.randint(1, 21))
    performed = ordered + delay
    if rng.random() < 0.02 or (not person.alive and performed > person.end):
        return _Times(None, None, "cancelled")
    if performed >= now:
        return _Times(
            None, None, "ordered" if now - ordered < dt.timedelta(days=2) else "scheduled"
        )
    reported = performed + dt.timedelta(minutes=rng.randint(60, 4320))
    if reported >= now:
        return _Times(performed, None, "performed")
    return _Times(performed, reported, "reported")


def _order(batch: Batch, rng: random.Random, person: Person, request: _Request) -> None:
    order_id = batch.seq.next_id(schema.imaging_order)
    procedure, ordered = request.procedure, request.ordered
    times = _times(batch, rng, person, request)
    row: dict[str, Any] = {
        "id": order_id,
        "accession_number": f"A{ordered:%y}{order_id:07d}",
        "patient_id": person.id,
        "episode_id": request.episode_id,
        "referrer_id": request.referrer.id,
        "department_id": batch.org.department("RAD"),
        "modality": procedure.modality,
        "body_part": procedure.body_part,
        "procedure": procedure.procedure,
        "description": tr(procedure.description, person.locale),
        "ordered_at": ordered,
        "performed_at": times.performed,
        "status": times.status,
        "version": 1,
        "updated_at": times.reported or times.performed or ordered,
    }
    if times.performed:
        row["study_uid"] = f"2.25.{rng.getrandbits(120) | 1 << 119}"
        if times.status == "performed" or rng.random() > 0.05:
            row["series_count"] = rng.randint(*procedure.series)
            row["instance_count"] = max(row["series_count"], rng.randint(*procedure.instances))
    if times.reported:
        _report(batch, rng, person, request, row, times.reported)
    batch.rows.add(schema.imaging_order, row)


def _report(
    batch: Batch,
    rng: random.Random,
    person: Person,
    request: _Request,
    row: dict[str, Any],
    reported: dt.datetime,
) -> None:
    locale, procedure = person.locale, request.procedure
    radiologist = batch.org.doctor(rng, "radiology")
    abnormal = rng.random() < (0.5 if person.conditions else 0.2)
    finding, conclusion = procedure.abnormal if abnormal else procedure.normal
    row.update(
        radiologist_id=radiologist.id,
        reported_at=reported,
        report_conclusion=tr(conclusion, locale),
        report_text=f"{tr(procedure.technique, locale)} {tr(finding, locale)}",
    )
    if person.documents:
        row["report_document_id"] = _document(batch, person, request, row, radiologist)


def _document(
    batch: Batch, person: Person, request: _Request, row: dict[str, Any], radiologist: DoctorRef
) -> int:
    locale = person.locale
    return letter(
        batch,
        person,
        "IMAGING_REPORT",
        number=f"IR_{row['accession_number']}",
        created_at=row["reported_at"],
        author=radiologist,
        department_id=row["department_id"],
        episode_id=row["episode_id"],
        fields=(
            (tr(_LABELS["accession"], locale), row["accession_number"]),
            (tr(_LABELS["modality"], locale), request.procedure.modality),
            (tr(_LABELS["examination"], locale), row["description"]),
            (tr(_LABELS["performed"], locale), stamp(row["performed_at"])),
            (tr(_LABELS["referrer"], locale), request.referrer.display),
        ),
        sections=(
            (tr(_LABELS["report"], locale), (row["report_text"],)),
            (tr(_LABELS["conclusion"], locale), (row["report_conclusion"],)),
        ),
    )
