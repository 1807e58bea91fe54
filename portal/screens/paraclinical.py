"""Paraclinical results (F12): the active patient's functional tests (ECG, EEG, spirometry,
audiometry, ...) listed as the laboratory results are, newest first, each PDF opened or
downloaded through the portal and shared."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_babel import lazy_gettext  # type: ignore[import-untyped]

from portal.screens import Tile
from portal.screens.results import binary_pdf, dated_reports, own_report
from portal.web import signed_in

blueprint = Blueprint("paraclinical", __name__)
TILE = Tile(
    "paraclinical.reports",
    lazy_gettext("Paraclinical results"),
    lazy_gettext("See your ECG, EEG, spirometry and other test reports and their PDF files."),
)
#: the v2-0074 diagnostic service sections the gateway gives paraclinical tests
#: (electrocardiac, electroneuro, pulmonary function, audiology, cardiac ultrasound)
SECTIONS = frozenset({"EC", "EN", "PF", "AU", "CUS"})


@blueprint.get("/paraclinical")
@signed_in
def reports() -> Any:
    return dated_reports("paraclinical/reports.html", ",".join(sorted(SECTIONS)))


@blueprint.get("/paraclinical/<report_id>.pdf")
@signed_in
def pdf(report_id: str) -> Any:
    found = own_report(report_id, SECTIONS)
    return binary_pdf(found.get("presentedForm", []), report_id)


@blueprint.get("/paraclinical/<report_id>/download.pdf")
@signed_in
def download(report_id: str) -> Any:
    found = own_report(report_id, SECTIONS)
    return binary_pdf(found.get("presentedForm", []), report_id, attachment=True)
