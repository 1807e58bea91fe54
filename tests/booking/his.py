"""Helpers of the booking tests: a generated HIS, and free slots in the real future.

The generated HIS is dated ``tests.conftest.TODAY``; booking compares with the real clock, so
``add_slots`` gives a test its own schedule of free slots from tomorrow on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import make_engine
from tests.conftest import TODAY

PATIENTS = 12
SEED = 5


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def generated(url: str) -> str:
    engine = make_engine(url)
    generate(engine, patients=PATIENTS, seed=SEED, today=TODAY)
    engine.dispose()
    return url


def service_row(engine: sa.Engine, *, telemedicine: bool, skip: int = 0) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(t.service)
            .where(t.service.c.telemedicine.is_(telemedicine), t.service.c.active.is_(True))
            .order_by(t.service.c.id)
            .offset(skip)
            .limit(1)
        ).one()


def add_slots(
    url: str,
    count: int,
    *,
    telemedicine: bool = False,
    first: dt.datetime | None = None,
    minutes: int = 20,
    service_skip: int = 0,
    status: str = "free",
) -> list[int]:
    """A new schedule of ``count`` consecutive slots (from ``first``, by default tomorrow 08:00
    UTC) for a service of the HIS; their ids."""
    engine = sa.create_engine(url)
    service = service_row(engine, telemedicine=telemedicine, skip=service_skip)
    start = first or (utcnow() + dt.timedelta(days=1)).replace(hour=8, minute=0, second=0)
    now = utcnow()
    with engine.begin() as conn:
        doctor = conn.execute(
            sa.select(t.doctor.c.id)
            .where(t.doctor.c.specialty_code == service.specialty_code)
            .order_by(t.doctor.c.id)
            .limit(1)
        ).scalar_one()
        schedule = conn.execute(
            sa.insert(t.schedule).values(
                doctor_id=doctor,
                service_id=service.id,
                department_id=service.department_id,
                valid_from=start.date(),
                valid_to=(start + dt.timedelta(days=60)).date(),
                active=True,
                updated_at=now,
                version=1,
            )
        ).inserted_primary_key[0]
        ids = []
        for i in range(count):
            at = start + dt.timedelta(minutes=minutes * i)
            ids.append(
                conn.execute(
                    sa.insert(t.slot).values(
                        schedule_id=schedule,
                        start_at=at,
                        end_at=at + dt.timedelta(minutes=minutes),
                        status=status,
                        telemedicine=telemedicine,
                        updated_at=now,
                        version=1,
                    )
                ).inserted_primary_key[0]
            )
    engine.dispose()
    return [int(i) for i in ids]


def slot_facts(url: str, slot_id: int) -> Any:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                t.slot, t.schedule.c.doctor_id, t.schedule.c.department_id, t.schedule.c.service_id
            )
            .join(t.schedule, t.schedule.c.id == t.slot.c.schedule_id)
            .where(t.slot.c.id == slot_id)
        ).one()
    engine.dispose()
    return row


def appointments_of_slot(url: str, slot_id: int) -> list[Any]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.appointment).where(t.appointment.c.slot_id == slot_id)
        ).all()
    engine.dispose()
    return list(rows)


def patients(url: str, n: int) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = (
            conn.execute(sa.select(t.patient.c.id).order_by(t.patient.c.id).limit(n))
            .scalars()
            .all()
        )
    engine.dispose()
    return [int(i) for i in ids]


def book_body(slot_id: int, patient: int | None = None, **extra: Any) -> dict[str, Any]:
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "participant": [],
        **extra,
    }
    if patient is not None:
        appointment["participant"].append(
            {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}
        )
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "appointment-resource", "resource": appointment}],
    }
