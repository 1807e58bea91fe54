"""A patient's own access history as FHIR AuditEvent (acceptance point 16).

``GET /fhir/AuditEvent`` (search, newest first, ``_count`` and a keyset ``_cursor``) and
``GET /fhir/AuditEvent/{id}`` (read) serve the ``audit_event`` rows whose entity is one of the
caller's patients or whose agent is the caller (http://hl7.org/fhir/R4/auditevent.html). Rows
come from the state database, not the HIS: these static routes take precedence over the
generic ``/fhir/<type>`` ones. A partner's system grant reads no history; under SMART the
caller needs an AuditEvent scope (``patient/AuditEvent.rs``). Reading the history is itself
audited.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import and_, or_, select
from sqlalchemy.sql import ColumnElement

from access import audit
from access.errors import ApiError
from access.policy import Grant
from fhir_gateway.errors import BadRequest, NotFound
from fhir_gateway.http import render
from mappers.audit_event import from_audit_row

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
    by_event: dict[str, list[int]] = {}
    for event_id, patient in links:
        by_event.setdefault(event_id, []).append(patient)
    systems = current_app.config["AUDIT_SYSTEMS"]
    return [from_audit_row(r._mapping, by_event.get(r.id, []), **systems) for r in rows]


@history.route("/AuditEvent", methods=["GET"])
def search() -> Response:
    grant = _grant("search")
    count = _count(request.args.get("_count"))
    query = select(audit_event).order_by(audit_event.c.recorded.desc(), audit_event.c.id.desc())
    visible = _visible(grant)
    if visible is not None:
        query = query.where(visible)
    raw = request.args.get("_cursor")
    if raw:
        match = _CURSOR.fullmatch(raw)
        if match is None:
            raise BadRequest("_cursor is not one this server made")
        at, key = dt.datetime.fromisoformat(match[1]), match[2]
        query = query.where(
            or_(
                audit_event.c.recorded < at,
                and_(audit_event.c.recorded == at, audit_event.c.id < key),
            )
        )
    with current_app.extensions["state_engine"].connect() as conn:
        rows = conn.execute(query.limit(count + 1)).all()
    more = len(rows) > count
    rows = rows[:count]
    resources = _resources(rows)
    base = current_app.config["SETTINGS"].base_url
    links = [{"relation": "self", "url": f"{base}/AuditEvent?{urlencode({'_count': count})}"}]
    if more and rows:
        cursor = f"{rows[-1].recorded.isoformat()}|{rows[-1].id}"
        links.append(
            {
                "relation": "next",
                "url": f"{base}/AuditEvent?{urlencode({'_count': count, '_cursor': cursor})}",
            }
        )
    audit.record(grant, "search", "AuditEvent", outcome="allowed", ids=[r.id for r in rows])
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if resources:
        bundle["entry"] = [
            {"fullUrl": f"{base}/AuditEvent/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ]
    return render(bundle)


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


def _count(raw: str | None) -> int:
    if raw is None:
        return _DEFAULT_COUNT
    if not raw.isdigit():
        raise BadRequest("_count must be a whole number")
    return max(1, min(int(raw), _MAX_COUNT))
