"""My studies: the active patient's laboratory, paraclinical and imaging reports and imaging
studies in one list, newest first. Polish patient portals open on it ("Moje badania"); with
``PORTAL_HOME=studies`` it is the portal's home page, otherwise it is reached from the
navigation like any other screen."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import lazy_gettext  # type: ignore[import-untyped]

from portal.screens import Tile
from portal.screens.paraclinical import SECTIONS as PARACLINICAL
from portal.screens.results import binary_pdf, own_report, report_title
from portal.web import active, matches, searches, signed_in

blueprint = Blueprint("studies", __name__)
TILE = Tile(
    "studies.studies",
    lazy_gettext("My studies"),
    lazy_gettext("Your laboratory results, tests and imaging studies together, newest first."),
)
#: at most this many of each kind on the page
LIMIT = "100"


def _kind(report: dict[str, Any]) -> str:
    codes = {
        coding.get("code")
        for category in report.get("category", [])
        for coding in category.get("coding", [])
    }
    if "LAB" in codes:
        return "lab"
    if "RAD" in codes:
        return "imaging-report"
    return "test"


def studies_of(patient: str) -> list[dict[str, Any]]:
    """The patient's reports and imaging studies as rows, newest first (the gateway's two
    searches, made together)."""
    reports, imaging = searches(
        ("DiagnosticReport", {"patient": patient, "_sort": "-date", "_count": LIMIT}),
        ("ImagingStudy", {"patient": patient, "_sort": "-started", "_count": LIMIT}),
    )
    rows = [
        {
            "id": report["id"],
            "kind": _kind(report),
            "date": report.get("effectiveDateTime") or report.get("issued", ""),
            "title": report_title(report),
            "pdf": any(f.get("url") for f in report.get("presentedForm", [])),
        }
        for report in matches(reports, "DiagnosticReport")
    ]
    for study in matches(imaging, "ImagingStudy"):
        modalities = ", ".join(m.get("code", "") for m in study.get("modality", []))
        rows.append(
            {
                "id": study["id"],
                "kind": "study",
                "date": study.get("started", ""),
                "title": " ".join(filter(None, [modalities, study.get("description", "")])),
                "pdf": False,
            }
        )
    rows.sort(key=lambda row: str(row["date"]), reverse=True)
    return rows


def page() -> Any:
    return render_template("studies/studies.html", rows=studies_of(active()))


@blueprint.get("/studies")
@signed_in
def studies() -> Any:
    return page()


#: every section a row of "My studies" may come from: laboratory, radiology, paraclinical
REPORT_SECTIONS = frozenset({"LAB", "RAD"}) | PARACLINICAL


@blueprint.get("/studies/<report_id>.pdf")
@signed_in
def pdf(report_id: str) -> Any:
    """A report's PDF from "My studies", whichever section it is of (the lab, paraclinical and
    imaging screens each serve only their own)."""
    found = own_report(report_id, REPORT_SECTIONS)
    return binary_pdf(found.get("presentedForm", []), report_id)
