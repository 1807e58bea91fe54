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

from smart_auth.scopes import ScopeSet

from .errors import Forbidden, Unauthorized
from .fhir.registry import PATIENT_COMPARTMENT

Patients = frozenset[int] | None
#: Search-parameter sets a resource must match one of (scope filters); None = unfiltered.
Filters = tuple[tuple[tuple[str, str], ...], ...] | None


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
    #: The SMART scopes granted (None: not scope-limited, e.g. development open access) and the
    #: scope levels of the caller's context (``smart_auth.scopes.levels_for``).
    scopes: ScopeSet | None = None
    levels: frozenset[str] = frozenset()
    #: Literal references ("DiagnosticReport/lab-12") the grant is limited to, read only;
    #: None = no such limit. A result-code grant (F9) covers one report and its PDF.
    resources: frozenset[str] | None = None

    @property
    def fingerprint(self) -> str:
        """Stable digest binding paging links to this grant (patients, types, scopes)."""
        parts = [
            self.subject,
            self.client_id or "",
            ",".join(map(str, sorted(self.patients))) if self.patients is not None else "*",
            ",".join(sorted(self.types)) if self.types is not None else "*",
            self.scopes.to_string() if self.scopes is not None else "*",
            ",".join(sorted(self.levels)),
        ]
        if self.resources is not None:
            parts.append(",".join(sorted(self.resources)))
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
    def decide(grant: Grant, resource_type: str, interaction: str) -> Decision:
        """The narrowing an interaction on ``resource_type`` must carry, or 403.

        SMART App Launch 2.x, scopes: an interaction needs a scope with its permission (``r``
        for read, ``s`` for search); every matching scope counts, an unfiltered one wins, and
        filtered ones become search-parameter sets the results must match one of. A grant at
        patient level without a patient context is refused outright: it must never fall back to
        every patient.
        """
        if grant.types is not None and resource_type not in grant.types:
            raise Forbidden(f"The access granted does not cover {resource_type}")
        filters: Filters = None
        if grant.scopes is not None:
            filters = grant.scopes.filters(grant.levels, resource_type, interaction)
            if filters == ():
                raise Forbidden(
                    f"The access granted does not cover {interaction} of {resource_type}"
                )
        if "patient" in grant.levels and grant.patients is None:
            raise Forbidden("A patient-level grant needs a patient context")
        patients = grant.patients if resource_type in COMPARTMENT_TYPES else None
        if grant.resources is not None:
            if interaction != "read":
                raise Forbidden(f"The access granted does not cover {interaction}")
            prefix = f"{resource_type}/"
            ids = frozenset(r[len(prefix) :] for r in grant.resources if r.startswith(prefix))
            return Decision(patients, filters, ids)
        return Decision(patients, filters)

    @classmethod
    def narrowing(cls, grant: Grant, resource_type: str) -> Patients:
        """The patients for callers that cannot apply scope filters (they are refused 403)."""
        decision = cls.decide(grant, resource_type, "read")
        if decision.filters is not None:
            raise Forbidden(f"Filtered access to {resource_type} cannot be applied here")
        return decision.patients

    @classmethod
    def may(cls, grant: Grant, resource_type: str, interaction: str) -> Decision | None:
        """``decide`` for included resources: None where they must be left out."""
        try:
            return cls.decide(grant, resource_type, interaction)
        except Forbidden:
            return None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of an allowed interaction: what every query for it must be narrowed to."""

    patients: Patients
    filters: Filters
    #: The only ids that may be read (``Grant.resources``); None = any id.
    ids: frozenset[str] | None = None
