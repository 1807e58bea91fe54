"""The one access-decision point of the FHIR API.

In the spirit of google/fhir-gateway's AccessChecker: the caller's credentials become a
``Grant`` once per request (``Authenticator``); every interaction then asks ``AccessPolicy`` for a
decision, which either refuses (401/403) or returns the narrowing the HIS query must carry (the
patient compartments the grant covers). Results are checked again by construction: includes,
paging links, Binary content and $everything go through the same narrowed connector calls.

Until the SMART authorization server is in place the only authenticator is the development one,
``DevOpenAccess``, enabled by ``FHIR_GATEWAY_DEV_OPEN_ACCESS`` and off by default: without it,
every FHIR request that reads data answers 401.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from .errors import Forbidden, Unauthorized
from .fhir.registry import PATIENT_COMPARTMENT

Patients = frozenset[int] | None


class HeaderMap(Protocol):
    """Request headers: anything with a case-insensitive ``get`` (werkzeug Headers, a dict)."""

    def get(self, key: str, /) -> str | None: ...

#: Types whose resources belong to patients; a patient grant narrows them to its compartments.
COMPARTMENT_TYPES = frozenset({*PATIENT_COMPARTMENT, "Binary"})


@dataclass(frozen=True, slots=True)
class Grant:
    """What one caller may see, decided once per request."""

    subject: str
    client_id: str | None = None
    #: HIS patient ids whose compartments the caller may see; None = every patient.
    patients: Patients = None
    #: Resource types the caller may read and search; None = every type.
    types: frozenset[str] | None = None

    @property
    def fingerprint(self) -> str:
        """Stable digest binding paging links to this grant."""
        parts = [
            self.subject,
            self.client_id or "",
            ",".join(map(str, sorted(self.patients))) if self.patients is not None else "*",
            ",".join(sorted(self.types)) if self.types is not None else "*",
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class Authenticator(Protocol):
    def authenticate(self, headers: HeaderMap) -> Grant | None:
        """The caller's grant, or None when the request carries no usable credentials."""
        ...


class DevOpenAccess:
    """DEVELOPMENT ONLY: every request may read every patient's data."""

    GRANT = Grant(subject="development-open-access")

    def authenticate(self, headers: HeaderMap) -> Grant | None:
        return self.GRANT


class NoAuthenticator:
    """The default until authorization is configured: nobody reads patient data."""

    def authenticate(self, headers: HeaderMap) -> Grant | None:
        return None


class AccessPolicy:
    """Decides each interaction for a grant."""

    def __init__(self, authenticator: Authenticator, realm: str) -> None:
        self.authenticator = authenticator
        self.realm = realm

    def grant_for(self, headers: HeaderMap) -> Grant:
        grant = self.authenticator.authenticate(headers)
        if grant is None:
            raise Unauthorized(
                "This request needs authorization",
                headers={"WWW-Authenticate": f'Bearer realm="{self.realm}"'},
            )
        return grant

    @staticmethod
    def narrowing(grant: Grant, resource_type: str) -> Patients:
        """The patients a query on ``resource_type`` is narrowed to; refuses other types."""
        if grant.types is not None and resource_type not in grant.types:
            raise Forbidden(f"The access granted does not cover {resource_type}")
        return grant.patients if resource_type in COMPARTMENT_TYPES else None

    @staticmethod
    def may_include(grant: Grant, resource_type: str) -> bool:
        """Whether included resources of this type may be added (they are left out if not)."""
        return grant.types is None or resource_type in grant.types
