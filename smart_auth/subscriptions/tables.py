"""State of the FHIR Subscriptions (R4 Subscriptions Backport IG).

``fhir_subscription``: one row per Subscription an app made, with what its grant came from
(the client, the account, the launch context's patient, the scope and the token family of
the authorization: a revoked family, a deactivated client or withdrawn Consents end what it
may be sent), its topic (an event kind of ``notifications.events``), its channel and its
status: ``requested`` -> (handshake) ``active`` or ``error``; ``off`` when its grant ended.
``events_count`` is the last event number given out; ``lease_until`` reserves the row for the
worker sending its handshake; ``next_heartbeat_at`` is when its next heartbeat is due.

``fhir_subscription_delivery``: one row per subscription and event (unique), the unit of
exactly-once delivery, as ``notification_delivery``: ``pending`` -> ``sending`` (leased) ->
``sent``; ``withheld`` when the subscriber's grant no longer covers the event's resource;
``undeliverable`` after the last attempt. ``event_number`` is given at the first attempt the
grant allows, so that withheld events take no number.
"""

from __future__ import annotations

from sqlalchemy import (
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

fhir_subscription = Table(
    "fhir_subscription",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("account_id", Integer),
    Column("patient_id", Integer),
    Column("scope", Text, nullable=False),
    Column("family", String(32)),
    Column("topic", String(40), nullable=False),
    Column("filter_patient", Integer),
    Column("endpoint", Text, nullable=False),
    Column("headers", Text, nullable=False),
    Column("payload", String(16), nullable=False),
    Column("content_type", String(40), nullable=False),
    Column("heartbeat_s", Integer),
    Column("timeout_s", Integer, nullable=False),
    Column("max_count", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("end_at", DateTime),
    Column("status", String(16), nullable=False),
    Column("error", String(200)),
    Column("created_at", DateTime, nullable=False),
    Column("events_count", Integer, nullable=False, default=0),
    Column("lease_until", DateTime),
    Column("next_heartbeat_at", DateTime),
)
Index("ix_fhir_subscription_owner", fhir_subscription.c.client_id, fhir_subscription.c.account_id)
Index("ix_fhir_subscription_topic", fhir_subscription.c.topic, fhir_subscription.c.status)

fhir_subscription_delivery = Table(
    "fhir_subscription_delivery",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        String(32),
        ForeignKey("fhir_subscription.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", Integer, ForeignKey("notification_event.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("event_number", Integer),
    Column("created_at", DateTime, nullable=False),
    Column("lease_until", DateTime),
    Column("sent_at", DateTime),
    Column("last_error", String(200)),
    UniqueConstraint("subscription_id", "event_id", name="uq_fhir_subscription_delivery_event"),
    UniqueConstraint(
        "subscription_id", "event_number", name="uq_fhir_subscription_delivery_number"
    ),
)
Index(
    "ix_fhir_subscription_delivery_state",
    fhir_subscription_delivery.c.state,
    fhir_subscription_delivery.c.id,
)
