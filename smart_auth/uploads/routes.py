"""Patients' uploads over the FHIR API (F17): thin adapters from HTTP to ``service``.

* ``POST /fhir/Binary``: the request body is the file (binary.html#rest: the bytes as they
  are, the Content-Type the client's guess, checked against the bytes); the patient is the
  grant's, or the one ``X-Security-Context: Patient/N`` names among the grant's patients.
* ``POST /fhir/DocumentReference``: a DocumentReference whose ``content.attachment.url`` is
  such a Binary, with the type the patient picked and an optional description.
* ``GET /fhir/DocumentReference?category=<system>|patient-supplied``: the uploads of the
  grant's patients (any other search goes to the HIS-backed search);
  ``GET|PUT|DELETE /fhir/DocumentReference/upload-<id>``: read, change the description
  (the author only), delete (the author only; the bytes go too).
* ``GET /fhir/Binary/upload-<id>``: the file, as an attachment that never runs in the
  gateway's origin (``nosniff``, a sandboxing CSP), or FHIR JSON when asked for.
* ``GET /fhir/Patient/<id>/$upload-usage``: bytes used, quota and what is left.

These routes take precedence over the generic ``/fhir/<type>`` routes, whose HIS-backed
reads keep answering for the hospital's own documents (which cannot be deleted: 405).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from access import audit
from access.errors import ApiError, Forbidden
from access.policy import Decision, Grant
from conformance.capability import add_interaction, add_resource
from fhir_gateway.errors import (
    BadRequest,
    Conflict,
    FhirError,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
)
from fhir_gateway.http import FHIR_JSON, not_modified, render, version_headers
from fhir_gateway.routes import search_type
from smart_auth.state import shared_engine

from . import resources
from .service import TYPES, UploadRefused, UploadService, fhir_id, key_of
from .storage import DirectoryStore

log = logging.getLogger(__name__)

uploads = Blueprint("uploads", __name__)

_PATIENT_REF = re.compile(r"Patient/(\d{1,18})")
_ACCOUNT_SUBJECT = re.compile(r"(?:patient|user):(\d{1,18})")
_MAX_DESCRIPTION = 2000
#: What an uploaded file may do once a browser has it: nothing (CSP ``sandbox`` also denies
#: it the gateway's origin), whatever it is.
FILE_CSP = "default-src 'none'; sandbox"


_ANSWERS: dict[str, type[FhirError]] = {
    "too-large": PayloadTooLarge,
    "unsupported-type": UnsupportedMediaType,
    "invalid": Unprocessable,
    "conflict": Conflict,
    "not-found": NotFound,
    "timeout": RequestTimeout,
    "unavailable": Unavailable,
}


def init_app(app: Flask, settings: Any) -> UploadService:
    engine = shared_engine(app.extensions, settings.state_url)
    service = UploadService(
        engine,
        DirectoryStore(settings.uploads_dir),
        app.extensions["his"],
        base_url=settings.base_url,
        max_file_bytes=settings.uploads_max_file_bytes,
        quota_bytes=settings.uploads_quota_bytes,
        lease_s=settings.uploads_lease_s,
        max_seconds=settings.uploads_max_seconds,
        unattached_s=settings.uploads_unattached_s,
    )
    app.extensions["uploads"] = service
    from .mhd import provide_document_bundle

    app.extensions["fhir_transaction"] = provide_document_bundle
    app.config["UPLOADS_BASE"] = settings.identifier_base.rstrip("/")
    app.register_blueprint(uploads, url_prefix="/fhir")
    for capability in capabilities(app.config["UPLOADS_BASE"]):
        add_resource(app.config, capability)
    add_interaction(
        app.config,
        {
            "code": "transaction",
            "documentation": "Only IHE MHD Provide Document Bundle [ITI-65], Minimal Metadata "
            "option: a patient's SubmissionSet List, DocumentReferences and their Binaries, "
            "all stored or none.",
        },
    )
    return service


def _service() -> UploadService:
    return current_app.extensions["uploads"]  # type: ignore[no-any-return]


def _base() -> str:
    return str(current_app.config["UPLOADS_BASE"])


def _decide(resource_type: str, interaction: str) -> tuple[Grant, Decision]:
    policy = current_app.extensions["access_policy"]
    grant: Grant = policy.grant_for(request.headers)
    try:
        decision: Decision = policy.decide(grant, resource_type, interaction)
        if decision.studies is not None:
            raise policy.forbidden(
                f"Access bound to imaging studies does not cover {resource_type}"
            )
        if interaction in ("create", "update", "delete") and decision.filters is not None:
            raise policy.forbidden(f"Filtered access to {resource_type} cannot write")
    except ApiError:
        audit.record(grant, interaction, resource_type, outcome="denied")
        raise
    return grant, decision


def _refused(exc: UploadRefused) -> ApiError:
    if exc.kind == "not-author":
        return current_app.extensions["access_policy"].forbidden(exc.message)  # type: ignore[no-any-return]
    return _ANSWERS[exc.kind](exc.message)


def _target(grant: Grant, decision: Decision) -> int:
    """The patient a new upload is for: the grant's only one, or the one named by
    ``X-Security-Context`` (binary.html) among the grant's patients."""
    named = request.headers.get("X-Security-Context", "").strip()
    if named:
        found = _PATIENT_REF.fullmatch(named)
        if found is None:
            raise BadRequest("X-Security-Context must name a Patient (Patient/<id>)")
        patient = int(found.group(1))
    elif decision.patients is not None and len(decision.patients) == 1:
        patient = next(iter(decision.patients))
    else:
        raise BadRequest("Name the patient the file is for in X-Security-Context (Patient/<id>)")
    if decision.patients is not None and patient not in decision.patients:
        audit.record(grant, "create", "Binary", outcome="denied", patients={patient})
        raise current_app.extensions["access_policy"].forbidden(
            "The access granted does not cover uploads for that patient"
        )
    return patient


def _uploader(grant: Grant) -> str:
    """Who uploads, for the author-only rules: the person's account whichever of their
    tokens (patient or user level) they use; else the grant's subject."""
    found = _ACCOUNT_SUBJECT.fullmatch(grant.subject)
    return f"account:{found.group(1)}" if found else grant.subject


def _author(grant: Grant, patient: int) -> str:
    """The uploader as a FHIR reference: the patient themselves, or the guardian as the
    RelatedPerson of their link to the patient (as ``fhirUser`` names them)."""
    from smart_auth.oauth.consent import fhir_user, identities

    found = _ACCOUNT_SUBJECT.fullmatch(grant.subject)
    if found is None:
        return f"Patient/{patient}"
    his = current_app.extensions["his"]
    mine = identities(_service().engine, his, int(found.group(1)))
    return fhir_user(his, mine, patient) or f"Patient/{patient}"


# --- Binary ----------------------------------------------------------------------------------


@uploads.route("/Binary", methods=["POST"])
def create_binary() -> Response:
    grant, decision = _decide("Binary", "create")
    patient = _target(grant, decision)
    try:
        row = _service().receive(
            patient,
            _uploader(grant),
            request.stream,
            request.content_length,
            request.headers.get("Content-Type"),
        )
    except UploadRefused as exc:
        audit.record(grant, "create", "Binary", outcome="denied", patients={patient})
        raise _refused(exc) from None
    binary_id = fhir_id(row["id"])
    audit.record(grant, "create", "Binary", outcome="allowed", ids=[binary_id], patients={patient})
    resource = resources.binary_meta(row, None)
    headers = {
        "Location": f"{_service().base_url}/Binary/{binary_id}/_history/1",
        **version_headers(resource),
    }
    return render(resource, 201, headers)


def _visible(decision: Decision, resource_type: str, rid: str) -> frozenset[int] | None:
    """The patients whose upload ``rid`` the decision lets be read (None: any); an empty set
    when it may not be read at all."""
    if decision.ids is not None and rid not in decision.ids:
        return frozenset()
    extra = {p for p, ids in decision.instances if rid in ids}
    if decision.filters is not None:
        extra |= _filtered(decision.filters, rid)
        base: frozenset[int] = frozenset()
    else:
        base = decision.patients if decision.patients is not None else frozenset()
        if decision.patients is None:
            return None
    return base | extra


def _filtered(filters: Any, rid: str) -> set[int]:
    """Patients of the filter alternatives an upload can be held to: ``patient`` and ``_id``
    only (any other parameter matches nothing here: never wider)."""
    out: set[int] = set()
    for alternative in filters:
        names = {name for name, _ in alternative}
        if not names <= {"patient", "_id"}:
            continue
        values = dict(alternative)
        if "_id" in values and rid not in values["_id"].split(","):
            continue
        for ref in values.get("patient", "").split(","):
            found = _PATIENT_REF.fullmatch(ref.strip())
            if found is not None:
                out.add(int(found.group(1)))
    return out


@uploads.route("/Binary/upload-<key>", methods=["GET", "HEAD"])
def read_binary(key: str) -> Response:
    grant, decision = _decide("Binary", "read")
    rid = fhir_id(key)
    patients = _visible(decision, "Binary", rid)
    row = _service().binary(key, patients) if key_of(rid) and patients != frozenset() else None
    if row is None:
        audit.record(grant, "read", "Binary", outcome="not-found", ids=[rid[:64]])
        raise NotFound(f"Binary/{rid[:64]} is not known")
    try:
        stream = _service().open(key)
    except FileNotFoundError:
        # a row whose bytes are gone (a store restored from an older copy than the database):
        # the hospital is told in the log, the caller gets what is true, the content is absent
        log.error("upload store: the bytes of an upload are missing (key %s)", key)
        audit.record(
            grant, "read", "Binary", outcome="failed", ids=[rid], patients={row["his_patient_id"]}
        )
        raise NotFound(f"The content of Binary/{rid} is not available") from None
    audit.record(
        grant, "read", "Binary", outcome="allowed", ids=[rid], patients={row["his_patient_id"]}
    )
    resource = resources.binary_meta(row, _service().document_of_binary(key))
    headers = version_headers(resource)
    if not_modified(request, resource):
        stream.close()
        return Response(status=304, headers=headers)
    if _asks_for_fhir():
        return Response(
            resources.binary_json(resource, stream),
            mimetype=FHIR_JSON,
            headers=headers,
            direct_passthrough=True,
        )
    ext = resources.EXTENSIONS.get(row["content_type"], "bin")
    headers.update(
        {
            "Content-Disposition": f'attachment; filename="{rid}.{ext}"',
            "Content-Security-Policy": FILE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "same-origin",
            "Cache-Control": "private, no-store",
            "Content-Length": str(row["size"]),
        }
    )
    return Response(
        _chunks(stream),
        mimetype=row["content_type"],
        headers=headers,
        direct_passthrough=True,
    )


def _chunks(stream: Any) -> Any:
    from .storage import chunks

    return chunks(stream)


def _asks_for_fhir() -> bool:
    fmt = request.args.get("_format")
    if fmt:
        return fmt.split(";", 1)[0].strip() in ("json", "application/json", FHIR_JSON)
    accept = request.headers.get("Accept", "")
    types = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    return FHIR_JSON in types or "application/json" in types


# --- DocumentReference -----------------------------------------------------------------------


def _body(resource_type: str) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise BadRequest(f"The body must be a FHIR {resource_type} in JSON")
    return body


#: Elements a created or updated upload document may carry; anything else is refused (422)
#: rather than accepted and dropped.
_ACCEPTED_ELEMENTS = frozenset(
    {
        "resourceType",
        "id",
        "meta",
        "text",
        "status",
        "docStatus",
        "type",
        "category",
        "subject",
        "author",
        "date",
        "description",
        "content",
        "masterIdentifier",
        "identifier",
    }
)


def _terms(body: dict[str, Any]) -> tuple[str, str | None, str | None, str | None, int | None]:
    """(type code, Binary key, title, description, subject patient) of a document body."""
    unknown = sorted(set(body) - _ACCEPTED_ELEMENTS)
    if unknown:
        raise Unprocessable(f"Not accepted for an uploaded document: {', '.join(unknown)[:200]}")
    if body.get("status", "current") != "current":
        raise Unprocessable("An uploaded document's status is current")
    codings = (body.get("type") or {}).get("coding") or []
    type_code = next(
        (
            c.get("code")
            for c in codings
            if isinstance(c, dict) and c.get("system") == _base() + resources.TYPE_PATH
        ),
        None,
    )
    if type_code not in TYPES:
        raise Unprocessable(
            f"type must carry a coding of {_base() + resources.TYPE_PATH} with one of: "
            + ", ".join(TYPES)
        )
    for cat in body.get("category") or []:
        codes = {(c.get("system"), c.get("code")) for c in cat.get("coding", [])}
        if (_base() + resources.CATEGORY_PATH, resources.PATIENT_SUPPLIED) not in codes:
            raise Unprocessable("An uploaded document's only category is patient-supplied")
    description = body.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > _MAX_DESCRIPTION
    ):
        raise Unprocessable(f"description must be text of at most {_MAX_DESCRIPTION} characters")
    content = body.get("content")
    if not isinstance(content, list) or len(content) != 1:
        raise Unprocessable("content must hold exactly one attachment")
    attachment = content[0].get("attachment") if isinstance(content[0], dict) else None
    url = attachment.get("url") if isinstance(attachment, dict) else None
    key = None
    if isinstance(url, str):
        rid = url.removeprefix(_service().base_url + "/").removeprefix("Binary/")
        key = (
            key_of(rid)
            if url.removeprefix(_service().base_url + "/").startswith("Binary/")
            else None
        )
    title = attachment.get("title") if isinstance(attachment, dict) else None
    if title is not None and not isinstance(title, str):
        raise Unprocessable("content.attachment.title must be text")
    subject = (body.get("subject") or {}).get("reference")
    patient = None
    if subject is not None:
        found = _PATIENT_REF.fullmatch(str(subject).removeprefix(_service().base_url + "/"))
        if found is None:
            raise Unprocessable("subject must be a Patient reference")
        patient = int(found.group(1))
    return str(type_code), key, title, description, patient


@uploads.route("/DocumentReference", methods=["POST"])
def create_document() -> Response:
    grant, decision = _decide("DocumentReference", "create")
    body = _body("DocumentReference")
    if "id" in body:
        body = {k: v for k, v in body.items() if k != "id"}  # http.html#create: ignored
    type_code, key, title, description, patient = _terms(body)
    if patient is None:
        if decision.patients is None or len(decision.patients) != 1:
            raise Unprocessable("subject must name the patient")
        patient = next(iter(decision.patients))
    if decision.patients is not None and patient not in decision.patients:
        audit.record(grant, "create", "DocumentReference", outcome="denied", patients={patient})
        raise current_app.extensions["access_policy"].forbidden(
            "The access granted does not cover documents of that patient"
        )
    if key is None:
        raise Unprocessable(
            "content.attachment.url must be a Binary/upload-... this patient uploaded"
        )
    author = _author(grant, patient)
    given = [a.get("reference") for a in body.get("author") or [] if isinstance(a, dict)]
    if given and given != [author]:
        raise Unprocessable(f"author is the uploader ({author}); it cannot be set otherwise")
    try:
        row = _service().create_document(
            patient, _uploader(grant), author, key, type_code, title, description
        )
    except UploadRefused as exc:
        audit.record(grant, "create", "DocumentReference", outcome="denied", patients={patient})
        raise _refused(exc) from None
    resource = resources.document_reference(row, _base())
    audit.record(
        grant,
        "create",
        "DocumentReference",
        outcome="allowed",
        ids=[resource["id"]],
        patients={patient},
    )
    headers = {
        "Location": f"{_service().base_url}/DocumentReference/{resource['id']}/_history/1",
        **version_headers(resource),
    }
    return render(resource, 201, headers)


@uploads.route("/DocumentReference", methods=["GET", "HEAD"])
def search_documents() -> Response:
    """The uploads when the search asks for the patient-supplied category; the HIS-backed
    search otherwise."""
    wanted = f"{_base()}{resources.CATEGORY_PATH}|{resources.PATIENT_SUPPLIED}"
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k not in ("_format", "_pretty")]
    if ("category", wanted) not in pairs:
        return search_type("DocumentReference")
    grant, decision = _decide("DocumentReference", "search")
    others = [k for k, v in pairs if (k, v) != ("category", wanted) and k != "patient"]
    if others:
        raise BadRequest(f"Uploads are searched by category and patient only, not {others[0][:40]}")
    patients = decision.patients
    if decision.filters is not None:
        patients = frozenset(_filtered(decision.filters, ""))  # no _id alternative: whole only
    for _, value in [p for p in pairs if p[0] == "patient"]:
        found = _PATIENT_REF.fullmatch(
            value.removeprefix(_service().base_url + "/")
        ) or re.fullmatch(r"(\d{1,18})", value)
        named = frozenset({int(found.group(1))}) if found else frozenset()
        patients = named if patients is None else patients & named
    rows = _service().documents(patients)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{_service().base_url}/DocumentReference/{fhir_id(r['id'])}",
            "resource": resources.document_reference(r, _base()),
            "search": {"mode": "match"},
        }
        for r in rows
    ]
    audit.record(
        grant,
        "search",
        "DocumentReference",
        outcome="allowed",
        ids=[e["resource"]["id"] for e in entries],
        patients={r["his_patient_id"] for r in rows},
    )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(rows)}
    if entries:
        bundle["entry"] = entries
    return render(bundle)


def _document_row(grant: Grant, decision: Decision, key: str, interaction: str) -> dict[str, Any]:
    rid = fhir_id(key)
    patients = _visible(decision, "DocumentReference", rid)
    row = _service().document(key, patients) if key_of(rid) and patients != frozenset() else None
    if row is None:
        audit.record(grant, interaction, "DocumentReference", outcome="not-found", ids=[rid[:64]])
        raise NotFound(f"DocumentReference/{rid[:64]} is not known")
    return row


@uploads.route("/DocumentReference/upload-<key>", methods=["GET", "HEAD"])
def read_document(key: str) -> Response:
    grant, decision = _decide("DocumentReference", "read")
    row = _document_row(grant, decision, key, "read")
    resource = resources.document_reference(row, _base())
    audit.record(
        grant,
        "read",
        "DocumentReference",
        outcome="allowed",
        ids=[resource["id"]],
        patients={row["his_patient_id"]},
    )
    headers = version_headers(resource)
    if not_modified(request, resource):
        return Response(status=304, headers=headers)
    return render(resource, headers=headers)


@uploads.route("/DocumentReference/upload-<key>", methods=["PUT"])
def update_document(key: str) -> Response:
    grant, decision = _decide("DocumentReference", "update")
    row = _document_row(grant, decision, key, "update")
    body = _body("DocumentReference")
    if body.get("id") != fhir_id(key):
        raise BadRequest("The body's id must be the id in the address (http.html#update)")
    current = resources.document_reference(row, _base())
    changed = sorted(
        name
        for name in set(body) | set(current)
        if name not in ("meta", "text", "description", "id") and body.get(name) != current.get(name)
    )
    if changed:
        raise Unprocessable(
            f"Only description can change on an uploaded document, not {', '.join(changed)[:200]}"
        )
    description = body.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > _MAX_DESCRIPTION
    ):
        raise Unprocessable(f"description must be text of at most {_MAX_DESCRIPTION} characters")
    version = _if_match()
    try:
        updated = _service().describe(
            key, frozenset({row["his_patient_id"]}), _uploader(grant), description, version
        )
    except UploadRefused as exc:
        audit.record(grant, "update", "DocumentReference", outcome="denied", ids=[fhir_id(key)])
        raise _refused(exc) from None
    resource = resources.document_reference(updated, _base())
    audit.record(
        grant,
        "update",
        "DocumentReference",
        outcome="allowed",
        ids=[resource["id"]],
        patients={row["his_patient_id"]},
    )
    return render(resource, 200, version_headers(resource))


def _if_match() -> int | None:
    """http.html#concurrency: ``If-Match: W/"<version>"``."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    found = re.fullmatch(r'\s*(?:W/)?"(\d{1,9})"\s*', raw)
    if found is None:
        raise BadRequest('If-Match must be W/"<versionId>"')
    return int(found.group(1))


@uploads.route("/DocumentReference/upload-<key>", methods=["DELETE"])
def delete_document(key: str) -> Response:
    grant, decision = _decide("DocumentReference", "delete")
    row = _document_row(grant, decision, key, "delete")
    try:
        _service().delete(key, frozenset({row["his_patient_id"]}), _uploader(grant))
    except UploadRefused as exc:
        audit.record(grant, "delete", "DocumentReference", outcome="denied", ids=[fhir_id(key)])
        raise _refused(exc) from None
    audit.record(
        grant,
        "delete",
        "DocumentReference",
        outcome="allowed",
        ids=[fhir_id(key)],
        patients={row["his_patient_id"]},
    )
    return Response(status=204)


# --- usage -----------------------------------------------------------------------------------


@uploads.route("/Patient/<patient_id>/$upload-usage", methods=["GET", "HEAD"])
def usage(patient_id: str) -> Response:
    """What the patient's uploads take of their quota (a portal shows ``display``)."""
    grant, decision = _decide("DocumentReference", "search")
    if not patient_id.isdigit() or len(patient_id) > 18:
        raise NotFound("Patient is not known")
    patient = int(patient_id)
    visible = (
        decision.patients
        if decision.filters is None
        else frozenset(_filtered(decision.filters, ""))
    )
    if visible is not None and patient not in visible:
        audit.record(
            grant, "search", "DocumentReference", outcome="not-found", ids=[f"Patient/{patient}"]
        )
        raise NotFound(f"Patient/{patient} is not known")
    audit.record(grant, "search", "DocumentReference", outcome="allowed", patients={patient})
    return render(resources.usage_parameters(patient, _service().usage(patient)))


# --- the CapabilityStatement -----------------------------------------------------------------


def capabilities(base: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "Binary",
            "profile": "http://hl7.org/fhir/StructureDefinition/Binary",
            "documentation": "Hospital files are read; a patient uploads a file (F17) by "
            "POSTing its bytes (X-Security-Context: Patient/<id> when the access covers "
            "several patients). The type is decided from the bytes: PDF, DOC, DOCX, Apple "
            "Pages, JPEG, PNG, GIF, HEIC, DICOM, NIfTI (.nii, .nii.gz), MP4, AVI, MOV; "
            "anything else, or a Content-Type the bytes contradict, is 415. Per-file and "
            "per-patient limits are 413. Uploaded files are served as attachments.",
            "interaction": [{"code": "read"}, {"code": "create"}],
        },
        {
            "type": "DocumentReference",
            "profile": "http://hl7.org/fhir/StructureDefinition/DocumentReference",
            "documentation": "Uploaded documents carry the category "
            f"{base}{resources.CATEGORY_PATH}|{resources.PATIENT_SUPPLIED} and a type of "
            f"{base}{resources.TYPE_PATH} ({', '.join(TYPES)}); search them with that "
            "category. Their description can be updated and they can be deleted by their "
            "author; the hospital's documents cannot. Upload usage: "
            "GET Patient/<id>/$upload-usage.",
            "interaction": [
                {"code": "read"},
                {"code": "search-type"},
                {"code": "create"},
                {"code": "update"},
                {"code": "delete"},
            ],
            "updateCreate": False,
        },
    ]


__all__ = ["Forbidden", "init_app", "uploads"]
