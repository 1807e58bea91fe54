"""The ``appointment_event`` table: one row per booking, move or cancellation made through the
gateway (``kind``: booked | changed | cancelled), with the HIS appointment and patient ids and
the appointment's start (naive UTC) after the change. Consumers read it by increasing ``id``."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table

from smart_auth.state import metadata

appointment_event = Table(
    "appointment_event",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("his_appointment_id", Integer, nullable=False),
    Column("his_patient_id", Integer, nullable=False),
    Column("starts_at", DateTime, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)
Index("ix_appointment_event_appointment", appointment_event.c.his_appointment_id)
