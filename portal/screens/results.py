"""Laboratory results (F11): the active patient's reports, newest first, each PDF opened or
downloaded through the portal and shared; a report's analytes, and for each analyte its trend
over the years (a chart drawn on the server, beside the same values as a table)."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, session
from flask_babel import lazy_gettext  # type: ignore[import-untyped]

from portal.client import GatewayError
from portal.screens import Tile
from portal.screens import period as periods
from portal.web import active, gateway, included, matches, read, search, signed_in

blueprint = Blueprint("results", __name__)
TILE = Tile(
    "results.reports",
    lazy_gettext("Laboratory results"),
    lazy_gettext("See your laboratory results and their PDF bulletins."),
)
#: the most values one analyte's trend shows (years of a patient's results fit well below it)
TREND_MAX = 200


#: a report's kind by a code of its ``code`` (LOINC for laboratory and imaging reports, the
#: hospital's own kinds of paraclinical test), named in the page's language: the ``text`` the
#: gateway writes beside them is English
REPORT_KINDS = {
    "11502-2": lazy_gettext("Laboratory report"),
    "18748-4": lazy_gettext("Imaging report"),
    "ECG": lazy_gettext("Electrocardiogram"),
    "HOLTER": lazy_gettext("Holter monitoring"),
    "EEG": lazy_gettext("Electroencephalogram"),
    "EMG": lazy_gettext("Electromyography"),
    "SPIRO": lazy_gettext("Spirometry"),
    "AUDIO": lazy_gettext("Audiometry"),
    "ECHO": lazy_gettext("Echocardiography"),
}


def report_title(report: dict[str, Any]) -> str:
    """A report's title: its kind in the page's language, or the text the hospital gave."""
    concept = report.get("code") or {}
    for coding in concept.get("coding") or []:
        if coding.get("code") in REPORT_KINDS:
            return str(REPORT_KINDS[coding["code"]])
    return str(concept.get("text", ""))


def report_rows(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """What a list of reports shows of each: id, date, title, conclusion, whether it has a file."""
    return [
        {
            "id": report["id"],
            "date": report.get("effectiveDateTime") or report.get("issued", ""),
            "title": report_title(report),
            "conclusion": report.get("conclusion", ""),
            "pdf": any(f.get("url") for f in report.get("presentedForm", [])),
        }
        for report in matches(bundle, "DiagnosticReport")
    ]


def dated_reports(template: str, category: str) -> Any:
    """The active patient's reports of ``category`` in the period the URL chooses (the quick
    periods and the advanced dates of the record screen), newest first; 400 with the
    period's errors when a date is no date."""
    period = periods.chosen(request.args)
    params: dict[str, Any] = {
        "patient": active(),
        "category": category,
        "_sort": "-date",
        "_count": "50",
    }
    if period.params():
        params["date"] = period.params()
    bundle = search("DiagnosticReport", params)
    return render_template(
        template,
        reports=report_rows(bundle),
        period=period,
        quick=periods.labels(),
        since=period.start.isoformat() if period.start else "",
        until=period.end.isoformat() if period.end else periods.today().isoformat(),
    ), (400 if period.errors else 200)


@blueprint.get("/results")
@signed_in
def reports() -> Any:
    return dated_reports("results/reports.html", "LAB")


def own_report(report_id: str, sections: frozenset[str]) -> dict[str, Any]:
    """The DiagnosticReport ``report_id`` when it is the active patient's and of one of the
    v2-0074 ``sections``; otherwise 404, exactly as if it did not exist."""
    if not FHIR_ID.fullmatch(report_id):
        abort(404)
    report = read(f"DiagnosticReport/{report_id}")
    if report is None:
        abort(404)
    if (report.get("subject") or {}).get("reference") != f"Patient/{active()}":
        abort(404)
    codes = {c.get("code") for cat in report.get("category", []) for c in cat.get("coding", [])}
    if not codes & sections:
        abort(404)
    return report


LAB = frozenset({"LAB"})
#: a FHIR id (R4 datatypes: id); anything else from a URL is not looked up at all
FHIR_ID = re.compile(r"[A-Za-z0-9.-]{1,64}")


@blueprint.get("/results/<report_id>")
@signed_in
def report(report_id: str) -> Any:
    if not FHIR_ID.fullmatch(report_id):
        abort(404)
    bundle = search(
        "DiagnosticReport",
        {
            "_id": report_id,
            "patient": active(),
            "category": "LAB",
            "_include": "DiagnosticReport:result",
        },
    )
    found = [r for r in matches(bundle, "DiagnosticReport") if own(r)]
    if not found:
        abort(404)
    by_ref = included(bundle)
    analytes = []
    for ref in found[0].get("result", []):
        observation = by_ref.get(ref.get("reference", ""))
        if observation is not None and own(observation):
            analytes.append(analyte_row(observation))
    shown = report_rows({"entry": [{"resource": found[0]}]})[0]
    return render_template("results/report.html", report=shown, analytes=analytes)


def own(resource: dict[str, Any]) -> bool:
    return (resource.get("subject") or {}).get("reference") == f"Patient/{active()}"


def analyte_code(observation: dict[str, Any]) -> str:
    """``system|code`` of an Observation's first coding: what its trend searches by."""
    codings = (observation.get("code") or {}).get("coding") or [{}]
    first = codings[0]
    if not first.get("code"):
        return ""
    return f"{first.get('system', '')}|{first['code']}"


def analyte_row(observation: dict[str, Any]) -> dict[str, Any]:
    """One Observation as the report's table and the trend's table show it."""
    quantity = observation.get("valueQuantity") or {}
    low, high = reference_range(observation)
    ranges = (observation.get("referenceRange") or [{}])[0]
    return {
        "id": observation.get("id", ""),
        "name": (observation.get("code") or {}).get("text", ""),
        "code": analyte_code(observation),
        "date": observation.get("effectiveDateTime", ""),
        "value": quantity.get("value"),
        "text": observation.get("valueString", ""),
        "unit": quantity.get("unit", ""),
        "low": low,
        "high": high,
        "range_text": ranges.get("text", ""),
        "flag": flag(observation),
    }


def reference_range(observation: dict[str, Any]) -> tuple[float | None, float | None]:
    ranges = (observation.get("referenceRange") or [{}])[0]
    low = (ranges.get("low") or {}).get("value")
    high = (ranges.get("high") or {}).get("value")
    return (
        float(low) if isinstance(low, (int, float)) else None,
        float(high) if isinstance(high, (int, float)) else None,
    )


def flag(observation: dict[str, Any]) -> str:
    """The interpretation code (v3 ObservationInterpretation: N, H, L, HH, LL, A...)."""
    for concept in observation.get("interpretation", []):
        for coding in concept.get("coding", []):
            if coding.get("code"):
                return str(coding["code"])
    return ""


@blueprint.get("/results/trend")
@signed_in
def trend() -> Any:
    code = request.args.get("code", "")
    if not code or len(code) > 300 or "|" not in code or "," in code:
        abort(404)
    bundle = search(
        "Observation",
        {"patient": active(), "code": code, "_sort": "date", "_count": str(TREND_MAX)},
    )
    rows = [analyte_row(o) for o in matches(bundle, "Observation") if own(o)]
    if not rows:
        abort(404)
    name = next((r["name"] for r in reversed(rows) if r["name"]), code)
    unit = next((r["unit"] for r in reversed(rows) if r["unit"]), "")
    return render_template("results/trend.html", name=name, unit=unit, rows=rows, chart=chart(rows))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    date: str
    value: float
    flag: str


@dataclass(frozen=True)
class Chart:
    """Coordinates of the trend chart in its SVG viewBox (``WIDTH`` x ``HEIGHT``)."""

    points: list[Point]
    band: tuple[float, float] | None  # y of the reference range's top and bottom
    low: float | None
    high: float | None
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    line: str


WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 20, 44


def _instant(value: str) -> dt.datetime:
    """A FHIR dateTime (a day, or an instant with its offset) as an aware datetime."""
    found = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


def _label(value: float) -> str:
    return f"{value:g}"


def chart(rows: list[dict[str, Any]]) -> Chart | None:
    """The chart of the numeric values of ``rows`` (oldest first), None without any: x by
    date (time between results kept), y by value, the latest reference range as a band."""
    numeric = [r for r in rows if isinstance(r["value"], (int, float)) and r["date"]]
    if not numeric:
        return None
    days = [_instant(r["date"]) for r in numeric]
    low, high = numeric[-1]["low"], numeric[-1]["high"]
    values = [float(r["value"]) for r in numeric]
    span = [*values, *(v for v in (low, high) if v is not None)]
    bottom, top = min(span), max(span)
    pad = (top - bottom) * 0.1 or abs(top) * 0.1 or 1.0
    bottom, top = bottom - pad, top + pad
    if min(span) >= 0 > bottom:
        bottom = 0.0
    first, last = days[0], days[-1]
    seconds = (last - first).total_seconds() or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(day: dt.datetime) -> float:
        if len(days) == 1:
            return LEFT + plot_w / 2
        return round(LEFT + (day - first).total_seconds() / seconds * plot_w, 1)

    def y_of(value: float) -> float:
        return round(TOP + (top - value) / (top - bottom) * plot_h, 1)

    points = [
        Point(x_of(day), y_of(v), r["date"], v, r["flag"])
        for day, v, r in zip(days, values, numeric, strict=True)
    ]
    band = None
    if low is not None or high is not None:
        band = (y_of(high if high is not None else top), y_of(low if low is not None else bottom))
    y_ticks = [(y_of(v), _label(round(v, 3))) for v in _ticks(bottom, top)]
    x_ticks = [(points[0].x, points[0].date)]
    if len(points) > 1:
        x_ticks.append((points[-1].x, points[-1].date))
    line = " ".join(f"{p.x},{p.y}" for p in points)
    return Chart(points, band, low, high, y_ticks, x_ticks, line)


def _ticks(bottom: float, top: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) inside
    ``bottom``..``top``."""
    raw = (top - bottom) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    value = math.ceil(bottom / step) * step
    out = []
    while value <= top:
        out.append(round(value, 10))
        value += step
    return out


@blueprint.get("/results/<report_id>.pdf")
@signed_in
def pdf(report_id: str) -> Any:
    found = own_report(report_id, LAB)
    return binary_pdf(found.get("presentedForm", []), report_id)


@blueprint.get("/results/<report_id>/download.pdf")
@signed_in
def download(report_id: str) -> Any:
    found = own_report(report_id, LAB)
    return binary_pdf(found.get("presentedForm", []), report_id, attachment=True)


def binary_pdf(attachments: list[dict[str, Any]], name: str, attachment: bool = False) -> Response:
    """The first attachment of ``attachments`` that is a PDF ``Binary`` of this gateway,
    streamed through the portal (never a URL elsewhere): shown in the browser, or downloaded
    as a file with ``attachment``."""
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
    disposition = "attachment" if attachment else "inline"
    return Response(
        answer.content,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'{disposition}; filename="{name}.pdf"'},
    )
