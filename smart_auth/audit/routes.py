"""A patient's own access history as FHIR AuditEvent (acceptance point 16).

``GET /fhir/AuditEvent`` (search, newest first, keyset-paged) and ``GET /fhir/AuditEvent/{id}``
(read) serve the ``audit_event`` rows whose entity is one of the caller's patients or whose agent
is the caller (http://hl7.org/fhir/R4/auditevent.html). Search takes the standard parameters
that fit the rows (``SERVED``: ``date``, ``patient``, ``entity``, ``action``, ``outcome``...)
parsed like every FHIR search (``fhir_gateway.fhir.query``: standard parameters not served are
refused, unknown ones ignored unless ``Prefer: handling=strict``), plus ``_count``,
``_summary=count``, ``_total``; ``Patient/[id]/AuditEvent`` searches one patient's compartment.
Rows
come from the state database, not the HIS: these static routes take precedence over the
generic ``/fhir/<type>`` ones. A partner's system grant reads no history; under SMART the
caller needs an AuditEvent scope (``patient/AuditEvent.rs``). Reading the history is itself
audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import replace
from functools import cache
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import and_, false, func, literal, not_, or_, select, true
from sqlalchemy.sql import ColumnElement

from access import audit
from access.errors import ApiError
from access.policy import Grant
from conformance.capability import add_resource
from fhir_gateway.errors import BadRequest, NotFound, UnknownParameter
from fhir_gateway.fhir.query import (
    Criterion,
    QueryParser,
    ReferenceValue,
    TokenValue,
    parse_token,
    split_or,
)
from fhir_gateway.fhir.registry import ResourceSpec, standard_param
from fhir_gateway.his.bindings import Absent, Binding, ConstantToken, DateBinding
from fhir_gateway.http import render, strict_handling
from mappers.audit_event import (
    ACTION_CODES,
    ENTITY_TYPES,
    OUTCOME_CODES,
    RESOURCE_TYPES,
    SUBTYPE_CODES,
    TYPE_CODING,
    from_audit_row,
)
from smart_auth.oauth.tables import oauth_client

from .tables import audit_event, audit_patient

history = Blueprint("audit_history", __name__)

_CURSOR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?)\|([0-9a-f]{32})")
_ID = re.compile(r"[0-9a-f]{32}")
_DEFAULT_COUNT, _MAX_COUNT = 50, 200


def init_app(app: Flask, settings: Any) -> None:
    base = settings.identifier_base.rstrip("/")
    app.config["AUDIT_SYSTEMS"] = {
        "subject_system": f"{base}/sid/gateway-subject",
        "client_system": f"{base}/sid/oauth-client",
    }
    app.register_blueprint(history, url_prefix="/fhir")
    add_resource(app.config, capability())


def capability() -> dict[str, Any]:
    """What ``/fhir/AuditEvent`` serves, for the CapabilityStatement: exactly the parameters
    ``search_spec`` parses, with HL7's definitions."""
    return {
        "type": "AuditEvent",
        "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
        "documentation": "The access history: every decision of the gateway, allowed or denied. "
        "A patient's grant sees the events about the patients of that grant, newest first "
        "(_sort=-date); paged with _count (next links); _summary=count and _total=accurate "
        "count them. Agents are identified, not referenced: agent:identifier=[system]|[value] "
        "finds the caller (gateway subject) or the app (OAuth client id). Also searched in "
        "the Patient compartment (Patient/[id]/AuditEvent).",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "readHistory": False,
        "updateCreate": False,
        "searchParam": [
            {"name": p.code, "definition": p.url, "type": p.type, "documentation": p.description}
            for p in search_spec().params.values()
        ],
    }


def _grant(interaction: str) -> Grant:
    """The caller's grant, if the one access policy lets it ``interaction`` AuditEvent."""
    policy = current_app.extensions["access_policy"]
    grant: Grant = policy.grant_for(request.headers)
    try:
        policy.narrowing(grant, "AuditEvent", interaction)
    except ApiError:
        audit.record(grant, interaction, "AuditEvent", outcome="denied")
        raise
    return grant


def _visible(grant: Grant) -> ColumnElement[bool] | None:
    """Events about the grant's patients, and the subject's own events that concern no other
    patient; None: every event (development). One account acts for several patients (a guardian
    and the minor), so its subject alone would show a grant for the minor the accesses to the
    guardian's own record."""
    if grant.patients is None and grant.scopes is None:
        return None
    patients = grant.patients or frozenset()
    about = select(audit_patient.c.event_id).where(audit_patient.c.his_patient_id.in_(patients))
    elsewhere = select(audit_patient.c.event_id).where(
        audit_patient.c.his_patient_id.not_in(patients)
    )
    return or_(
        audit_event.c.id.in_(about),
        and_(audit_event.c.subject == grant.subject, audit_event.c.id.not_in(elsewhere)),
    )


def _resources(rows: list[Any]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    with current_app.extensions["state_engine"].connect() as conn:
        links = conn.execute(select(audit_patient).where(audit_patient.c.event_id.in_(ids))).all()
        clients = {r.client_id for r in rows if r.client_id}
        names = dict(
            conn.execute(
                select(oauth_client.c.client_id, oauth_client.c.name).where(
                    oauth_client.c.client_id.in_(clients)
                )
            ).all()
        )
    by_event: dict[str, list[int]] = {}
    for event_id, patient in links:
        by_event.setdefault(event_id, []).append(patient)
    systems = current_app.config["AUDIT_SYSTEMS"]
    return [
        from_audit_row(
            r._mapping, by_event.get(r.id, []), client_name=names.get(r.client_id), **systems
        )
        for r in rows
    ]


@history.route("/AuditEvent", methods=["GET"])
def search() -> Response:
    return _search(list(request.args.items(multi=True)))


@history.route("/Patient/<patient_id>/AuditEvent", methods=["GET"])
def compartment_search(patient_id: str) -> Response:
    """search.html#compartments: the Patient compartment holds AuditEvent by ``patient``."""
    return _search(list(request.args.items(multi=True)), patient_id)


def _search(pairs: list[tuple[str, str]], patient_id: str | None = None) -> Response:
    grant = _grant("search")
    base = current_app.config["SETTINGS"].base_url
    parser = QueryParser(base, _DEFAULT_COUNT, _MAX_COUNT)
    pairs = [(k, v) for k, v in pairs if k not in ("_format", "_pretty")]
    # agent:identifier (search.html#modifiers): the agents are identified, never referenced
    agents = [(k, v) for k, v in pairs if k == "agent:identifier"]
    pairs = [(k, v) for k, v in pairs if k != "agent:identifier"]
    query = parser.parse(search_spec(), pairs, strict=strict_handling(request))
    if query.elements:
        raise UnknownParameter("_elements is not supported on AuditEvent")
    if query.sort != ("_id", False) and not query.sort[1]:
        raise BadRequest("AuditEvent is listed newest first: _sort=-date")
    query = replace(query, used=(*query.used, *agents))
    url = f"{base}/AuditEvent"
    conditions = [_clause(c) for c in query.criteria]
    conditions += [_agent_identified(value) for _, value in agents]
    if patient_id is not None:
        member = Criterion(
            search_spec().params["patient"], None, (ReferenceValue(None, patient_id),)
        )
        conditions.append(_clause(member))
        url = f"{base}/Patient/{patient_id}/AuditEvent"
    visible = _visible(grant)
    if visible is not None:
        conditions.append(visible)
    # a next link is signed over its search and the grant that made it, like the FHIR API's
    scope = f"{url}|{urlencode(query.used)}|{grant.fingerprint}"
    total = None
    engine = current_app.extensions["state_engine"]
    if query.total or query.summary == "count" or query.count == 0:
        with engine.connect() as conn:
            counted = select(func.count()).select_from(audit_event).where(*conditions)
            total = int(conn.execute(counted).scalar_one())
    rows: list[Any] = []
    more = False
    if query.summary != "count" and query.count > 0:
        stmt = select(audit_event).where(*conditions)
        if query.cursor:
            stmt = stmt.where(_after(_verified(query.cursor, scope)))
        stmt = stmt.order_by(audit_event.c.recorded.desc(), audit_event.c.id.desc())
        with engine.connect() as conn:
            rows = list(conn.execute(stmt.limit(query.count + 1)).all())
        more = len(rows) > query.count
        rows = rows[: query.count]
    used = urlencode(query.used)
    links = [{"relation": "self", "url": f"{url}?{used}" if used else url}]
    if more and rows:
        cursor = _signed(f"{rows[-1].recorded.isoformat()}|{rows[-1].id}", scope)
        following = urlencode([*query.used, ("_cursor", cursor)])
        links.append({"relation": "next", "url": f"{url}?{following}"})
    audit.record(
        grant, "search", "AuditEvent", outcome="allowed", ids=[r.id for r in rows], count=total
    )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    entries = [
        {"fullUrl": f"{base}/AuditEvent/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in (_resources(rows) if rows else [])
    ]
    if query.ignored:
        ignored = ", ".join(sorted(set(query.ignored)))[:200]
        entries.append(
            {"resource": _warning(f"Parameters ignored: {ignored}"), "search": {"mode": "outcome"}}
        )
    if entries:
        bundle["entry"] = entries
    return render(bundle)


def _mac(position: str, scope: str, key: bytes | str | None = None) -> str:
    key = current_app.secret_key if key is None else key
    key = (key if isinstance(key, bytes) else str(key).encode()) + b"/audit-cursor"
    message = f"{position}\x00{scope}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


def _signed(position: str, scope: str) -> str:
    """A cursor bound to its search and grant: another caller cannot follow it."""
    return f"{position}~{_mac(position, scope)}"


def _verified(raw: str, scope: str) -> str:
    """The position of a cursor this server made for this search and grant, else 400."""
    position, _, mac = raw.rpartition("~")
    keys = [current_app.secret_key, *current_app.config.get("SECRET_KEY_FALLBACKS", [])]
    if not position or not any(hmac.compare_digest(mac, _mac(position, scope, k)) for k in keys):
        raise BadRequest(
            "This paging link is not valid for this search or this caller; "
            "repeat the search to get fresh links"
        )
    return position


def _after(raw: str) -> ColumnElement[bool]:
    """Events listed after the cursor's (recorded, id) position."""
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise BadRequest("_cursor is not one this server made")
    at, key = dt.datetime.fromisoformat(match[1]), match[2]
    return or_(
        audit_event.c.recorded < at,
        and_(audit_event.c.recorded == at, audit_event.c.id < key),
    )


def _warning(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "processing", "diagnostics": text}],
    }


# --- search parameters -----------------------------------------------------------------------

#: The AuditEvent search parameters served, with HL7's definitions; the rest are refused.
SERVED = (
    "_id",
    "_lastUpdated",
    "date",
    "patient",
    "entity",
    "entity-type",
    "entity-role",
    "agent",
    "action",
    "outcome",
    "type",
    "subtype",
)
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/object-role"


@cache
def search_spec() -> ResourceSpec:
    params = {code: standard_param("AuditEvent", code) for code in SERVED}
    return ResourceSpec(
        type="AuditEvent", params=MappingProxyType(params), sorts=("date", "_lastUpdated")
    )


class _Coded(Binding):
    """A column shown as codes of one system: ``codes`` maps column values to FHIR codes, and
    every value it does not name shows as ``other``."""

    def __init__(self, col: Any, system: str, table: tuple[dict[str, str], str]) -> None:
        self.col, self.system = col, system
        self.codes, self.other = table

    def match(self, value: TokenValue, modifier: str | None) -> ColumnElement[bool]:
        if value.system not in (None, self.system):
            return false()
        if value.code is None:
            return true()
        named = [k for k, v in self.codes.items() if v == value.code]
        clause = self.col.in_(named) if named else false()
        if value.code == self.other:
            clause = or_(clause, self.col.not_in(list(self.codes)))
        return clause


def _linked(patient_ids: list[int]) -> ColumnElement[bool]:
    about = select(audit_patient.c.event_id).where(audit_patient.c.his_patient_id.in_(patient_ids))
    return audit_event.c.id.in_(about)


def _seen(resource_type: str, fhir_id: str) -> ColumnElement[bool]:
    """Events whose entities include ``resource_type/fhir_id`` as a resource seen."""
    listed = literal(",") + audit_event.c.entity_ids + literal(",")
    return and_(audit_event.c.resource_type == resource_type, listed.like(f"%,{fhir_id},%"))


class _Entity(Binding):
    """``entity`` (any resource) or ``patient`` (Patient only): the patients an event concerned
    and the resources it saw."""

    def __init__(self, patients_only: bool) -> None:
        self.patients_only = patients_only

    def missing(self, missing: bool) -> ColumnElement[bool]:
        present = _mentions(self.patients_only)
        return not_(present) if missing else present

    def match(self, value: ReferenceValue, modifier: str | None) -> ColumnElement[bool]:
        if not _FHIR_ID.fullmatch(value.id):
            return false()
        if value.type is not None and value.type != "Patient":
            return false() if self.patients_only else _seen(value.type, value.id)
        if self.patients_only or value.type == "Patient":
            linked = _linked([int(value.id)]) if value.id.isdigit() else false()
            return or_(linked, _seen("Patient", value.id))
        listed = literal(",") + audit_event.c.entity_ids + literal(",")
        by_id = listed.like(f"%,{value.id},%")
        return or_(_linked([int(value.id)]), by_id) if value.id.isdigit() else by_id


class _EntityType(Binding):
    """``entity-type`` (resource-types) and ``entity-role`` (object-role 1 Patient, 4 Domain
    Resource): the patients an event concerned are Patient entities in the patient role; the
    resources it saw are entities of its resource type in the domain-resource role."""

    def __init__(self, system: str, patient_code: str, resource_code: str | None) -> None:
        self.system, self.patient_code, self.resource_code = system, patient_code, resource_code

    def missing(self, missing: bool) -> ColumnElement[bool]:
        present = _mentions(False)
        return not_(present) if missing else present

    def match(self, value: TokenValue, modifier: str | None) -> ColumnElement[bool]:
        if value.system not in (None, self.system):
            return false()
        saw = audit_event.c.entity_ids != ""
        linked = audit_event.c.id.in_(select(audit_patient.c.event_id))
        if value.code is None:
            return _mentions(False)
        options: list[ColumnElement[bool]] = []
        if value.code == self.patient_code:
            options.append(linked)
        if self.resource_code is None:
            options.append(and_(audit_event.c.resource_type == value.code, saw))
        elif value.code == self.resource_code:
            options.append(saw)
        return or_(*options) if options else false()


class _AnyOf(Binding):
    """``entity-type``: BALP's audit-entity-type codes (1 Person: the patients; 2 System
    Object: the resources seen) as ``entity.type`` carries them, and, as before, a resource
    type (the type ``entity.what`` names)."""

    def __init__(self, *options: Binding) -> None:
        self.options = options

    def missing(self, missing: bool) -> ColumnElement[bool]:
        return self.options[0].missing(missing)

    def match(self, value: TokenValue, modifier: str | None) -> ColumnElement[bool]:
        return or_(*(o.match(value, modifier) for o in self.options))


def _agent_identified(raw: str) -> ColumnElement[bool]:
    """``agent:identifier=[system]|[value]``: the caller by the gateway's subject identifier,
    the app by its OAuth client id (``mappers.audit_event``'s two agents)."""
    systems = current_app.config["AUDIT_SYSTEMS"]
    options = []
    for token in (parse_token(part) for part in split_or(raw)):
        subject = audit_event.c.subject == token.code
        if token.code == "anonymous":
            subject = or_(subject, audit_event.c.subject.is_(None))
        client = audit_event.c.client_id == token.code
        if token.code is None:
            subject, client = true(), audit_event.c.client_id.is_not(None)
        if token.system in (None, systems["subject_system"]):
            options.append(subject)
        if token.system in (None, systems["client_system"]):
            options.append(client)
    return or_(*options) if options else false()


class _Id(Binding):
    def match(self, value: TokenValue, modifier: str | None) -> ColumnElement[bool]:
        code = value.code or ""
        return audit_event.c.id == code if _ID.fullmatch(code) else false()


def _mentions(patients_only: bool) -> ColumnElement[bool]:
    """Events with a Patient entity (``patients_only``) or with any entity."""
    linked = audit_event.c.id.in_(select(audit_patient.c.event_id))
    saw = audit_event.c.entity_ids != ""
    if patients_only:
        saw = and_(audit_event.c.resource_type == "Patient", saw)
    return or_(linked, saw)


@cache
def _bindings() -> dict[str, Binding]:
    return {
        "_id": _Id(),
        "_lastUpdated": DateBinding(start=audit_event.c.recorded),
        "date": DateBinding(start=audit_event.c.recorded),
        "patient": _Entity(patients_only=True),
        "entity": _Entity(patients_only=False),
        "entity-type": _AnyOf(
            _EntityType(ENTITY_TYPES, "1", "2"), _EntityType(RESOURCE_TYPES, "Patient", None)
        ),
        "entity-role": _EntityType(_ROLE_SYSTEM, "1", "4"),
        "action": _Coded(
            audit_event.c.action, "http://hl7.org/fhir/audit-event-action", ACTION_CODES
        ),
        "outcome": _Coded(
            audit_event.c.outcome, "http://hl7.org/fhir/audit-event-outcome", OUTCOME_CODES
        ),
        "type": ConstantToken((TYPE_CODING,)),
        "agent": Absent(),  # agents are identified (agent:identifier), never referenced
        "subtype": _Coded(
            audit_event.c.action, "http://hl7.org/fhir/restful-interaction", SUBTYPE_CODES
        ),
    }


def _clause(criterion: Criterion) -> ColumnElement[bool]:
    return _bindings()[criterion.param.code].clause(criterion)


@history.route("/AuditEvent/<event_id>", methods=["GET"])
def read(event_id: str) -> Response:
    grant = _grant("read")
    if not _ID.fullmatch(event_id):
        raise NotFound("AuditEvent is not known")
    query = select(audit_event).where(audit_event.c.id == event_id)
    visible = _visible(grant)
    if visible is not None:
        query = query.where(visible)
    with current_app.extensions["state_engine"].connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        audit.record(grant, "read", "AuditEvent", outcome="not-found", ids=[event_id])
        raise NotFound("AuditEvent is not known")
    audit.record(grant, "read", "AuditEvent", outcome="allowed", ids=[event_id])
    return render(_resources([row])[0])
