"""State of the job queue and the notifications.

``job_message``: the embedded queue's messages (the default broker, in the state database):
a message is visible from ``visible_at`` (epoch milliseconds); a worker that takes it pushes
``visible_at`` ahead by its lease and deletes it only once the job is done, so the message of a
killed worker becomes visible again when the lease runs out. ``dead`` marks a message the queue
gave up on.

``periodic_run``: one row per periodic job and period slot; inserting it is what entitles one
worker, on any host, to enqueue that run.

``notification_cursor``: the change feed's durable position per source.

``notification_event``: every event detected, once (``key`` unique: the source row and what
happened to it), with the patient it concerns and the FHIR resource it is about.

``notification_delivery``: one row per event and channel (unique), the unit of exactly-once
delivery: ``pending`` -> ``sending`` (leased) -> ``sent``; ``undeliverable`` after the last
attempt (the hospital's list); ``skipped`` when the patient has no address for the channel.

``notification_preference``: what a patient wants to be told of, per channel, and in which
language; patients without a row get the deployment's defaults.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from smart_auth.state import metadata

job_message = Table(
    "job_message",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("queue", String(80), nullable=False),
    Column("body", Text, nullable=False),
    Column("visible_at", BigInteger, nullable=False),
    Column("deliveries", Integer, nullable=False, default=0),
    Column("dead", Boolean, nullable=False, default=False),
)
Index(
    "ix_job_message_queue_visible",
    job_message.c.queue,
    job_message.c.dead,
    job_message.c.visible_at,
)

periodic_run = Table(
    "periodic_run",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("slot", BigInteger, primary_key=True, autoincrement=False),
)

notification_cursor = Table(
    "notification_cursor",
    metadata,
    Column("source", String(80), primary_key=True),
    Column("changed_at", DateTime, nullable=False),
    Column("his_id", Integer, nullable=False),
)

notification_event = Table(
    "notification_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(160), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    Column("patient_id", Integer, nullable=False),
    Column("resource_type", String(40), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("detected_at", DateTime, nullable=False),
)
Index("ix_notification_event_patient", notification_event.c.patient_id, notification_event.c.id)

notification_delivery = Table(
    "notification_delivery",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, ForeignKey("notification_event.id"), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", DateTime),
    Column("sent_at", DateTime),
    Column("last_error", String(200)),
    UniqueConstraint("event_id", "channel", name="uq_notification_delivery_event_channel"),
)
Index("ix_notification_delivery_state", notification_delivery.c.state, notification_delivery.c.id)

notification_preference = Table(
    "notification_preference",
    metadata,
    Column("patient_id", Integer, primary_key=True, autoincrement=False),
    Column("language", String(2), nullable=False),
    Column("email_kinds", Text, nullable=False),
    Column("sms_kinds", Text, nullable=False),
)
