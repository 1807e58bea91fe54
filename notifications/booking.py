"""The booking's events (F19) recorded at once as notification events.

``fhir_gateway.booking`` books, moves and cancels appointments in the HIS and then tells its
``EventSink``; this one records the event in the notifications' store under the very key the HIS
change feed gives the same change (``events.appointment_event``: ``appointment:<id>:booked``,
``...:changed:<version>``, ``...:cancelled``). So each change made through the gateway is one
event even when several follow one another between two polls of the feed (which sees only an
appointment's latest state), and the feed, reading the same rows later, records nothing more.
Should the record fail, or the process die after the HIS commit, the feed still finds the
appointment's latest state. The new deliveries go on the job queue at once for a worker to send
(``init_app`` gives the web app a sender of ``deliver`` messages on the configured broker);
should that fail, the worker's sweep takes up what is pending (``Runtime.sweep``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import dramatiq

from fhir_gateway.his.connector import Change
from smart_auth.state import shared_engine

from .events import appointment_event
from .jobs import QUEUE
from .queue import make_broker
from .store import Store, utcnow

log = logging.getLogger(__name__)


class BookingEvents:
    """The booking's ``EventSink`` over the notifications' store."""

    KINDS = frozenset({"booked", "changed", "cancelled"})

    def __init__(self, store: Store, enqueue: Callable[[int], object] = lambda _id: None) -> None:
        self.store = store
        self.enqueue = enqueue

    def appointment_event(
        self, kind: str, appointment_id: int, patient_id: int, start: dt.datetime, version: int
    ) -> None:
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
        for delivery_id in self.store.record([event]):
            try:
                self.enqueue(delivery_id)
            except Exception as exc:  # the broker is away: the worker's sweep sends it later
                log.warning("delivery not enqueued", extra={"error": type(exc).__name__})


def init_app(app: Any, settings: Any, store: Store) -> BookingEvents:
    """The booking's sink for this app: events into ``store``, their deliveries onto the job
    queue (``FHIR_GATEWAY_QUEUE_URL``) as ``deliver`` messages a worker runs."""
    broker = make_broker(
        settings.queue_url,
        shared_engine(app.extensions, settings.state_url),
        lease_s=settings.queue_lease_s,
        poll_s=settings.queue_poll_s,
        heartbeat_s=settings.queue_heartbeat_s,
        namespace=settings.queue_namespace,
    )
    app.extensions["notification_broker"] = broker

    # the worker declares the real actor; here only its name and queue, to send it messages
    def deliver(delivery_id: int) -> None:  # never run in the web app
        raise RuntimeError("deliveries are run by fhir-gateway worker")

    sender = dramatiq.actor(broker=broker, actor_name="deliver", queue_name=QUEUE)(deliver)
    return BookingEvents(store, sender.send)
