"""Schedules, slots and appointments (F19, F20).

Every bookable service gets one or two doctors' schedules valid from ``today - 30`` to
``today + 60`` days. A schedule works on one to three fixed weekdays in one shift, in UTC:
06:00-10:00 or 10:00-14:00 (08:00-12:00 / 12:00-16:00 in Bucharest winter time), a slot every
``duration_min`` minutes. Past slots are mostly busy; the nearer a future slot, the likelier it is
busy. Busy slots wait in two shuffled pools (past, future) from which patients take their
appointments, so every appointment that has a slot has a busy one of its own; a busy slot whose
appointment was made outside the HIS (phone, other system) simply stays busy without one.

Appointments: in the past ``done`` or ``no-show``; in the future ``booked`` (telemedicine ones
carry a video link); ``cancelled`` and ``requested`` ones hold no slot (the HIS releases a slot
on cancellation). Visits older than the schedules' window were booked too (``done``, no slot).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from fhir_gateway.his import schema

from .care import Episode
from .context import Batch, DoctorRef, Organisation, Person, ServiceRef, SlotRef

WINDOW_PAST_DAYS = 30
WINDOW_FUTURE_DAYS = 60
SHIFTS = ((6, 10), (10, 14))
VIDEO_BASE = "https://video.hospital.example/room/"


def build_schedules(batch: Batch, rng: random.Random) -> None:
    """Queue schedules and slots for every service; fill the organisation's slot pools."""
    org = batch.org
    taken: dict[int, set[tuple[int, int]]] = {}
    for specialty in sorted(org.services):
        for service in org.services[specialty]:
            doctors = org.doctors[specialty]
            for doctor in rng.sample(doctors, k=min(len(doctors), rng.randint(1, 2))):
                _schedule(batch, rng, doctor, service, taken.setdefault(doctor.id, set()))
    rng.shuffle(org.past_slots)
    rng.shuffle(org.future_slots)


@dataclass(frozen=True)
class _Schedule:
    """A doctor's schedule for a service, as its slots need it."""

    id: int
    doctor: DoctorRef
    service: ServiceRef
    created: dt.datetime


def _schedule(
    batch: Batch,
    rng: random.Random,
    doctor: DoctorRef,
    service: ServiceRef,
    taken: set[tuple[int, int]],
) -> None:
    free = [(d, s) for d in range(5) for s in range(len(SHIFTS)) if (d, s) not in taken]
    if not free:
        return
    shifts = rng.sample(free, k=min(len(free), 1 if service.telemedicine else rng.randint(2, 3)))
    taken.update(shifts)
    first = batch.clock.today - dt.timedelta(days=WINDOW_PAST_DAYS)
    last = batch.clock.today + dt.timedelta(days=WINDOW_FUTURE_DAYS)
    created = dt.datetime.combine(first, dt.time(9)) - dt.timedelta(days=rng.randint(7, 40))
    schedule = _Schedule(batch.seq.next_id(schema.schedule), doctor, service, created)
    batch.rows.add(
        schema.schedule,
        {
            "id": schedule.id,
            "doctor_id": doctor.id,
            "service_id": service.id,
            "department_id": service.department_id,
            "valid_from": first,
            "valid_to": last,
            "active": True,
            "updated_at": created,
            "version": 1,
        },
    )
    day = first
    while day <= last:
        for weekday, shift in shifts:
            if day.weekday() == weekday:
                _slots(batch, rng, schedule, day, SHIFTS[shift])
        day += dt.timedelta(days=1)


def _slots(
    batch: Batch, rng: random.Random, schedule: _Schedule, day: dt.date, shift: tuple[int, int]
) -> None:
    now, service = batch.clock.now, schedule.service
    start = dt.datetime.combine(day, dt.time(shift[0]))
    close = dt.datetime.combine(day, dt.time(shift[1]))
    step = dt.timedelta(minutes=service.duration_min)
    while start + step <= close:
        status = _slot_status(rng, (start - now).days)
        booked = min(now, start) - dt.timedelta(
            days=rng.randint(1, 25), minutes=rng.randint(0, 900)
        )
        slot_id = batch.seq.next_id(schema.slot)
        batch.rows.add(
            schema.slot,
            {
                "id": slot_id,
                "schedule_id": schedule.id,
                "start_at": start,
                "end_at": start + step,
                "status": status,
                "telemedicine": service.telemedicine,
                "updated_at": max(booked, schedule.created)
                if status != "free"
                else schedule.created,
                "version": 1,
            },
        )
        if status == "busy":
            pool = batch.org.past_slots if start < now else batch.org.future_slots
            pool.append(
                SlotRef(
                    slot_id, start, start + step, schedule.doctor, service, service.telemedicine
                )
            )
        start += step


def _slot_status(rng: random.Random, days_ahead: int) -> str:
    draw = rng.random()
    if draw < 0.03:
        return "blocked"
    busy = 0.85 if days_ahead < 0 else 0.1 + 0.7 * math.exp(-days_ahead / 20)
    return "busy" if draw < busy else "free"


def appointments(batch: Batch, rng: random.Random, person: Person, episodes: list[Episode]) -> None:
    """Queue the patient's appointments: old visits, recent and upcoming ones from the pools."""
    window = batch.clock.now - dt.timedelta(days=WINDOW_PAST_DAYS)
    for episode in episodes:
        old_visit = episode.kind == "AMB" and episode.status == "closed" and episode.start < window
        if old_visit and rng.random() < 0.4:
            _historic(batch, rng, person, episode)
    if not person.alive:
        return
    for pool, weights in (
        (batch.org.past_slots, (70, 25, 5)),
        (batch.org.future_slots, (72, 22, 6)),
    ):
        for _ in range(rng.choices((0, 1, 2), weights)[0]):
            if pool:
                _from_slot(batch, rng, person, pool.pop())
    if rng.random() < 0.1:
        _unslotted(batch, rng, person)


def _service_of(org: Organisation, doctor: DoctorRef) -> ServiceRef:
    return next(s for s in org.services[doctor.specialty] if not s.telemedicine)


def _add(batch: Batch, rng: random.Random, person: Person, **row: object) -> None:
    row.update(id=batch.seq.next_id(schema.appointment), patient_id=person.id)
    row.setdefault("version", 2 if rng.random() < 0.04 else 1)
    batch.rows.add(schema.appointment, row)


def _historic(batch: Batch, rng: random.Random, person: Person, episode: Episode) -> None:
    service = _service_of(batch.org, episode.doctor)
    _add(
        batch,
        rng,
        person,
        service_id=service.id,
        doctor_id=episode.doctor.id,
        department_id=service.department_id,
        start_at=episode.start,
        end_at=episode.start + dt.timedelta(minutes=service.duration_min),
        status="done",
        booked_at=episode.start
        - dt.timedelta(days=rng.randint(1, 40), minutes=rng.randint(0, 600)),
        updated_at=episode.end or episode.start,
    )


def _from_slot(batch: Batch, rng: random.Random, person: Person, slot: SlotRef) -> None:
    now = batch.clock.now
    past = slot.start < now
    status = ("done" if rng.random() < 0.85 else "no-show") if past else "booked"
    booked = min(now, slot.start) - dt.timedelta(
        days=rng.randint(1, 25), minutes=rng.randint(0, 900)
    )
    video = f"{VIDEO_BASE}{rng.getrandbits(64):016x}" if slot.telemedicine else None
    _add(
        batch,
        rng,
        person,
        slot_id=slot.id,
        held_slot_id=slot.id,
        service_id=slot.service.id,
        doctor_id=slot.doctor.id,
        department_id=slot.service.department_id,
        start_at=slot.start,
        end_at=slot.end,
        status=status,
        telemedicine=slot.telemedicine,
        video_url=video,
        booked_at=booked,
        updated_at=slot.end if past else booked,
    )


def _unslotted(batch: Batch, rng: random.Random, person: Person) -> None:
    now = batch.clock.now
    specialty = rng.choice(sorted(batch.org.services))
    service = rng.choice(batch.org.services[specialty])
    start = (now + dt.timedelta(days=rng.randint(-WINDOW_PAST_DAYS, WINDOW_FUTURE_DAYS))).replace(
        hour=rng.randint(6, 13), minute=rng.choice((0, 20, 40))
    )
    booked = min(start, now) - dt.timedelta(days=rng.randint(2, 30))
    status = "requested" if start > now and rng.random() < 0.3 else "cancelled"
    comment = {"ro": "Anulat de pacient", "pl": "Odwołane przez pacjenta"}[person.locale]
    _add(
        batch,
        rng,
        person,
        service_id=service.id,
        doctor_id=batch.org.doctor(rng, specialty).id,
        department_id=service.department_id,
        start_at=start,
        end_at=start + dt.timedelta(minutes=service.duration_min),
        status=status,
        telemedicine=service.telemedicine,
        booked_at=booked,
        updated_at=min(booked + dt.timedelta(days=1), now),
        comment=comment if status == "cancelled" else None,
    )
