"""My uploads (F17): the documents the patient brings from elsewhere. The portal hands each file
to the gateway's upload API (a ``Binary`` of the bytes, then the ``DocumentReference`` that
describes it), shows the usage of the quota as the gateway counts it, lets the uploader change
a description and delete a document (after a confirmation page).

Without JavaScript the page is a plain multipart form (files, or a whole folder). With the
page's own script (``uploads.js``, served here; the page's policy allows only that script),
files and folders can be dropped on the page and each file is sent on its own with a progress
bar. A file the gateway refuses (its type, its size, the quota) is named with the gateway's
reason."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import get_locale, lazy_gettext  # type: ignore[import-untyped]
from flask_babel import gettext as _  # type: ignore[import-untyped]
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from portal.client import GatewayError
from portal.screens import Tile
from portal.web import active, gateway, matches, read, search, send, signed_in

blueprint = Blueprint("uploads", __name__)
TILE = Tile(
    "uploads.mine",
    lazy_gettext("My uploads"),
    lazy_gettext("Upload documents from other clinics and laboratories, and manage them."),
)
STATIC = Path(__file__).resolve().parent.parent / "static"
#: the kinds of document a patient picks (the gateway's patient-document-type codes)
TYPES = {
    "external-lab-result": lazy_gettext("Lab result from another laboratory"),
    "other-clinic-letter": lazy_gettext("Letter from another clinic"),
    "image": lazy_gettext("Image"),
    "other": lazy_gettext("Other document"),
}
MAX_DESCRIPTION = 2000
#: the upload page's policy: the portal's, with its own script and its own XHR
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_BASE = re.compile(r"(\S+?)/CodeSystem/document-source\|patient-supplied")


def _identifier_base() -> str:
    """The gateway's base of its own code systems, as its CapabilityStatement documents the
    uploaded documents' category (read once per portal process)."""
    cached = current_app.extensions.get("portal_upload_base")
    if cached:
        return str(cached)
    answer = gateway().fhir(session, "metadata")
    if answer.status_code != 200:
        raise GatewayError(answer.status_code, "metadata")
    for rest in answer.json().get("rest", []):
        for resource in rest.get("resource", []):
            if resource.get("type") == "DocumentReference":
                found = _BASE.search(resource.get("documentation", ""))
                if found:
                    current_app.extensions["portal_upload_base"] = found.group(1)
                    return found.group(1)
    raise GatewayError(501, "the gateway documents no upload category")


def supplied_category() -> str:
    return f"{_identifier_base()}/CodeSystem/document-source|patient-supplied"


def megabytes(size: int, rounding: str = ROUND_HALF_EVEN) -> str:
    """Bytes as the gateway writes them (1 MB = 10^6 bytes, at most two decimals), as the page's
    language writes numbers (1,29 MB in Romanian and Polish). ``rounding`` lets the quota line
    round what is used up and what is left down, so neither a small file's use nor room that is
    not there reads as it would not."""
    value = (Decimal(size) / 1_000_000).quantize(Decimal("0.01"), rounding=rounding)
    return f"{format_decimal(value, format='#,##0.##', locale=str(get_locale()))} MB"


def file_size(size: int) -> str:
    """A file's size: in MB as the quota line writes it, in kB below 1 MB (never "0 MB")."""
    if size >= 1_000_000:
        return megabytes(size)
    return f"{max(1, round(size / 1000))} kB"


def usage() -> dict[str, int]:
    answer = gateway().fhir(session, f"Patient/{active()}/$upload-usage")
    if answer.status_code != 200:
        raise GatewayError(answer.status_code, "upload usage")
    found = {}
    for parameter in answer.json().get("parameter", []):
        if "valueInteger" in parameter:
            found[parameter["name"]] = int(parameter["valueInteger"])
    return found


def quota_line(figures: dict[str, int]) -> str:
    return _(
        "%(used)s / %(quota)s (%(left)s left)",
        used=megabytes(figures.get("used", 0), ROUND_CEILING),
        quota=megabytes(figures.get("quota", 0)),
        left=megabytes(figures.get("left", 0), ROUND_FLOOR),
    )


def type_of(document: dict[str, Any]) -> str:
    for coding in (document.get("type") or {}).get("coding") or []:
        if coding.get("code") in TYPES:
            return str(TYPES[coding["code"]])
    return ""


def _mine(document_id: str) -> dict[str, Any]:
    """The active patient's upload ``document_id`` (404 for anything else)."""
    if not re.fullmatch(r"upload-[0-9a-f]{32}", document_id):
        abort(404)
    document = read(f"DocumentReference/{document_id}")
    if document is None:
        abort(404)
    if (document.get("subject") or {}).get("reference") != f"Patient/{active()}":
        abort(404)
    return document


def _reason(answer: Any) -> str:
    """The gateway's own words for a refusal (its OperationOutcome's diagnostics)."""
    try:
        issues = answer.json().get("issue", [])
    except ValueError:
        return ""
    return "; ".join(str(i.get("diagnostics", "")) for i in issues if i.get("diagnostics"))[:500]


def _refusal(status: int) -> str:
    if status == 413:
        return _("The file is too large, or your upload space is full.")
    if status == 415:
        return _("This kind of file cannot be uploaded.")
    if status == 408:
        return _("The file took too long to arrive.")
    if status == 403:
        return _("You may not change this document.")
    return _("The file could not be stored.")


def _store(upload: FileStorage, kind: str, description: str) -> dict[str, Any]:
    """One file to the gateway: its Binary, then its DocumentReference. The outcome."""
    name = Path((upload.filename or "").replace("\\", "/")).name[:200] or "file"
    title = (upload.filename or name).replace("\\", "/")[:200]
    stored = send(
        "POST",
        "Binary",
        data=upload.stream,
        # the gateway decides the type from the bytes; the browser's guess is not sent
        content_type="application/octet-stream",
        headers={"X-Security-Context": f"Patient/{active()}"},
    )
    if stored.status_code != 201:
        return {
            "name": name,
            "ok": False,
            "lead": _refusal(stored.status_code),
            "reason": _reason(stored),
        }
    binary = stored.json()["id"]
    base = _identifier_base()
    document: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": f"{base}/CodeSystem/patient-document-type", "code": kind}]},
        "category": [
            {
                "coding": [
                    {"system": f"{base}/CodeSystem/document-source", "code": "patient-supplied"}
                ]
            }
        ],
        "subject": {"reference": f"Patient/{active()}"},
        "content": [{"attachment": {"url": f"Binary/{binary}", "title": title}}],
    }
    if description:
        document["description"] = description
    described = send("POST", "DocumentReference", json=document)
    if described.status_code != 201:
        return {
            "name": name,
            "ok": False,
            "lead": _refusal(described.status_code),
            "reason": _reason(described),
        }
    return {"name": name, "ok": True, "id": described.json()["id"]}


@blueprint.url_value_preprocessor
def _limit(endpoint: str | None, values: Any) -> None:
    """An upload's body may be as large as the patient's whole quota (a folder at once): the
    limit is raised for that request only, before the form (and its CSRF token) is read."""
    if endpoint == "uploads.upload" and request.method == "POST" and session.get("tokens"):
        request.max_content_length = usage().get("quota", 0) + 1_000_000


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(exc: Any) -> Any:
    message = _("The files are larger than your upload space.")
    if _wants_json():
        return jsonify({"results": [{"name": "", "ok": False, "lead": message, "reason": ""}]}), 413
    session["upload_outcome"] = [{"name": "", "ok": False, "lead": message, "reason": ""}]
    return redirect(url_for("uploads.mine"), 303)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@blueprint.get("/uploads")
@signed_in
def mine() -> Any:
    bundle = search("DocumentReference", {"category": supplied_category(), "patient": active()})
    figures = usage()
    rows = []
    for document in matches(bundle, "DocumentReference"):
        attachment = ((document.get("content") or [{}])[0]).get("attachment") or {}
        rows.append(
            {
                "id": document["id"],
                "title": attachment.get("title") or document["id"],
                "type": type_of(document),
                "date": document.get("date", ""),
                "size": file_size(int(attachment.get("size", 0))),
                "description": document.get("description", ""),
            }
        )
    rows.sort(key=lambda r: r["date"], reverse=True)
    page = render_template(
        "uploads/mine.html",
        rows=rows,
        quota=quota_line(figures),
        max_file=megabytes(figures.get("maxFileSize", 0)),
        types=TYPES,
        outcome=session.pop("upload_outcome", None),
    )
    return Response(page, headers={"Content-Security-Policy": PAGE_CSP})


@blueprint.get("/uploads.js")
def script() -> Response:
    return send_file(STATIC / "uploads.js", mimetype="text/javascript", max_age=300)


@blueprint.post("/uploads")
@signed_in
def upload() -> Any:
    kind = request.form.get("type", "other")
    if kind not in TYPES:
        kind = "other"
    description = request.form.get("description", "").strip()[:MAX_DESCRIPTION]
    files = [
        f for f in [*request.files.getlist("files"), *request.files.getlist("folder")] if f.filename
    ]
    if not files:
        outcome = [{"name": "", "ok": False, "lead": _("Choose at least one file."), "reason": ""}]
    else:
        outcome = [_store(f, kind, description) for f in files]
    # the list page shows every outcome once (the script sends a file at a time, then opens it)
    session["upload_outcome"] = [*session.get("upload_outcome", []), *outcome][-200:]
    if _wants_json():
        status = 200 if all(o["ok"] for o in outcome) else 422
        return jsonify({"results": outcome}), status
    return redirect(url_for("uploads.mine"), 303)


@blueprint.route("/uploads/<document_id>/describe", methods=["GET", "POST"])
@signed_in
def describe(document_id: str) -> Any:
    document = _mine(document_id)
    attachment = ((document.get("content") or [{}])[0]).get("attachment") or {}
    error = ""
    text = document.get("description", "")
    if request.method == "POST":
        text = request.form.get("description", "").strip()
        if len(text) > MAX_DESCRIPTION:
            error = _("The description may have at most %(num)d characters.", num=MAX_DESCRIPTION)
        else:
            changed = {k: v for k, v in document.items() if k not in ("meta", "description")}
            if text:
                changed["description"] = text
            version = (document.get("meta") or {}).get("versionId", "")
            answer = send(
                "PUT",
                f"DocumentReference/{document_id}",
                json=changed,
                headers={"If-Match": f'W/"{version}"'} if version else None,
            )
            if answer.status_code == 200:
                session["upload_outcome"] = [
                    {"name": attachment.get("title", ""), "ok": True, "described": True}
                ]
                return redirect(url_for("uploads.mine"), 303)
            if answer.status_code == 412 or answer.status_code == 409:
                error = _("The document changed meanwhile. Please try again.")
            else:
                error = f"{_refusal(answer.status_code)} {_reason(answer)}".strip()
    return render_template(
        "uploads/describe.html",
        document=document,
        title=attachment.get("title") or document_id,
        text=text,
        error=error,
        limit=MAX_DESCRIPTION,
    ), (400 if error else 200)


@blueprint.route("/uploads/<document_id>/delete", methods=["GET", "POST"])
@signed_in
def delete(document_id: str) -> Any:
    document = _mine(document_id)
    attachment = ((document.get("content") or [{}])[0]).get("attachment") or {}
    title = attachment.get("title") or document_id
    error = ""
    if request.method == "POST":
        answer = send("DELETE", f"DocumentReference/{document_id}")
        if answer.status_code in (200, 204):
            session["upload_outcome"] = [{"name": title, "ok": True, "deleted": True}]
            return redirect(url_for("uploads.mine"), 303)
        error = f"{_refusal(answer.status_code)} {_reason(answer)}".strip()
    return render_template("uploads/delete.html", document=document, title=title, error=error), (
        400 if error else 200
    )
