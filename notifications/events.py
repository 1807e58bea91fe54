"""What patients are told about, and how an event is recognised in a HIS change.

An ``Event`` names what happened (``kind``), to whom (``patient_id``), the FHIR resource it is
about and a ``key`` unique to the occurrence (the HIS row and what happened to it), which is
what makes an event recorded once however often, by however many workers, it is seen.

Event sources: the HIS change feed (``HisChangeSource``, here), the PACS (``jobs.poll_pacs``),
the reminder sweep (``jobs.remind``), the gateway's own bookings as they are made
(``notifications.booking``), and any other ``EventSource`` (implementing ``EventSource.poll``,
passed to ``Runtime(sources=...)``). Each gives an occurrence the key the HIS feed gives it
(for an appointment ``appointment:<id>:<what>``) so that they coincide with (and are
deduplicated against) the ones the HIS feed finds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fhir_gateway.his.connector import Change
from mappers.ids import resource_id

LAB_VALIDATED = "lab-validated"
PARACLINICAL_VALIDATED = "paraclinical-validated"
RADIOLOGY_SIGNED = "radiology-signed"
IMAGES_AVAILABLE = "images-available"
DOCUMENT_NEW = "document-new"
QUESTIONNAIRE_ASSIGNED = "questionnaire-assigned"
APPOINTMENT_BOOKED = "appointment-booked"
APPOINTMENT_CHANGED = "appointment-changed"
APPOINTMENT_CANCELLED = "appointment-cancelled"
APPOINTMENT_DUE = "appointment-due"

KINDS: tuple[str, ...] = (
    LAB_VALIDATED,
    PARACLINICAL_VALIDATED,
    RADIOLOGY_SIGNED,
    IMAGES_AVAILABLE,
    DOCUMENT_NEW,
    QUESTIONNAIRE_ASSIGNED,
    APPOINTMENT_BOOKED,
    APPOINTMENT_CHANGED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_DUE,
)


@dataclass(frozen=True, slots=True)
class Event:
    key: str
    kind: str
    patient_id: int
    resource_type: str
    resource_id: str


class EventSource(Protocol):
    """Anything that finds events: polled by the ``poll_sources`` job, it keeps its own
    position (``store.cursor``/``store.advance``) and may return an event again (the key
    deduplicates)."""

    name: str

    def poll(self) -> Sequence[Event]: ...


def _report(change: Change, kind: str) -> Event:
    return Event(
        key=f"{change.source}:{change.id}:{kind}",
        kind=kind,
        patient_id=change.patient_id,
        resource_type="DiagnosticReport",
        resource_id=resource_id("DiagnosticReport", change.source, change.id),
    )


def from_change(change: Change) -> Event | None:
    """The event a HIS change means, if any (most changes mean none)."""
    source, status = change.source, change.status
    if source == "lab_bulletin" and status == "validated":
        return _report(change, LAB_VALIDATED)
    if source == "paraclinical_test" and status == "validated":
        return _report(change, PARACLINICAL_VALIDATED)
    if source == "imaging_order" and status == "reported":
        return _report(change, RADIOLOGY_SIGNED)
    if source == "document" and status == "current":
        return Event(
            f"document:{change.id}:new",
            DOCUMENT_NEW,
            change.patient_id,
            "DocumentReference",
            str(change.id),
        )
    if source == "questionnaire_assignment" and status == "sent":
        return Event(
            f"questionnaire_assignment:{change.id}:assigned",
            QUESTIONNAIRE_ASSIGNED,
            change.patient_id,
            "Questionnaire",
            str(change.detail["questionnaire_id"]),
        )
    if source == "appointment":
        return appointment_event(change)
    return None


def appointment_event(change: Change) -> Event | None:
    """Booked (the first version), changed (a later version still booked: one event per
    version) or cancelled."""
    if change.status == "cancelled":
        what, kind = "cancelled", APPOINTMENT_CANCELLED
    elif change.status == "booked" and change.version <= 1:
        what, kind = "booked", APPOINTMENT_BOOKED
    elif change.status == "booked":
        what, kind = f"changed:{change.version}", APPOINTMENT_CHANGED
    else:
        return None
    return Event(
        f"appointment:{change.id}:{what}", kind, change.patient_id, "Appointment", str(change.id)
    )


def due_event(change: Change) -> Event:
    """The reminder of a booked appointment (one per start time: a moved appointment is
    reminded of again)."""
    start = change.detail["start_at"]
    assert isinstance(start, dt.datetime)
    return Event(
        f"appointment:{change.id}:due:{start:%Y%m%dT%H%M}",
        APPOINTMENT_DUE,
        change.patient_id,
        "Appointment",
        str(change.id),
    )


def images_event(change: Change) -> Event:
    return Event(
        f"imaging_order:{change.id}:images",
        IMAGES_AVAILABLE,
        change.patient_id,
        "ImagingStudy",
        resource_id("ImagingStudy", "imaging_order", change.id),
    )
