"""The booking's events (F19) recorded at once as notification events.

``fhir_gateway.booking`` books, moves and cancels appointments in the HIS and then tells its
``EventSink``; this one records the event in the notifications' store under the very key the HIS
change feed gives the same change (``events.appointment_event``: ``appointment:<id>:booked``,
``...:changed:<version>``, ``...:cancelled``). So each change made through the gateway is one
event even when several follow one another between two polls of the feed (which sees only an
appointment's latest state), and the feed, reading the same rows later, records nothing more.
Should the record fail, or the process die after the HIS commit, the feed still finds the
appointment's latest state. The deliveries are sent by a worker: its sweep takes up what is
pending (``Runtime.sweep``).
"""

from __future__ import annotations

import datetime as dt

from fhir_gateway.his.connector import Change

from .events import appointment_event
from .store import Store, utcnow


class BookingEvents:
    """The booking's ``EventSink`` over the notifications' store."""

    KINDS = frozenset({"booked", "changed", "cancelled"})

    def __init__(self, store: Store) -> None:
        self.store = store

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
        self.store.record([event])
