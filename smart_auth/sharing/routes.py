"""FHIR Consent over HTTP: a patient shares their record with a partner and withdraws it.

``POST /fhir/Consent`` (create, http://hl7.org/fhir/R4/http.html#create) with a Consent naming
the patient and the partner (``organization`` by identifier: the client id of a registered,
active partner clinic), and optionally limiting the share (``provision.period``, ``class``,
``data`` with meaning instance). What cannot be honoured exactly is refused with 422 naming the
element, never accepted and ignored (``mappers.consent.terms_of``);
``PUT /fhir/Consent/{id}`` with ``status`` inactive withdraws it (update, the only change
accepted); ``GET /fhir/Consent[/{id}]`` lists or reads the caller's shares. These static
routes take precedence over the generic HIS-backed ``/fhir/<type>`` routes, so Consent comes
from the state database. Thin adapter: the decisions are in ``service``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from access import audit
from access.compartment import PATIENT_COMPARTMENT
from access.errors import ApiError, Forbidden
from access.policy import Grant
from conformance.capability import add_resource
from fhir_gateway.errors import BadRequest, FhirError, HisUnavailable, NotFound, Unprocessable
from fhir_gateway.his.connector import HisUnreachable
from fhir_gateway.http import render
from mappers import InvalidRecord, map_record
from mappers.consent import (
    Refused,
    files_of,
    from_outside_share,
    from_share,
    names_recipient,
    partners_named,
    recipient_of,
    terms_of,
)
from mappers.ids import parse_id
from smart_auth.state import shared_engine

from . import outside_mail, service
from .outside import ID_PREFIX, PIN, OutsideShares, ShareTokenValidator, status_of
from .outside import LISTABLE as OUTSIDE_LISTABLE

sharing = Blueprint("sharing", __name__)

_MAX_CLIENT_ID = 128
#: Types ``provision.class`` may name: the patient's record as the gateway serves it.
SHAREABLE = frozenset({*PATIENT_COMPARTMENT, "Binary"})
#: Types ``provision.data`` may list one by one: not ImagingStudy, whose images DICOMweb
#: serves by patient (a study shared alone could not be kept to itself there).
LISTABLE = SHAREABLE - {"ImagingStudy"}


#: What ``/fhir/Consent`` serves, for the CapabilityStatement.
CAPABILITY = {
    "type": "Consent",
    "profile": "http://hl7.org/fhir/StructureDefinition/Consent",
    "documentation": "A patient's decision to share their record with a partner clinic (F25): "
    "create one to share, update its status to inactive to withdraw; the partner's "
    "backend-services token sees exactly the patients with a Consent in force for it, and of "
    "each only what the Consent covers (provision.period, provision.class of "
    "http://hl7.org/fhir/resource-types, provision.data with meaning instance). Any other "
    "provision element is refused (422). A share with a person outside (F21) names instead a "
    "contained RelatedPerson 'recipient' (telecom email, optionally sms) as the one IRCP "
    "provision actor, the 6-digit PIN in the extension share-pin, provision.period.end as its "
    "time limit and provision.data (DocumentReference, DiagnosticReport, ImagingStudy) or no data "
    "(the whole record); its id is share-<n>, its state and last use are the extensions "
    "share-state and share-last-used.",
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


class NotSent(FhirError):
    """A message of a new share could not be sent: nothing of it stays in force."""

    status = 503
    code = "transient"

    def __init__(self, diagnostics: str) -> None:
        super().__init__(diagnostics, headers={"Retry-After": "30"})


def init_app(app: Flask, settings: Any) -> None:
    shared_engine(app.extensions, settings.state_url)  # the schema upgraded at start-up
    app.config["SHARING_CLIENT_SYSTEM"] = f"{settings.identifier_base.rstrip('/')}/sid/oauth-client"
    app.register_blueprint(sharing, url_prefix="/fhir")
    add_resource(app.config, CAPABILITY)


def init_outside(app: Flask, settings: Any) -> OutsideShares:
    """Shares with a person outside (F21): the service, the validator of its tokens (before
    the SMART bearer validator, which takes every token without a prefix) and the recipient's
    pages under ``/share``. The Consent routes of ``init_app`` create, list and revoke them."""
    from .pages import pages

    state = shared_engine(app.extensions, settings.state_url)
    app.config["SHARING_EXTENSION_BASE"] = (
        f"{settings.identifier_base.rstrip('/')}/StructureDefinition"
    )
    app.config["SHARING_PAGE_BASE"] = settings.base_url.removesuffix("/fhir") + "/share"
    mails = outside_mail.ShareMails(settings)
    outside = OutsideShares(
        state,
        token_ttl_s=settings.shares_token_ttl_s,
        max_attempts=settings.shares_max_attempts,
        notify_locked=mails.locked,
    )
    app.extensions["outside_shares"] = outside
    app.extensions["share_mails"] = mails
    app.extensions["access_policy"].register_token_validator(ShareTokenValidator(outside))
    app.register_blueprint(pages, url_prefix="/share")
    return outside


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
    resources = [from_share(r, _system()) for r in rows]
    patients = {r["his_patient_id"] for r in rows}
    for row in _outside().list(grant.patients):
        consent = from_outside_share(row, status_of(row), _extension_base())
        if active is None or (consent["status"] == "active") == active:
            resources.append(consent)
            patients.add(row["his_patient_id"])
    entries = [
        {"fullUrl": f"Consent/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in resources
    ]
    ids = [r["id"] for r in resources]
    audit.record(grant, "search", "Consent", outcome="allowed", ids=ids, patients=patients)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
    }
    if entries:
        bundle["entry"] = entries
    return render(bundle)


@sharing.route("/Consent/<consent_id>", methods=["GET"])
def read(consent_id: str) -> Response:
    grant = _grant("read")
    outside = consent_id.startswith(ID_PREFIX)  # a share with a person outside (F21)
    if outside:
        row = _outside().get(_outside_id(consent_id), grant.patients)
    else:
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
    if outside:
        return render(from_outside_share(row, status_of(row), _extension_base()))
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
    if names_recipient(body):
        return _create_outside(grant, body, patient)
    try:
        client_id, terms, resources = _honoured(body, patient)
    except Unprocessable:
        audit.record(grant, "create", "Consent", outcome="failed", patients=[patient])
        raise
    row = service.grant_share(
        _engine(),
        patient,
        client_id,
        granted_by=grant.subject,
        start=terms.start,
        end=terms.end,
        classes=terms.classes,
        resources=resources,
    )
    audit.record(
        grant, "create", "Consent", outcome="allowed", ids=[str(row["id"])], patients=[patient]
    )
    return render(from_share(row, _system()), 201, {"Location": f"Consent/{row['id']}"})


@sharing.route("/Consent/<consent_id>", methods=["PUT"])
def withdraw(consent_id: str) -> Response:
    """Withdraw: an update whose only change is ``status`` inactive."""
    grant = _grant("update")
    if consent_id.startswith(ID_PREFIX):
        return _revoke_outside(grant, consent_id)
    share_id = _share_id(consent_id)
    body = _body()
    if body.get("status") != "inactive":
        raise Unprocessable("A Consent can only be withdrawn (status inactive)")
    current = service.get_share(_engine(), share_id, grant.patients)
    if current is None:
        audit.record(grant, "update", "Consent", outcome="not-found", ids=[consent_id[:64]])
        raise NotFound("Consent is not known")
    if _what_is_shared(body) not in (None, _what_is_shared(from_share(current, _system()))):
        raise Unprocessable(
            "A Consent can only be withdrawn: its provision (type, class, data) cannot change"
        )
    row = service.withdraw_share(_engine(), share_id, grant.patients)
    if row is None:
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


def _what_is_shared(consent: dict[str, Any]) -> tuple[Any, ...] | None:
    """A Consent's provision type, classes and data, comparable; None without a provision."""
    provision = consent.get("provision")
    if not isinstance(provision, dict):
        return None

    def entries(name: str, *path: str) -> frozenset[Any]:
        found = set()
        for item in provision.get(name) or []:
            value: Any = item
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            found.add(value if isinstance(value, str) else repr(item))
        return frozenset(found)

    return (
        provision.get("type", "permit"),
        entries("class", "code"),
        entries("class", "system"),
        entries("data", "reference", "reference"),
    )


def _honoured(body: dict[str, Any], patient: int) -> tuple[str, Any, frozenset[str] | None]:
    """The partner, the terms and the resources of a new Consent, or 422 saying what cannot be
    honoured: an unknown partner, an element the gateway would otherwise ignore, a listed
    resource that is not the patient's."""
    if body.get("status", "active") != "active":
        raise Unprocessable("A new Consent must be active")
    try:
        names = partners_named(body, _system())
        terms = terms_of(body, shareable=SHAREABLE, listable=LISTABLE, now=service._now())
    except Refused as exc:
        raise Unprocessable(str(exc)) from None
    if not names:
        raise Unprocessable(
            "Consent.organization must name the partner by identifier (its client id)"
        )
    if len(names) > 1:
        raise Unprocessable("A Consent names one partner: organization and actors name several")
    client_id = next(iter(names))
    if not service.is_partner(_engine(), client_id):
        raise Unprocessable("Consent.organization is not a registered partner")
    resources = _resolved(patient, terms.data) if terms.data is not None else None
    return client_id, terms, resources


def _resolved(patient: int, data: tuple[str, ...]) -> frozenset[str]:
    """``data`` checked to be the patient's own resources, with the files (Binary) of the
    documents and reports among them: sharing a document shares its content."""
    fhir = current_app.extensions["fhir_service"]
    out = set(data)
    mine = frozenset({patient})
    try:
        for ref in data:
            rtype, _, rid = ref.partition("/")
            parsed = parse_id(rtype, rid)
            found = [] if parsed is None else fhir.connector.read_many(rtype, [parsed], mine)
            if not found:
                raise Unprocessable(
                    f"Consent.provision.data: {ref[:80]} is not a resource of Patient/{patient}"
                )
            if rtype in ("DocumentReference", "DiagnosticReport"):
                kind, record = found[0]
                out.update(files_of(map_record(rtype, kind, record, fhir.ctx)))
    except HisUnreachable:
        raise HisUnavailable("The hospital system is not answering; try again shortly") from None
    except InvalidRecord:
        raise Unprocessable("Consent.provision.data names a record that cannot be shared") from None
    return frozenset(out)


def _patient_of(body: dict[str, Any]) -> int | None:
    ref = body.get("patient")
    value = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(value, str):
        return None
    kind, _, rid = value.partition("/")
    if kind != "Patient" or not rid.isdigit() or len(rid) > 18:
        return None
    return int(rid)


# --- shares with a person outside (F21) ----------------------------------------------------------


def _outside() -> OutsideShares:
    return current_app.extensions["outside_shares"]  # type: ignore[no-any-return]


def _extension_base() -> str:
    return str(current_app.config["SHARING_EXTENSION_BASE"])


def _outside_id(raw: str) -> int:
    number = raw.removeprefix(ID_PREFIX)
    if not number.isdigit() or len(number) > 18:
        raise NotFound("Consent is not known")
    return int(number)


def _revoke_outside(grant: Grant, consent_id: str) -> Response:
    """Revoke: an update whose only change is ``status`` inactive; the recipient's link and
    tokens stop working at once."""
    share_id = _outside_id(consent_id)
    body = _body()
    if body.get("status") != "inactive":
        raise Unprocessable("A Consent can only be withdrawn (status inactive)")
    current = _outside().get(share_id, grant.patients)
    if current is None:
        audit.record(grant, "update", "Consent", outcome="not-found", ids=[consent_id[:64]])
        raise NotFound("Consent is not known")
    shown = from_outside_share(current, status_of(current), _extension_base())
    if _what_is_shared(body) not in (None, _what_is_shared(shown)):
        raise Unprocessable(
            "A Consent can only be withdrawn: its provision (type, class, data) cannot change"
        )
    row = _outside().revoke(share_id, grant.patients)
    if row is None:
        raise NotFound("Consent is not known")
    audit.record(
        grant,
        "update",
        "Consent",
        outcome="allowed",
        ids=[consent_id],
        patients=[row["his_patient_id"]],
    )
    return render(from_outside_share(row, status_of(row), _extension_base()))


def _create_outside(grant: Grant, body: dict[str, Any], patient: int) -> Response:
    """A share with a person outside: stored, then the link mailed to the recipient and the
    PIN sent separately (SMS to a mobile, else a second mail). Nothing is left in force when
    a message cannot be sent."""
    settings = current_app.config["SETTINGS"]
    now = service._now()
    try:
        if body.get("status", "active") != "active":
            raise Refused("A new Consent must be active")
        recipient = recipient_of(body, _extension_base())
        terms = terms_of(body, shareable=OUTSIDE_LISTABLE, listable=OUTSIDE_LISTABLE, now=now)
        if recipient.pin is None or not PIN.fullmatch(recipient.pin):
            raise Refused("Consent.extension share-pin must be the 6-digit PIN")
        if terms.classes is not None:
            raise Refused(
                "Consent.provision.class cannot be honoured for a share with a person outside: "
                "list the resources (provision.data) or share the whole record"
            )
        if terms.end is None:
            raise Refused("Consent.provision.period.end (the time limit) is required")
        if (terms.end - max(terms.start or now, now)).days >= settings.shares_max_days:
            raise Refused(
                f"Consent.provision.period is longer than {settings.shares_max_days} days"
            )
    except Refused as exc:
        audit.record(grant, "create", "Consent", outcome="failed", patients=[patient])
        raise Unprocessable(str(exc)) from None
    resources = studies = None
    if terms.data is not None:
        try:
            resources, studies = _resolved_outside(patient, terms.data)
        except Unprocessable:
            audit.record(grant, "create", "Consent", outcome="failed", patients=[patient])
            raise
    mails: outside_mail.ShareMails = current_app.extensions["share_mails"]
    owner_email, owner_language = mails.owner_of(_engine(), grant.subject)
    language = body.get("language")
    if language not in outside_mail.LANGUAGES:
        language = owner_language if owner_language in outside_mail.LANGUAGES else "en"
    new = _outside().create(
        patient,
        email=recipient.email,
        phone=recipient.phone,
        pin=recipient.pin,
        start=terms.start,
        end=terms.end,
        language=language,
        comment=recipient.comment,
        resources=resources,
        studies=studies,
        granted_by=grant.subject,
        owner_email=owner_email,
        owner_language=owner_language,
    )
    link = f"{current_app.config['SHARING_PAGE_BASE']}/{new.link_id}"
    if not mails.send_share(new.row, link, recipient.pin):
        _outside().revoke(int(new.row["id"]), None)
        audit.record(grant, "create", "Consent", outcome="failed", patients=[patient])
        raise NotSent("The share could not be sent to the recipient; try again shortly")
    consent_id = f"{ID_PREFIX}{new.row['id']}"
    audit.record(
        grant, "create", "Consent", outcome="allowed", ids=[consent_id], patients=[patient]
    )
    consent = from_outside_share(new.row, status_of(new.row), _extension_base())
    return render(consent, 201, {"Location": f"Consent/{consent_id}"})


def _resolved_outside(patient: int, data: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """``data`` checked to be the patient's own resources: the references with the files of
    the documents and reports among them, and the Study Instance UIDs of the studies."""
    fhir = current_app.extensions["fhir_service"]
    out, studies = set(data), set()
    mine = frozenset({patient})
    try:
        for ref in data:
            rtype, _, rid = ref.partition("/")
            parsed = parse_id(rtype, rid)
            found = [] if parsed is None else fhir.connector.read_many(rtype, [parsed], mine)
            if not found:
                raise Unprocessable(
                    f"Consent.provision.data: {ref[:80]} is not a resource of Patient/{patient}"
                )
            kind, record = found[0]
            resource = map_record(rtype, kind, record, fhir.ctx)
            if rtype == "ImagingStudy":
                uids = [
                    str(i.get("value", ""))[len("urn:oid:") :]
                    for i in resource.get("identifier", [])
                    if i.get("system") == "urn:dicom:uid"
                    and str(i.get("value", "")).startswith("urn:oid:")
                ]
                if not uids:
                    raise Unprocessable(f"Consent.provision.data: {ref[:80]} has no DICOM study")
                studies.update(uids)
            else:
                out.update(files_of(resource))
    except HisUnreachable:
        raise HisUnavailable("The hospital system is not answering; try again shortly") from None
    except InvalidRecord:
        raise Unprocessable("Consent.provision.data names a record that cannot be shared") from None
    return frozenset(out), frozenset(studies)
