"""The one access-decision point of every surface.

In the spirit of google/fhir-gateway's AccessChecker and Authlib's ``ResourceProtector``: the
request's credential becomes a ``Grant`` once per request, made by the token validator
registered for that kind of credential (``AccessPolicy.register_token_validator``: SMART bearer
tokens, result codes, viewer tokens, share tokens (F21), and later portal sessions; each
validator stays with the package that issues its tokens). Every interaction of every surface
(FHIR reads and searches, AuditEvent, Consent, QIDO, WADO, STOW, export, viewer links, Binary)
then asks ``AccessPolicy.decide``, which refuses (401/403) or returns the ``Decision``: the
narrowing the query must carry (patient compartments, query-filtered scopes, the only ids or
studies allowed).

A grant is never wider than its credential kind: each kind declares its ``Reach`` (the types
and interactions it may ever touch), and the SMART scopes and patients of the grant narrow that
further. A result code reads one DiagnosticReport and its PDF; a viewer token searches and
retrieves one study; a partner gets at most its registered scopes (``smart_auth``), and of each
patient at most what that patient's Consent covers (``Grant.shares``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .compartment import COMPARTMENT_TYPES
from .errors import Forbidden, Unauthorized
from .scopes import ScopeSet

Patients = frozenset[int] | None
#: Search-parameter sets a resource must match one of (scope filters); None = unfiltered.
Filters = tuple[tuple[tuple[str, str], ...], ...] | None

#: Interactions of the non-FHIR surfaces and the SMART permission each needs: a DICOMweb export
#: is a read of the study, minting a viewer link too.
_SCOPE_INTERACTION = {"export": "read", "link": "read"}

#: Reading and searching: all a viewer token may do.
READS = frozenset({"read", "search"})

#: Interactions that change what the hospital holds: a partner (system level) never does them,
#: whatever its scopes say (SMART ``c``, ``u``, ``d``; a DICOM store is a create).
WRITES = frozenset({"create", "update", "delete"})

#: Types only those acting for the patient manage or read (the patient's shares and their
#: access history): never a partner's system grant, whatever its scopes say.
PERSONAL_TYPES = frozenset({"AuditEvent", "Consent"})


class HeaderMap(Protocol):
    """Request headers: anything with a case-insensitive ``get`` (werkzeug Headers, a dict)."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Reach:
    """What one kind of credential may ever do, whatever else its grant says.

    ``types``: resource types it may touch (None: any); ``interactions``: what it may do with
    them (None: any). The grant's scopes and patients narrow it further, never widen it.
    """

    kind: str
    types: frozenset[str] | None = None
    interactions: frozenset[str] | None = None

    def covers(self, resource_type: str, interaction: str) -> bool:
        return (self.types is None or resource_type in self.types) and (
            self.interactions is None or interaction in self.interactions
        )


#: The credential kinds the gateway issues and what each may do.
SMART = Reach("smart")
DEVELOPMENT = Reach("development")
RESULT_CODE = Reach("result-code", frozenset({"DiagnosticReport", "Binary"}), frozenset({"read"}))
VIEWER = Reach("viewer", frozenset({"ImagingStudy"}), READS)
#: A patient's share with a person outside (F21), once its PIN is entered: reads what was
#: shared (a study also in the viewer and as an export), never the patient's shares or access
#: history, never a viewer link (which would outlive a revocation of the share).
SHARE = Reach(
    "share",
    (COMPARTMENT_TYPES | {"Binary"}) - PERSONAL_TYPES,
    frozenset({"read", "search", "export"}),
)


@dataclass(frozen=True, slots=True)
class Share:
    """What one patient's Consent lets the grant's holder (a partner clinic, F25) see of them.

    ``types``: the resource types covered (``Consent.provision.class``; None: every type);
    ``resources``: the only resources covered ("Observation/12", ``provision.data`` instances;
    None: every resource of the covered types). A patient with several Consents to the same
    partner sees the union of what they cover.
    """

    patient: int
    types: frozenset[str] | None = None
    resources: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """What one caller may do, decided once per request."""

    subject: str
    client_id: str | None = None
    #: HIS patient ids whose compartments the caller may see; None = every patient.
    patients: Patients = None
    #: Resource types the caller may read and search; None = every type.
    types: frozenset[str] | None = None
    #: The SMART scopes granted (None: not scope-limited, e.g. development open access) and the
    #: scope levels of the caller's context (``access.scopes.levels_for``).
    scopes: ScopeSet | None = None
    levels: frozenset[str] = frozenset()
    #: Literal references ("DiagnosticReport/lab-12") the grant is limited to; None = any.
    resources: frozenset[str] | None = None
    #: DICOM Study Instance UIDs the grant is limited to; None = any study of its patients.
    studies: frozenset[str] | None = None
    #: What the kind of credential behind the grant may ever do.
    reach: Reach = field(default=SMART)
    #: Per-patient narrowing (a partner's Consents, ``Share``): a type of the Patient
    #: compartment is visible only for the patients whose share covers it, and only the
    #: resources a share lists when it lists some. None: no per-patient narrowing.
    shares: tuple[Share, ...] | None = None

    @property
    def kind(self) -> str:
        return self.reach.kind

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
            self.reach.kind,
        ]
        if self.resources is not None:
            parts.append(",".join(sorted(self.resources)))
        if self.studies is not None:
            parts.append(",".join(sorted(self.studies)))
        if self.shares is not None:
            parts.extend(sorted(_share_key(s) for s in self.shares) or ["no-shares"])
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of an allowed interaction: what every query for it must be narrowed to."""

    patients: Patients
    filters: Filters
    #: The only ids that may be read (``Grant.resources``); None = any id.
    ids: frozenset[str] | None = None
    #: The only DICOM studies that may be touched (``Grant.studies``); None = any.
    studies: frozenset[str] | None = None
    #: Resources seen besides the compartments of ``patients``, patient by patient: (patient,
    #: ids of that patient). Only for Binary, which cannot be searched (a partner's Consent
    #: listing documents, ``Grant.shares``); read by id only. Ignoring it sees less, never more.
    instances: tuple[tuple[int, frozenset[str]], ...] = ()


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request presents: its ``Authorization`` header and, for the surfaces that accept
    one (a viewer loading images), a token in the query string."""

    authorization: str | None = None
    query_token: str | None = None

    @classmethod
    def of(cls, headers: HeaderMap, query_token: str | None = None) -> Credentials:
        return cls(headers.get("Authorization"), query_token or None)

    @property
    def bearer(self) -> str | None:
        """RFC 6750 §2.1: ``Authorization: Bearer <token>``."""
        scheme, _, token = (self.authorization or "").partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None


class TokenValidator(Protocol):
    """Turns one kind of token into a grant. Registered with the policy, owned by the package
    that issues the tokens."""

    #: Whether tokens of this kind may come in the query string (a viewer's image requests).
    in_query: bool

    def accepts(self, token: str) -> bool:
        """Whether ``token`` has this kind's form (not whether it is valid): a prefix check."""
        ...

    def validate(self, token: str) -> Grant | None:
        """The token's grant; None when it is expired, revoked, forged or unknown."""
        ...


class Authenticator(Protocol):
    """Decides a request with no token a validator claims (development open access)."""

    def authenticate(self, headers: HeaderMap) -> Grant | None: ...


class AccessPolicy:
    """The registry of token validators and the decision for every interaction."""

    def __init__(self, realm: str, *, fallback: Authenticator | None = None) -> None:
        self.realm = realm
        #: Asked when no registered validator claims the request's token (or there is none):
        #: ``DevOpenAccess`` in development, nothing in production.
        self.fallback = fallback
        self._validators: list[TokenValidator] = []

    def register_token_validator(self, validator: TokenValidator) -> None:
        """Add a kind of token. Validators are asked in order; the first that ``accepts`` a
        token decides it, so specific forms (prefixed tokens) go before catch-all ones."""
        self._validators.append(validator)

    # -- who is asking ---------------------------------------------------------------------------

    def grant_for(self, headers: HeaderMap, query_token: str | None = None) -> Grant:
        """The caller's grant, or 401 (``invalid_token`` when a token was presented).

        ``query_token``: a token from the query string, for the surfaces that take one; only
        validators whose tokens may travel there (``in_query``) are asked about it.
        """
        credentials = Credentials.of(headers, query_token)
        token, in_query = credentials.bearer, False
        if token is None and credentials.query_token:
            token, in_query = credentials.query_token, True
        if token is not None:
            for validator in self._validators:
                if (not in_query or validator.in_query) and validator.accepts(token):
                    grant = validator.validate(token)
                    if grant is None:
                        break
                    return grant
            else:
                if self.fallback is not None:
                    grant = self.fallback.authenticate(headers)
                    if grant is not None:
                        return grant
            raise Unauthorized(
                "The access token is expired, revoked or not valid here",
                realm=self.realm,
                invalid_token=True,
            )
        if self.fallback is not None:
            grant = self.fallback.authenticate(headers)
            if grant is not None:
                return grant
        raise Unauthorized("This request needs authorization", realm=self.realm)

    # -- what they may do ------------------------------------------------------------------------

    def forbidden(self, message: str) -> Forbidden:
        return Forbidden(message, realm=self.realm)

    def decide(self, grant: Grant, resource_type: str, interaction: str) -> Decision:
        """The narrowing an interaction on ``resource_type`` must carry, or 403.

        First the credential kind's reach, then SMART App Launch 2.x scopes: an interaction
        needs a scope with its permission (``r`` for read, ``s`` for search, ``c`` create...);
        every matching scope counts, an unfiltered one wins, and filtered ones become
        search-parameter sets the results must match one of. A grant at patient level without
        a patient context is refused outright: it must never fall back to every patient.

        The request's audit ledger notes the decision (``access.audit.noted``), so that it is
        recorded even where the request ends before its surface records it.
        """
        from . import audit  # audit.py builds on this module's Grant

        audit.noted(grant, resource_type, interaction)
        if not grant.reach.covers(resource_type, interaction):
            raise self.forbidden(f"This credential does not cover {interaction} of {resource_type}")
        partner = "system" in grant.levels  # reads what was shared with it; never writes
        if partner and (resource_type in PERSONAL_TYPES or interaction in WRITES):
            raise self.forbidden(f"A partner's access does not cover {resource_type}")
        if grant.types is not None and resource_type not in grant.types:
            raise self.forbidden(f"The access granted does not cover {resource_type}")
        filters: Filters = None
        if grant.scopes is not None:
            scope_interaction = _SCOPE_INTERACTION.get(interaction, interaction)
            filters = grant.scopes.filters(grant.levels, resource_type, scope_interaction)
            if filters == ():
                raise self.forbidden(
                    f"The access granted does not cover {interaction} of {resource_type}"
                )
        if "patient" in grant.levels and grant.patients is None:
            raise self.forbidden("A patient-level grant needs a patient context")
        patients = grant.patients if resource_type in COMPARTMENT_TYPES else None
        ids: frozenset[str] | None = None
        # DICOM studies narrow what is done with ImagingStudy (DICOMweb); a grant bound to
        # studies that also lists other resources (a share of a study and a document) reads
        # those by their ids
        studies = grant.studies if resource_type == "ImagingStudy" else None
        if grant.resources is not None:
            prefix = f"{resource_type}/"
            ids = frozenset(r[len(prefix) :] for r in grant.resources if r.startswith(prefix))
            if interaction == "search" and studies is None:
                # a search is not narrowed by ``ids``: the listed ids become its filter
                if not ids:
                    raise self.forbidden(f"The access granted does not cover {resource_type}")
                filters = _both(filters, ((("_id", ",".join(sorted(ids))),),))
        instances: tuple[tuple[int, frozenset[str]], ...] = ()
        if grant.shares is not None and resource_type in COMPARTMENT_TYPES:
            shared, more_filters, instances = _per_patient(grant.shares, resource_type)
            if patients is not None:
                shared &= patients
                instances = tuple((p, i) for p, i in instances if p in patients)
            patients = shared
            filters = _both(filters, more_filters)
        return Decision(patients, filters, ids, studies, instances)

    def narrowing(self, grant: Grant, resource_type: str, interaction: str = "read") -> Patients:
        """The patients, for callers that cannot apply scope filters (they are refused 403)."""
        decision = self.decide(grant, resource_type, interaction)
        if decision.filters is not None:
            raise self.forbidden(f"Filtered access to {resource_type} cannot be applied here")
        return decision.patients

    def may(self, grant: Grant, resource_type: str, interaction: str) -> Decision | None:
        """``decide`` for included resources: None where they must be left out."""
        try:
            return self.decide(grant, resource_type, interaction)
        except Forbidden:
            return None


def _share_key(share: Share) -> str:
    types = ",".join(sorted(share.types)) if share.types is not None else "*"
    resources = ",".join(sorted(share.resources)) if share.resources is not None else "*"
    return f"{share.patient}:{types}:{resources}"


def _per_patient(
    shares: Iterable[Share], resource_type: str
) -> tuple[frozenset[int], Filters, tuple[tuple[int, frozenset[str]], ...]]:
    """The narrowing of a compartment type under per-patient shares: (patients, filters,
    instances).

    A patient whose share covers the type without listing resources is seen whole; one whose
    shares list resources of the type is seen only through those, as one search-parameter set
    per patient (``patient`` and ``_id``: the patient's listed ids, and only of that patient).
    A Patient resource is its own compartment: listing it is seeing it. Binary cannot be
    searched: its listed files are the decision's ``instances``.
    """
    whole: set[int] = set()
    pieces: dict[int, set[str]] = {}
    prefix = f"{resource_type}/"
    for share in shares:
        if share.types is not None and resource_type not in share.types:
            continue
        if share.resources is None:
            whole.add(share.patient)
            continue
        listed = {r[len(prefix) :] for r in share.resources if r.startswith(prefix)}
        if listed:
            pieces.setdefault(share.patient, set()).update(listed)
    for patient in whole:
        pieces.pop(patient, None)
    if not pieces:
        return frozenset(whole), None, ()
    if resource_type == "Patient":
        listed_self = {p for p, listed in pieces.items() if str(p) in listed}
        return frozenset(whole | listed_self), None, ()
    if resource_type == "Binary":
        return frozenset(whole), None, tuple((p, frozenset(i)) for p, i in sorted(pieces.items()))
    alternatives: list[tuple[tuple[str, str], ...]] = []
    if whole:
        alternatives.append((("patient", ",".join(f"Patient/{p}" for p in sorted(whole))),))
    for patient, listed in sorted(pieces.items()):
        alternatives.append((("patient", f"Patient/{patient}"), ("_id", ",".join(sorted(listed)))))
    return frozenset(whole | pieces.keys()), tuple(alternatives), ()


def _both(first: Filters, second: Filters) -> Filters:
    """Filters a resource must match both of: every pairing of their alternatives."""
    if first is None:
        return second
    if second is None:
        return first
    return tuple(a + b for a in first for b in second)


class DevOpenAccess:
    """DEVELOPMENT ONLY: every request may read every patient's data."""

    GRANT = Grant(subject="development-open-access", reach=DEVELOPMENT)

    def authenticate(self, headers: HeaderMap) -> Grant | None:
        return self.GRANT
