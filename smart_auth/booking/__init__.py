"""Appointment events (F19): what the booking did, kept for the notifications to deliver.

``fhir_gateway.booking`` books, moves and cancels appointments in the HIS; after each it records
one ``appointment_event`` row here (``AppointmentEvents``, its ``EventSink``). The notification
side reads the table in id order with a cursor of its own and sends the confirmation, the
change or cancellation notice and, ``starts_at`` telling it when, the reminder. Rows are
written once and never updated.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, insert

from .tables import appointment_event


class AppointmentEvents:
    """The ``EventSink`` of the booking: one row per booking, move or cancellation."""

    KINDS = frozenset({"booked", "changed", "cancelled"})

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def appointment_event(
        self, kind: str, appointment_id: int, patient_id: int, start: dt.datetime
    ) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown appointment event {kind!r}")
        with self.engine.begin() as conn:
            conn.execute(
                insert(appointment_event).values(
                    kind=kind,
                    his_appointment_id=appointment_id,
                    his_patient_id=patient_id,
                    starts_at=start,
                    recorded_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                )
            )


def init_app(app: Any, settings: Any) -> AppointmentEvents:
    from smart_auth.state import shared_engine

    return AppointmentEvents(shared_engine(app.extensions, settings.state_url))
