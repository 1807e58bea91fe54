"""The booking's events (F19), handed to the worker as they happen.

``fhir_gateway.booking`` books, moves and cancels appointments in the HIS and then tells its
``EventSink``; this one puts a ``record_event`` job on the queue with the event under the very
key the HIS change feed gives the same change (``events.appointment_event``:
``appointment:<id>:booked``, ``...:changed:<version>``, ``...:cancelled``). A worker records it
as it records what its polls find (its deliveries enqueued, and whatever else watches new
events told), so each change made through the gateway is one event even when several follow
one another between two polls of the feed (which sees only an appointment's latest state), and
the feed, reading the same rows later, records nothing more. Should the job not be enqueued
(the broker away), or the process die after the HIS commit, the feed still finds the
appointment's latest state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import dramatiq

from fhir_gateway.his.connector import Change
from smart_auth.state import shared_engine

from .events import Event, appointment_event
from .jobs import QUEUE, RECORD
from .queue import make_broker
from .store import utcnow

log = logging.getLogger(__name__)


class BookingEvents:
    """The booking's ``EventSink``: each event to ``send`` (the queue's ``record_event``)."""

    KINDS = frozenset({"booked", "changed", "cancelled"})

    def __init__(self, send: Callable[[dict[str, Any]], object]) -> None:
        self.send = send

    def event(
        self, kind: str, appointment_id: int, patient_id: int, start: dt.datetime, version: int
    ) -> Event:
        if kind not in self.KINDS:
            raise ValueError(f"unknown appointment event {kind!r}")
        status = "cancelled" if kind == "cancelled" else "booked"
        event = appointment_event(
            Change(
                "appointment",
                appointment_id,
                patient_id,
                status,
                utcnow(),
                version,
                {"start_at": start},
            )
        )
        assert event is not None
        return event

    def appointment_event(
        self, kind: str, appointment_id: int, patient_id: int, start: dt.datetime, version: int
    ) -> None:
        event = self.event(kind, appointment_id, patient_id, start, version)
        self.send(dataclasses.asdict(event))


def init_app(app: Any, settings: Any) -> BookingEvents:
    """The booking's sink for this app: ``record_event`` jobs on the configured queue
    (``FHIR_GATEWAY_QUEUE_URL``: the state database or Redis) for a worker to run."""
    broker = make_broker(
        settings.queue_url,
        shared_engine(app.extensions, settings.state_url),
        lease_s=settings.queue_lease_s,
        poll_s=settings.queue_poll_s,
        heartbeat_s=settings.queue_heartbeat_s,
        namespace=settings.queue_namespace,
    )
    app.extensions["notification_broker"] = broker

    # the worker declares the real actor (``jobs.declare``); here its name and queue only
    def record_event(event: dict[str, Any]) -> None:  # never run in the web app
        raise RuntimeError("events are recorded by fhir-gateway worker")

    return BookingEvents(
        dramatiq.actor(broker=broker, actor_name=RECORD, queue_name=QUEUE)(record_event).send
    )
