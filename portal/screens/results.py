"""Laboratory results (F11): the active patient's reports, newest first, each PDF opened through
the portal."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, session
from flask_babel import lazy_gettext  # type: ignore[import-untyped]

from portal.client import GatewayError
from portal.screens import Tile
from portal.web import active, gateway, matches, read, search, signed_in

blueprint = Blueprint("results", __name__)
TILE = Tile(
    "results.reports",
    lazy_gettext("Laboratory results"),
    lazy_gettext("See your laboratory results and their PDF bulletins."),
)


@blueprint.get("/results")
@signed_in
def reports() -> Any:
    bundle = search(
        "DiagnosticReport",
        {"patient": active(), "category": "LAB", "_sort": "-date", "_count": "50"},
    )
    shown = [
        {
            "id": report["id"],
            "date": report.get("effectiveDateTime") or report.get("issued", ""),
            "title": (report.get("code") or {}).get("text", ""),
            "pdf": any(f.get("url") for f in report.get("presentedForm", [])),
        }
        for report in matches(bundle, "DiagnosticReport")
    ]
    return render_template("results/reports.html", reports=shown)


@blueprint.get("/results/<report_id>.pdf")
@signed_in
def pdf(report_id: str) -> Any:
    report = read(f"DiagnosticReport/{report_id}")
    if report is None:
        abort(404)
    if (report.get("subject") or {}).get("reference") != f"Patient/{active()}":
        abort(404)
    return binary_pdf(report.get("presentedForm", []), report_id)


def binary_pdf(attachments: list[dict[str, Any]], name: str) -> Response:
    """The first attachment of ``attachments`` that is a PDF ``Binary`` of this gateway,
    streamed inline through the portal (never a URL elsewhere)."""
    client = gateway()
    urls = [a["url"] for a in attachments if a.get("url")]
    if not urls:
        abort(404)
    url = urls[0]
    prefix = client.fhir_url + "/"
    path = url[len(prefix) :] if url.startswith(prefix) else url
    if "://" in path or not path.startswith("Binary/"):
        abort(404)
    answer = client.fhir(session, path, accept="application/pdf")
    if answer.status_code in (403, 404):
        abort(404)
    if answer.status_code != 200:
        raise GatewayError(answer.status_code, "Binary read")
    if not answer.headers.get("Content-Type", "").startswith("application/pdf"):
        abort(404)
    return Response(
        answer.content,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
    )
