"""FHIR Consent over HTTP: a patient shares their record with a partner and withdraws it.

``POST /fhir/Consent`` (create, http://hl7.org/fhir/R4/http.html#create) with a Consent naming
the patient and the partner (``organization`` by identifier: the partner's OAuth client id);
``PUT /fhir/Consent/{id}`` with ``status`` inactive withdraws it (update, the only change
accepted); ``GET /fhir/Consent[/{id}]`` lists or reads the caller's shares. These static
routes take precedence over the generic HIS-backed ``/fhir/<type>`` routes, so Consent comes
from the state database. Thin adapter: the decisions are in ``service``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from access import audit
from access.errors import ApiError, Forbidden
from access.policy import Grant
from conformance.capability import add_resource
from fhir_gateway.errors import BadRequest, NotFound, Unprocessable
from fhir_gateway.http import render
from mappers.consent import from_share, partner_of

from . import service

sharing = Blueprint("sharing", __name__)

_MAX_CLIENT_ID = 128


#: What ``/fhir/Consent`` serves, for the CapabilityStatement.
CAPABILITY = {
    "type": "Consent",
    "profile": "http://hl7.org/fhir/StructureDefinition/Consent",
    "documentation": "A patient's decision to share their record with a partner clinic (F25): "
    "create one to share, update its status to inactive to withdraw; the partner's "
    "backend-services token sees exactly the patients with an active Consent for it.",
    "interaction": [
        {"code": "read"},
        {"code": "search-type"},
        {"code": "create"},
        {"code": "update"},
    ],
    "readHistory": False,
    "updateCreate": False,
    "searchParam": [
        {
            "name": "status",
            "definition": "http://hl7.org/fhir/SearchParameter/Consent-status",
            "type": "token",
            "documentation": "active or inactive",
        }
    ],
}


def init_app(app: Flask, settings: Any) -> None:
    app.config["SHARING_CLIENT_SYSTEM"] = f"{settings.identifier_base.rstrip('/')}/sid/oauth-client"
    app.register_blueprint(sharing, url_prefix="/fhir")
    add_resource(app.config, CAPABILITY)


def _engine() -> Any:
    return current_app.extensions["state_engine"]


def _system() -> str:
    return str(current_app.config["SHARING_CLIENT_SYSTEM"])


def _grant(interaction: str) -> Grant:
    """The caller's grant, if it may ``interaction`` Consent for its own patients: a patient
    context (a partner's system grant manages nothing) and, under SMART, a Consent scope with
    the interaction's permission (``patient/Consent.crus``)."""
    policy = current_app.extensions["access_policy"]
    grant: Grant = policy.grant_for(request.headers)
    try:
        policy.narrowing(grant, "Consent", interaction)
    except ApiError:
        audit.record(grant, interaction, "Consent", outcome="denied")
        raise
    return grant


def _share_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound("Consent is not known")
    return int(raw)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("resourceType") != "Consent":
        raise BadRequest("The body must be a FHIR Consent in JSON")
    return body


@sharing.route("/Consent", methods=["GET"])
def search() -> Response:
    grant = _grant("search")
    status = request.args.get("status")
    active = {"active": True, "inactive": False}.get(status) if status else None
    rows = service.list_shares(_engine(), grant.patients, active=active)
    entries = [
        {
            "fullUrl": f"Consent/{r['id']}",
            "resource": from_share(r, _system()),
            "search": {"mode": "match"},
        }
        for r in rows
    ]
    ids = [str(r["id"]) for r in rows]
    audit.record(
        grant,
        "search",
        "Consent",
        outcome="allowed",
        ids=ids,
        patients={r["his_patient_id"] for r in rows},
    )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(rows)}
    if entries:
        bundle["entry"] = entries
    return render(bundle)


@sharing.route("/Consent/<consent_id>", methods=["GET"])
def read(consent_id: str) -> Response:
    grant = _grant("read")
    row = service.get_share(_engine(), _share_id(consent_id), grant.patients)
    if row is None:
        audit.record(grant, "read", "Consent", outcome="not-found", ids=[consent_id[:64]])
        raise NotFound("Consent is not known")
    audit.record(
        grant,
        "read",
        "Consent",
        outcome="allowed",
        ids=[consent_id],
        patients=[row["his_patient_id"]],
    )
    return render(from_share(row, _system()))


@sharing.route("/Consent", methods=["POST"])
def create() -> Response:
    """Grant: the Consent's patient must be the caller's; its partner is a client id."""
    grant = _grant("create")
    body = _body()
    patient = _patient_of(body)
    if patient is None or (grant.patients is not None and patient not in grant.patients):
        audit.record(grant, "create", "Consent", outcome="denied")
        raise Forbidden("A Consent can only be given for a patient you act for")
    client_id = partner_of(body, _system())
    if client_id is None:
        raise Unprocessable(
            "Consent.organization must name the partner by identifier (its client id)"
        )
    if body.get("status", "active") != "active":
        raise Unprocessable("A new Consent must be active")
    row = service.grant_share(_engine(), patient, client_id, granted_by=grant.subject)
    audit.record(
        grant, "create", "Consent", outcome="allowed", ids=[str(row["id"])], patients=[patient]
    )
    return render(from_share(row, _system()), 201, {"Location": f"Consent/{row['id']}"})


@sharing.route("/Consent/<consent_id>", methods=["PUT"])
def withdraw(consent_id: str) -> Response:
    """Withdraw: an update whose only change is ``status`` inactive."""
    grant = _grant("update")
    share_id = _share_id(consent_id)
    body = _body()
    if body.get("status") != "inactive":
        raise Unprocessable("A Consent can only be withdrawn (status inactive)")
    row = service.withdraw_share(_engine(), share_id, grant.patients)
    if row is None:
        audit.record(grant, "update", "Consent", outcome="not-found", ids=[consent_id[:64]])
        raise NotFound("Consent is not known")
    audit.record(
        grant,
        "update",
        "Consent",
        outcome="allowed",
        ids=[consent_id],
        patients=[row["his_patient_id"]],
    )
    return render(from_share(row, _system()))


def _patient_of(body: dict[str, Any]) -> int | None:
    ref = body.get("patient")
    value = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(value, str):
        return None
    kind, _, rid = value.partition("/")
    if kind != "Patient" or not rid.isdigit() or len(rid) > 18:
        return None
    return int(rid)
