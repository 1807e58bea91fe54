"""The HIS connector interface.

The hospital owns its HIS; the gateway reads it through this interface. A connector answers in
*HIS records*: plain mappings whose shape is fixed by the record schemas in ``mappers.records``
(one record kind per HIS table, plus the few related values a mapper needs). The default
implementation, ``fhir_gateway.his.sql.SqlConnector``, reads a relational HIS database; another
HIS (a REST API, an HL7v2 feed cache) plugs in by implementing the same protocol and passing
the same contract tests (``tests/his/test_connector_contract.py``).
"""

from __future__ import annotations

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
