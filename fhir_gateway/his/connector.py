"""The HIS connector interface.

The hospital owns its HIS; the gateway reads it through this interface. A connector answers in
*HIS records*: plain mappings whose shape is fixed by the record schemas in ``mappers.records``
(one record kind per HIS table, plus the few related values a mapper needs). The default
implementation, ``fhir_gateway.his.sql.SqlConnector``, reads a relational HIS database; another
HIS (a REST API, an HL7v2 feed cache) plugs in by implementing the same protocol and passing
the same contract tests (``tests/his/test_connector_contract.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..fhir.query import SearchQuery

#: A position in a result ordering: (sort value, record-kind rank, HIS id).
Key = tuple[Any, int, int]
#: Patients a caller may see: None means no patient narrowing (system-level access).
Patients = frozenset[int] | None


@dataclass(frozen=True, slots=True)
class Hit:
    """One record of a search result and its position in the ordering."""

    kind: str
    record: Mapping[str, Any]
    key: Key


@dataclass(frozen=True, slots=True)
class PatientMatch:
    """A HIS patient found by national ID: what registration and the desk match against."""

    id: int
    given: str
    family: str
    active: bool = True
    deceased: bool = False

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"


@dataclass(frozen=True, slots=True)
class Contacts:
    """The contact details the hospital holds for a patient (what it trusts to reach them),
    and the language to write to them in (``ro``, ``pl``, ``en``; None: not known)."""

    email: str | None = None
    mobile: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class GuardianLink:
    """A guardian link of the HIS: ``guardian_id`` acts for ``ward_id`` from ``valid_from`` to
    ``valid_to`` (inclusive; None: open-ended)."""

    id: int
    guardian_id: int
    ward_id: int
    relationship: str
    valid_from: dt.date
    valid_to: dt.date | None = None

    def current(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or self.valid_to >= on)


@dataclass(frozen=True, slots=True)
class CodedBulletin:
    """A validated lab bulletin carrying the result code the HIS sent the patient (F9)."""

    id: int
    patient_id: int
    document_id: int | None
    access_code: str


@dataclass(frozen=True, slots=True)
class Assignment:
    """A questionnaire the HIS assigned to a patient (F18): what the assignment mail needs."""

    id: int
    patient_id: int
    questionnaire_id: int
    sent_at: dt.datetime
    #: the HIS's own status: sent | in-progress | submitted
    status: str

    @property
    def position(self) -> AssignmentCursor:
        return (self.sent_at, self.id)


#: Where a sweep of new assignments stands: (sent_at, id) of the last assignment it saw.
AssignmentCursor = tuple[dt.datetime, int]

#: What became of answers written to the HIS: ``saved``; ``stale``, the assignment changed
#: since the version the writer read; ``closed``, it is already submitted (closed for good);
#: ``missing``, no such assignment of that patient.
AnswerWrite = Literal["saved", "stale", "closed", "missing"]


@dataclass(frozen=True, slots=True)
class IncomingDocument:
    """A document a patient (or their guardian) uploaded, handed to the HIS (F17).

    ``upload_id`` identifies it for good: handing the same upload again changes nothing. The
    bytes stay with the gateway; ``content_url`` is where the care team fetches them.
    """

    upload_id: str
    patient_id: int
    type_code: str
    title: str | None
    description: str | None
    author_reference: str
    content_type: str
    size: int
    sha1: str
    content_url: str
    received_at: dt.datetime


#: The HIS tables whose changes the change feed reports, in the order they are read.
CHANGE_SOURCES = (
    "lab_bulletin",
    "paraclinical_test",
    "imaging_order",
    "document",
    "questionnaire_assignment",
    "appointment",
)
#: A position in one source's change order: (change time, HIS id); the feed's durable cursor
#: keeps one per source.
ChangePosition = tuple[dt.datetime, int]


@dataclass(frozen=True, slots=True)
class Change:
    """One HIS row as it is after a change: which row, whose, its status and when it changed.

    ``detail`` carries the few values an event needs beyond that (an accession number, an
    appointment's start); it is never put in a message to the patient."""

    source: str
    id: int
    patient_id: int
    status: str
    changed_at: dt.datetime
    version: int
    detail: Mapping[str, Any]

    @property
    def position(self) -> ChangePosition:
        return (self.changed_at, self.id)


class HisUnreachable(Exception):
    """The HIS did not answer (connection refused, timed out, went away)."""


class SlotUnavailable(Exception):
    """The slot cannot be taken: unknown, not free (taken by someone else, even a moment ago,
    or blocked), or already begun."""


class AppointmentUnchangeable(Exception):
    """The appointment cannot be changed as asked: unknown for this patient, in a status FHIR
    allows no such transition from, or too close to its start (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # unknown | status | too-late | other-service


@dataclass(frozen=True, slots=True)
class AppointmentChange:
    """A patient's change to one of their appointments (``HisConnector.change_appointment``):
    cancel it, or move it to another free slot of the same service. Either only while it is
    requested or booked and starts after ``not_before`` (the booking window)."""

    appointment_id: int
    patient_id: int
    at: dt.datetime
    not_before: dt.datetime
    cancel: bool = False
    new_slot_id: int | None = None
    #: the video room of the new slot when it is a video slot
    video_url: str | None = None
    comment: str | None = None


class HisConnector(Protocol):
    """What the FHIR layer needs from a hospital information system."""

    def read(
        self, resource_type: str, kind: str, his_id: int, patients: Patients
    ) -> Mapping[str, Any] | None:
        """The record behind one resource, or None if it does not exist for these patients."""
        ...

    def read_many(
        self, resource_type: str, ids: Sequence[tuple[str, int]], patients: Patients
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """Records for several (kind, id) pairs at once (for _include); missing ones left out."""
        ...

    def search(
        self,
        query: SearchQuery,
        patients: Patients,
        *,
        after: Key | None,
        before: Key | None,
        limit: int,
    ) -> list[Hit]:
        """Records matching the query in sort order, strictly after ``after`` (or, reading
        backwards, strictly before ``before``, still returned in forward order), at most
        ``limit`` of them."""
        ...

    def count(self, query: SearchQuery, patients: Patients) -> int:
        """How many records match the query."""
        ...

    def ping(self) -> None:
        """Raise HisUnreachable if the HIS cannot answer now."""
        ...

    # --- what the authorization server needs ----------------------------------------------

    def find_patient(self, national_id_kind: str, national_id: str) -> PatientMatch | None:
        """The patient with this national ID of this kind (CNP, PESEL), or None."""
        ...

    def contacts(self, patient_id: int) -> Contacts:
        """The email and mobile number the hospital holds for a patient (empty if unknown)."""
        ...

    def guardian_links(self, guardian_id: int) -> list[GuardianLink]:
        """Every guardian link (current, past and future) in which the patient is the
        guardian, ordered by id."""
        ...

    def coded_bulletins(self, national_id: str) -> list[CodedBulletin]:
        """The validated lab bulletins of the patient with this national ID that carry a
        result code. The caller compares codes (in constant time); the connector does not."""
        ...

    # --- questionnaires (F18) -----------------------------------------------------------------

    def assignments_after(self, after: AssignmentCursor | None, limit: int) -> list[Assignment]:
        """Questionnaire assignments sent strictly after ``after`` (all of them from the start
        when None), in (sent_at, id) order, at most ``limit``."""
        ...

    def write_answers(
        self,
        assignment_id: int,
        patient_id: int,
        version: int,
        answers: Mapping[str, Any],
        *,
        submitted_at: dt.datetime | None,
    ) -> AnswerWrite:
        """Store a patient's answers to an assignment, in one conditional change: only if the
        assignment is still at ``version`` and not yet submitted. ``submitted_at`` (naive UTC)
        submits them, closing the assignment for good; None saves them in progress. The
        assignment's version then moves on."""
        ...

    # --- writes: what patients bring ------------------------------------------------------

    def submit_patient_document(self, document: IncomingDocument) -> None:
        """Hand a patient's uploaded document to the HIS (its incoming documents), so the care
        team sees it. Idempotent by ``upload_id``: a second call for the same upload changes
        nothing (a hand-off retried after a crash). HisUnreachable when the HIS cannot take
        it now (the caller retries later)."""
        ...

    def update_patient_document(self, upload_id: str, description: str | None) -> None:
        """The patient changed the description of an upload already handed over."""
        ...

    def withdraw_patient_document(self, upload_id: str, at: dt.datetime) -> None:
        """The patient deleted the upload: the HIS marks it withdrawn (its bytes are gone).
        Nothing there is no error."""
        ...

    # --- writes: booking (F19) ---------------------------------------------------------------

    def book_slot(
        self,
        slot_id: int,
        patient_id: int,
        *,
        at: dt.datetime,
        video_url: str | None = None,
        comment: str | None = None,
    ) -> int:
        """Book a free slot for a patient, atomically: the slot becomes busy and a ``booked``
        appointment holds it, both or neither. Of any number of callers racing for one slot
        (on any worker or host) exactly one succeeds; the others get ``SlotUnavailable``, as
        does a slot that is unknown, not free or starting at or before ``at``. ``video_url``:
        the video room, for a video slot. Answers the new appointment's HIS id."""
        ...

    def change_appointment(self, change: AppointmentChange) -> None:
        """Cancel or move an appointment of the patient, atomically (a cancelled appointment
        frees its slot; a moved one takes the new slot, which must be free and of the same
        service, and frees the old). ``AppointmentUnchangeable`` or ``SlotUnavailable`` when it
        cannot be done; nothing is changed then."""
        ...

    # --- what the notifications need ------------------------------------------------------

    def changes(self, source: str, after: ChangePosition | None, limit: int) -> list[Change]:
        """The rows of ``source`` (one of ``CHANGE_SOURCES``) changed strictly after ``after``
        in (change time, id) order, at most ``limit``: a change feed read from a cursor the
        caller keeps. A HIS that pushes its changes implements this over what it was sent."""
        ...

    def open_imaging_orders(self, ordered_since: dt.datetime, limit: int) -> list[Change]:
        """Imaging orders placed since ``ordered_since`` that are not cancelled, by id, at most
        ``limit``: the accession numbers whose images the PACS may still receive."""
        ...

    def appointments_starting(
        self, start: dt.datetime, end: dt.datetime, limit: int
    ) -> list[Change]:
        """Booked appointments starting in [start, end), by start then id, at most ``limit``
        (the reminders)."""
        ...
