"""Imaging (F14-F16): the active patient's imaging studies with their modality, date,
description, series and image counts, whether the report and the images can be had, filtered by
modality and date; each opened in the gateway's image viewer (a link minted for that one study),
its report's PDF and its images as a ZIP (optionally AES-encrypted with the patient's password)
through the portal, and shared."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    send_file,
    session,
    stream_with_context,
)
from flask_babel import gettext as _  # type: ignore[import-untyped]
from flask_babel import lazy_gettext  # type: ignore[import-untyped]

from portal.client import GatewayError, SignedOut
from portal.screens import Tile
from portal.screens.results import FHIR_ID, binary_pdf, own
from portal.web import active, gateway, matches, read, search, searches, signed_in

blueprint = Blueprint("imaging", __name__)
TILE = Tile(
    "imaging.studies",
    lazy_gettext("Imaging"),
    lazy_gettext("See your X-rays, scans and ultrasounds, open them in the viewer, export them."),
)
#: Gateway-defined extension on ImagingStudy: whether the images and the report can be had
AVAILABILITY_URL = "https://fhir-gateway.example/StructureDefinition/imaging-availability"
#: how FHIR R4 spells a DICOM UID as an identifier
DICOM_UID_SYSTEM = "urn:dicom:uid"
DICOM_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
MODALITY_CODE = re.compile(r"[A-Z0-9]{1,16}")
#: the shortest export password the gateway accepts
MIN_PASSWORD = 8
CHUNK = 64 * 1024
STATIC = Path(__file__).resolve().parent.parent / "static"
#: the acquisition modalities (DICOM CID 29) patients meet most, in their words
MODALITIES = {
    "CR": lazy_gettext("Radiography"),
    "DX": lazy_gettext("Radiography"),
    "CT": lazy_gettext("Computed tomography"),
    "MR": lazy_gettext("Magnetic resonance imaging"),
    "US": lazy_gettext("Ultrasound"),
    "MG": lazy_gettext("Mammography"),
    "XA": lazy_gettext("Angiography"),
    "RF": lazy_gettext("Fluoroscopy"),
    "NM": lazy_gettext("Nuclear medicine"),
    "PT": lazy_gettext("PET"),
    "BMD": lazy_gettext("Bone densitometry"),
}


def modality_name(coding: dict[str, Any]) -> str:
    code = str(coding.get("code", ""))
    known = MODALITIES.get(code)
    return str(known) if known is not None else str(coding.get("display") or code)


def availability(study: dict[str, Any]) -> dict[str, Any]:
    for ext in study.get("extension", []):
        if ext.get("url") == AVAILABILITY_URL:
            return {
                e.get("url"): e.get("valueBoolean", e.get("valueReference"))
                for e in ext.get("extension", [])
            }
    return {}


def study_uid(study: dict[str, Any]) -> str:
    for ident in study.get("identifier", []):
        value = str(ident.get("value", ""))
        if ident.get("system") == DICOM_UID_SYSTEM and value.startswith("urn:oid:"):
            uid = value.removeprefix("urn:oid:")
            if DICOM_UID.fullmatch(uid) and len(uid) <= 64:
                return uid
    return ""


def reports_by_study(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The active patient's radiology reports, by the ``ImagingStudy/<id>`` they report on."""
    out: dict[str, dict[str, Any]] = {}
    for report in matches(bundle, "DiagnosticReport"):
        if not own(report):
            continue
        for ref in report.get("imagingStudy", []):
            out.setdefault(str(ref.get("reference", "")), report)
    return out


def study_row(study: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
    flags = availability(study)
    codings = study.get("modality", [])
    return {
        "id": study["id"],
        "date": study.get("started", ""),
        "modalities": [
            {"code": c.get("code", ""), "name": modality_name(c)} for c in codings if c.get("code")
        ],
        "description": study.get("description", ""),
        "series": study.get("numberOfSeries"),
        "instances": study.get("numberOfInstances"),
        "images": bool(flags.get("images")) and bool(study_uid(study)),
        "report": report is not None,
        "report_pdf": report is not None
        and any(f.get("url") for f in report.get("presentedForm", [])),
    }


def _date(name: str, errors: dict[str, str]) -> str:
    value = request.args.get(name, "").strip()
    if not value:
        return ""
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        errors[name] = _("Enter a real date, for example 2024-05-21.")
        return value


@blueprint.get("/imaging")
@signed_in
def studies() -> Any:
    errors: dict[str, str] = {}
    modality = request.args.get("modality", "").strip().upper()
    if modality and not MODALITY_CODE.fullmatch(modality):
        errors["modality"] = _("Choose a type of imaging from the list.")
    start, end = _date("from", errors), _date("to", errors)
    if start and end and not errors and start > end:
        errors["to"] = _("The end date must be the same as or after the start date.")
    chosen = {"modality": modality, "from": start, "to": end}
    base = {"patient": active(), "_sort": "-started", "_count": "100"}
    rad = {"patient": active(), "category": "RAD", "_count": "100"}
    if errors:
        (everything,) = searches(("ImagingStudy", base))
        return render_template(
            "imaging/studies.html",
            studies=None,
            options=_options(everything),
            chosen=chosen,
            errors=errors,
            filtered=True,
        ), 400
    filters = dict(base)
    if modality:
        filters["modality"] = modality
    dates = [f"ge{start}"] if start else []
    dates += [f"le{end}"] if end else []
    filtered = bool(modality or dates)
    queries: list[tuple[str, dict[str, Any]]] = [("ImagingStudy", base), ("DiagnosticReport", rad)]
    if filtered:
        queries.append(("ImagingStudy", {**filters, "started": dates} if dates else filters))
    bundles = searches(*queries)  # type: ignore[arg-type]
    everything, reports = bundles[0], reports_by_study(bundles[1])
    shown = bundles[2] if filtered else everything
    rows = [
        study_row(s, reports.get(f"ImagingStudy/{s['id']}"))
        for s in matches(shown, "ImagingStudy")
        if own(s)
    ]
    return render_template(
        "imaging/studies.html",
        studies=rows,
        options=_options(everything),
        chosen=chosen,
        errors={},
        filtered=filtered,
    )


def _options(bundle: dict[str, Any]) -> list[dict[str, str]]:
    """The modalities of the patient's studies, for the filter."""
    seen: dict[str, str] = {}
    for study in matches(bundle, "ImagingStudy"):
        for coding in study.get("modality", []):
            code = coding.get("code")
            if code and code not in seen:
                seen[code] = modality_name(coding)
    return [{"code": c, "name": n} for c, n in sorted(seen.items(), key=lambda i: i[1])]


def own_study(study_id: str) -> dict[str, Any]:
    """The ImagingStudy ``study_id`` when it is the active patient's; otherwise 404."""
    if not FHIR_ID.fullmatch(study_id):
        abort(404)
    study = read(f"ImagingStudy/{study_id}")
    if study is None or not own(study):
        abort(404)
    return study


def dicomweb_base() -> str:
    """The gateway's DICOMweb base, beside its FHIR base (``…/fhir`` -> ``…/dicomweb``)."""
    return gateway().fhir_url.rsplit("/", 1)[0] + "/dicomweb"


def dicomweb(
    method: str, path: str, data: dict[str, str] | None = None, stream: bool = False
) -> requests.Response:
    """``method`` on ``path`` of the gateway's DICOMweb with the session's token."""
    client = gateway()
    tokens = client.fresh(session)
    try:
        answer = client.http.request(
            method,
            f"{dicomweb_base()}/{path}",
            data=data,
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=client.timeout_s,
            stream=stream,
        )
    except requests.RequestException:
        raise GatewayError(0, "gateway unreachable") from None
    if answer.status_code == 401:
        answer.close()
        raise SignedOut()
    return answer


def _uid_with_images(study: dict[str, Any]) -> str:
    uid = study_uid(study)
    if not uid or not availability(study).get("images"):
        abort(404)
    return uid


@blueprint.get("/imaging/<study_id>/viewer")
@signed_in
def viewer(study_id: str) -> Any:
    """A viewer link minted by the gateway for this one study; the browser goes there."""
    uid = _uid_with_images(own_study(study_id))
    answer = dicomweb("POST", f"studies/{uid}/viewer-link")
    if answer.status_code in (403, 404):
        abort(404)
    if answer.status_code != 201:
        raise GatewayError(answer.status_code, "viewer link")
    url = str(answer.json().get("url", ""))
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise GatewayError(502, "viewer link")
    return redirect(url, 303)


@blueprint.get("/imaging/<study_id>/report.pdf")
@signed_in
def report_pdf(study_id: str) -> Any:
    own_study(study_id)
    bundle = search(
        "DiagnosticReport",
        {"patient": active(), "category": "RAD", "imaging-study": f"ImagingStudy/{study_id}"},
    )
    report = reports_by_study(bundle).get(f"ImagingStudy/{study_id}")
    if report is None:
        abort(404)
    return binary_pdf(report.get("presentedForm", []), f"report-{study_id}")


@blueprint.get("/imaging/<study_id>/export")
@signed_in
def export_form(study_id: str) -> Any:
    study = own_study(study_id)
    _uid_with_images(study)
    return render_template("imaging/export.html", study=study_row(study, None), errors={})


@blueprint.post("/imaging/<study_id>/export")
@signed_in
def export(study_id: str) -> Any:
    """The study's images as a ZIP, streamed from the gateway's export as it makes it."""
    study = own_study(study_id)
    uid = _uid_with_images(study)
    password = request.form.get("password", "")
    if password and len(password) < MIN_PASSWORD:
        errors = {
            "password": _(
                "The password must have at least %(num)d characters, or leave it empty.",
                num=MIN_PASSWORD,
            )
        }
        return render_template(
            "imaging/export.html", study=study_row(study, None), errors=errors
        ), 400
    if password:
        answer = dicomweb("POST", f"studies/{uid}/export", data={"password": password}, stream=True)
    else:
        answer = dicomweb("GET", f"studies/{uid}/export", stream=True)
    if answer.status_code != 200:
        answer.close()
        if answer.status_code in (403, 404):
            abort(404)
        raise GatewayError(answer.status_code, "export")

    def body() -> Iterator[bytes]:
        try:
            yield from answer.iter_content(CHUNK)
        finally:
            answer.close()

    return Response(
        stream_with_context(body()),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="study-{study_id}.zip"'},
    )


@blueprint.get("/static/imaging.css")
def css() -> Response:
    """The few styles of the imaging and trend pages (a file: the CSP allows no inline style)."""
    return send_file(STATIC / "imaging.css", mimetype="text/css", max_age=3600)
