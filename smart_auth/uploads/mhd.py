"""IHE MHD "Provide Document Bundle" [ITI-65], Minimal Metadata option: several documents in
one FHIR transaction (``POST [base]`` with a Bundle of type ``transaction``).

The Bundle holds one SubmissionSet (a ``List`` whose ``code`` is ``submissionset``, listing
the DocumentReferences), the DocumentReferences, and the Binaries they point at by ``fullUrl``
(``urn:uuid:...``) with the file in ``data``. All or nothing, as ITI-65 requires of a Document
Recipient: each file is checked and stored as an upload is (its type from its bytes, the
per-file limit, the quota), the documents are then written in one transaction; if anything is
refused, what was stored is removed again and the answer is the refusal. A crash before the
documents are written leaves files no document points at, which ``service.sweep`` removes.

The SubmissionSet is checked (same patient, it lists exactly the bundle's documents) but not
kept: the gateway serves no List. ``masterIdentifier`` and ``identifier`` are accepted and not
kept. The body is parsed in memory (JSON and base64), so a transaction may carry at most
about one largest file's worth: 4/3 of UPLOADS_MAX_FILE_BYTES plus 1 MB of JSON.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from flask import Response, current_app, request

from access import audit
from fhir_gateway.errors import BadRequest

from . import routes
from .service import UploadRefused, fhir_id

#: MHD's code of a SubmissionSet List (https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes)
SUBMISSION_SET = ("https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "submissionset")
#: Overhead allowed besides the base64 of one largest file.
_JSON_OVERHEAD = 1_000_000


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise BadRequest("POST [base] takes a transaction Bundle (IHE MHD ITI-65)")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise routes.Unprocessable("The transaction holds no entries")
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        method = (entry.get("request") or {}).get("method") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or method != "POST":
            raise routes.Unprocessable("Every entry creates a resource (request.method POST)")
        kind = resource.get("resourceType")
        if kind not in ("List", "DocumentReference", "Binary"):
            raise routes.Unprocessable(
                "An ITI-65 transaction holds a List, DocumentReferences and Binaries, "
                f"not {kind!s:.40}"
            )
        if not isinstance(entry.get("fullUrl"), str):
            raise routes.Unprocessable("Every entry needs its fullUrl")
    return entries


def _is_submission_set(resource: dict[str, Any]) -> bool:
    codings = (resource.get("code") or {}).get("coding") or []
    return any((c.get("system"), c.get("code")) == SUBMISSION_SET for c in codings)


def provide_document_bundle() -> Response:
    grant, binary_decision = routes._decide("Binary", "create")
    _, decision = routes._decide("DocumentReference", "create")
    service = routes._service()
    limit = service.max_file_bytes * 4 // 3 + _JSON_OVERHEAD
    if request.content_length is None or request.content_length > limit:
        raise routes.PayloadTooLarge(
            f"An ITI-65 transaction may carry at most {limit} bytes (one largest file); "
            "send larger files one by one (POST Binary)"
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("The body must be a FHIR Bundle in JSON")
    entries = _entries(body)
    lists = [e for e in entries if e["resource"]["resourceType"] == "List"]
    docs = [e for e in entries if e["resource"]["resourceType"] == "DocumentReference"]
    binaries = {e["fullUrl"]: e for e in entries if e["resource"]["resourceType"] == "Binary"}
    if len(lists) != 1 or not _is_submission_set(lists[0]["resource"]):
        raise routes.Unprocessable("An ITI-65 transaction holds exactly one SubmissionSet List")
    if not docs:
        raise routes.Unprocessable("The transaction holds no DocumentReference")
    submission = lists[0]["resource"]
    listed = {(item.get("item") or {}).get("reference") for item in submission.get("entry") or []}
    if listed != {e["fullUrl"] for e in docs}:
        raise routes.Unprocessable("The SubmissionSet must list exactly the bundle's documents")
    # the patient: the SubmissionSet's subject, the same on every document
    subject = (submission.get("subject") or {}).get("reference", "")
    found = routes._PATIENT_REF.fullmatch(subject.removeprefix(service.base_url + "/"))
    if found is None:
        raise routes.Unprocessable("The SubmissionSet's subject must be the Patient")
    patient = int(found.group(1))
    for patients in (binary_decision.patients, decision.patients):
        if patients is not None and patient not in patients:
            audit.record(grant, "create", "DocumentReference", outcome="denied", patients={patient})
            raise current_app.extensions["access_policy"].forbidden(
                "The access granted does not cover documents of that patient"
            )
    plans = []
    used: set[str] = set()
    for entry in docs:
        resource = {k: v for k, v in entry["resource"].items() if k != "id"}
        attachment = ((resource.get("content") or [{}])[0] or {}).get("attachment") or {}
        url = str(attachment.get("url"))
        if url not in binaries or url in used:
            raise routes.Unprocessable(
                "Each DocumentReference's content.attachment.url names a Binary of the bundle "
                "(its fullUrl), each Binary one document"
            )
        used.add(url)
        # the document's other terms as a single upload's (the url is replaced afterwards)
        checked = dict(resource)
        checked["content"] = [{"attachment": {**attachment, "url": "Binary/" + fhir_id("0" * 32)}}]
        type_code, _, title, description, doc_patient = routes._terms(checked)
        if doc_patient is not None and doc_patient != patient:
            raise routes.Unprocessable("Every document's subject is the SubmissionSet's")
        plans.append((entry, url, type_code, title, description))
    if set(binaries) != used:
        raise routes.Unprocessable("Every Binary of the bundle is the content of a document")
    author = routes._author(grant, patient)
    uploader = routes._uploader(grant)
    stored: dict[str, dict[str, Any]] = {}
    try:
        for url, entry in binaries.items():
            binary = entry["resource"]
            try:
                data = base64.b64decode(binary.get("data") or "", validate=True)
            except (binascii.Error, ValueError):
                raise routes.Unprocessable("A Binary's data is not base64") from None
            stored[url] = service.receive(
                patient, uploader, io.BytesIO(data), len(data), binary.get("contentType")
            )
        rows = service.create_documents(
            patient,
            uploader,
            author,
            [(stored[url]["id"], code, title, text) for _, url, code, title, text in plans],
        )
    except UploadRefused as exc:
        for row in stored.values():
            service.discard(row["id"])
        audit.record(grant, "create", "DocumentReference", outcome="denied", patients={patient})
        raise routes._refused(exc) from None
    except BaseException:
        for row in stored.values():
            service.discard(row["id"])
        raise
    base = service.base_url
    created = {plan[0]["fullUrl"]: row for plan, row in zip(plans, rows, strict=True)}
    answer = []
    for entry in entries:
        kind = entry["resource"]["resourceType"]
        if kind == "Binary":
            rid = fhir_id(stored[entry["fullUrl"]]["id"])
            response = {"status": "201 Created", "location": f"{base}/Binary/{rid}/_history/1"}
        elif kind == "DocumentReference":
            rid = fhir_id(created[entry["fullUrl"]]["id"])
            response = {
                "status": "201 Created",
                "location": f"{base}/DocumentReference/{rid}/_history/1",
            }
        else:
            response = {"status": "200 OK"}
        answer.append({"response": response})
    audit.record(
        grant,
        "create",
        "DocumentReference",
        outcome="allowed",
        ids=[fhir_id(r["id"]) for r in rows],
        patients={patient},
    )
    bundle = {"resourceType": "Bundle", "type": "transaction-response", "entry": answer}
    return routes.render(bundle, 200)
