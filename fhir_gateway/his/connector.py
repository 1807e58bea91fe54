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
from typing import Any, Protocol

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
    """The contact details the hospital holds for a patient (what it trusts to reach them)."""

    email: str | None = None
    mobile: str | None = None


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
