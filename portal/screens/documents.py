"""All documents (F13): the documents the hospital issued for the active patient (discharge
letters, laboratory and imaging reports, prescriptions, certificates...), newest first, with
their total count, period and kind filters and paging; each file opened through the portal.
The patient's own uploads are counted here and listed on their own screen."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, session
from flask_babel import lazy_gettext  # type: ignore[import-untyped]

from portal.client import GatewayError
from portal.screens import Tile
from portal.screens import period as periods
from portal.screens.record import cursor_of, document_title, paged_search
from portal.web import active, gateway, matches, read, signed_in

blueprint = Blueprint("documents", __name__)
TILE = Tile(
    "documents.listing",
    lazy_gettext("All documents"),
    lazy_gettext(
        "See every document the hospital issued for you: letters, reports, prescriptions."
    ),
)
PAGE_SIZE = 20
#: bytes of a file handed on at a time
CHUNK = 256 * 1024
#: the hospital's kinds of document (the HIS document kinds the gateway codes them with)
KINDS = {
    "DISCHARGE": lazy_gettext("Discharge letter"),
    "LAB_REPORT": lazy_gettext("Laboratory report"),
    "PARACLINICAL": lazy_gettext("Functional test report"),
    "IMAGING_REPORT": lazy_gettext("Imaging report"),
    "PRESCRIPTION": lazy_gettext("Prescription"),
    "CERTIFICATE": lazy_gettext("Medical certificate"),
    "REFERRAL": lazy_gettext("Referral"),
    "OTHER": lazy_gettext("Other document"),
}


def kind_of(document: dict[str, Any]) -> str:
    for concept in [*(document.get("category") or []), document.get("type") or {}]:
        for coding in concept.get("coding") or []:
            if coding.get("code") in KINDS:
                return str(KINDS[coding["code"]])
    return str((document.get("type") or {}).get("text", ""))


def attachment_of(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = ((document.get("content") or [{}])[0]).get("attachment") or {}
    return found


@blueprint.get("/documents")
@signed_in
def listing() -> Any:
    from portal.screens.uploads import supplied_category

    period = periods.chosen(request.args)
    wanted_kind = request.args.get("kind", "")
    params: dict[str, Any] = {
        "patient": active(),
        "_sort": "-date",
        "_count": str(PAGE_SIZE),
        "_total": "accurate",
    }
    if period.params():
        params["date"] = period.params()
    if wanted_kind in KINDS:
        params["category"] = wanted_kind
    else:
        wanted_kind = ""
    bundle = paged_search("DocumentReference", params, request.args.get("cursor", ""))
    rows = []
    for document in matches(bundle, "DocumentReference"):
        encounter = ((document.get("context") or {}).get("encounter") or [{}])[0]
        rows.append(
            {
                "id": document["id"],
                "kind": kind_of(document),
                "number": (document.get("identifier") or [{}])[0].get("value", ""),
                "title": document_title(document),
                "date": document.get("date", ""),
                "file": bool(attachment_of(document).get("url")),
                "type": attachment_of(document).get("contentType", ""),
                "encounter": encounter.get("reference", "").removeprefix("Encounter/"),
            }
        )
    uploads = read_uploads_count(supplied_category())
    filters = {**period.query(), **({"kind": wanted_kind} if wanted_kind else {})}
    return render_template(
        "documents/listing.html",
        rows=rows,
        total=bundle.get("total", len(rows)),
        period=period,
        quick=periods.labels(),
        since=period.start.isoformat() if period.start else "",
        until=period.end.isoformat() if period.end else periods.today().isoformat(),
        kinds=KINDS,
        wanted_kind=wanted_kind,
        filters=filters,
        first_page=bool(request.args.get("cursor")),
        next_cursor=cursor_of(bundle),
        uploads=uploads,
    ), (400 if period.errors else 200)


def read_uploads_count(category: str) -> int:
    answer = gateway().fhir(
        session, "DocumentReference", {"category": category, "patient": active()}
    )
    if answer.status_code != 200:
        raise GatewayError(answer.status_code, "uploads search")
    return len(matches(answer.json(), "DocumentReference"))


@blueprint.get("/documents/<document_id>/file")
@signed_in
def file(document_id: str) -> Response:
    """The document's file, fetched from this gateway's Binary as the session and handed on:
    a PDF shown in the browser, anything else downloaded (never run in the portal's origin)."""
    if len(document_id) > 64:
        abort(404)
    document = read(f"DocumentReference/{document_id}")
    if document is None:
        abort(404)
    if (document.get("subject") or {}).get("reference") != f"Patient/{active()}":
        abort(404)
    attachment = attachment_of(document)
    client = gateway()
    url = str(attachment.get("url") or "")
    prefix = client.fhir_url + "/"
    path = url[len(prefix) :] if url.startswith(prefix) else url
    if "://" in path or not path.startswith("Binary/") or "?" in path or ".." in path:
        abort(404)
    declared = str(attachment.get("contentType") or "application/octet-stream")
    answer = client.fhir(session, path, accept=declared, stream=True)
    if answer.status_code != 200:
        answer.close()
        if answer.status_code in (403, 404, 410):
            abort(404)
        raise GatewayError(answer.status_code, "Binary read")
    mimetype = answer.headers.get("Content-Type", declared).split(";", 1)[0].strip()
    extension = (mimetypes.guess_extension(mimetype) or ".bin").lstrip(".")
    name = f"{document_id}.{extension}"
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    if mimetype != "application/pdf":
        # anything but a PDF is downloaded, and may do nothing in the portal's origin
        headers = {
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
    if answer.headers.get("Content-Length", "").isdigit() and not answer.headers.get(
        "Content-Encoding"
    ):
        headers["Content-Length"] = answer.headers["Content-Length"]

    def chunks() -> Iterator[bytes]:
        # the file passes through a piece at a time: a large upload never sits in memory
        try:
            yield from answer.iter_content(CHUNK)
        finally:
            answer.close()

    return Response(chunks(), mimetype=mimetype, headers=headers, direct_passthrough=True)
