"""Medical record (F10): the active patient's encounters, newest first (type, number, date and
time, responsible doctor, place, status), with quick period filters, advanced filters (dates,
type, status, place) and paging; each encounter with the documents, reports and imaging studies
the gateway links to it; a link to share the record."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Response, abort, render_template, request, send_file, session
from flask_babel import lazy_gettext, lazy_pgettext  # type: ignore[import-untyped]

from portal.client import GatewayError
from portal.screens import Tile
from portal.screens import period as periods
from portal.screens.results import report_title
from portal.web import active, gateway, included, matches, search, searches, signed_in

blueprint = Blueprint("record", __name__)
blueprint.add_app_template_filter(periods.local_datetime, "local_datetime")
blueprint.add_app_template_filter(periods.local_day, "local_day")
TILE = Tile(
    "record.encounters",
    lazy_gettext("Medical record"),
    lazy_gettext("See all your visits and stays at the hospital, with their documents."),
)
PAGE_SIZE = 20
#: the hospital's kinds of encounter (the HIS episode kinds the gateway codes them with)
KINDS = {
    "AMB": lazy_gettext("Ambulatory episode"),
    "DAY": lazy_gettext("Day hospitalisation"),
    "HOSP": lazy_gettext("Continuous hospitalisation"),
    "CONS": lazy_gettext("Consultation during an admission"),
}
#: Encounter.status (R4 encounter-status)
STATUSES = {
    "planned": lazy_pgettext("encounter", "Planned"),
    "arrived": lazy_pgettext("encounter", "Arrived"),
    "in-progress": lazy_pgettext("encounter", "In progress"),
    "finished": lazy_pgettext("encounter", "Finished"),
    "cancelled": lazy_pgettext("encounter", "Cancelled"),
}
#: the path of the share screen (built beside this one) for the whole record
SHARE_RECORD = "/shares/new?what=record"
STATIC = Path(__file__).resolve().parent.parent / "static"


@blueprint.get("/record.css")
def css() -> Response:
    """The stylesheet of the record, documents and uploads screens."""
    return send_file(STATIC / "record.css", mimetype="text/css", max_age=300)


def kind_of(encounter: dict[str, Any]) -> str:
    for concept in encounter.get("type") or []:
        for coding in concept.get("coding") or []:
            if coding.get("code") in KINDS:
                return str(KINDS[coding["code"]])
    concept = (encounter.get("type") or [{}])[0]
    return str(concept.get("text") or (encounter.get("class") or {}).get("display") or "")


def person_name(resource: dict[str, Any] | None) -> str:
    if not resource:
        return ""
    name = (resource.get("name") or [{}])[0]
    if isinstance(name, str):  # Location.name, Organization.name
        return name
    words = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
    return " ".join(w for w in words if w).strip() or str(name.get("text", ""))


def place_name(resource: dict[str, Any] | None) -> str:
    return str((resource or {}).get("name", ""))


def status_of(resource: dict[str, Any]) -> str:
    code = resource.get("status", "")
    return str(STATUSES.get(code, code))


def cursor_of(bundle: dict[str, Any]) -> str:
    """The gateway's paging cursor of the Bundle's next page ('' when it is the last)."""
    for link in bundle.get("link", []):
        if link.get("relation") == "next":
            found = parse_qs(urlsplit(link.get("url", "")).query).get("_cursor")
            return found[0] if found else ""
    return ""


def paged_search(resource_type: str, params: dict[str, Any], cursor: str) -> dict[str, Any]:
    """A search from the page ``cursor`` names (the first page when the gateway refuses the
    cursor: a stale or altered link starts again rather than failing)."""
    if cursor:
        answer = gateway().fhir(session, resource_type, {**params, "_cursor": cursor[:2000]})
        if answer.status_code == 200:
            found: dict[str, Any] = answer.json()
            return found
        if answer.status_code != 400:
            raise GatewayError(answer.status_code, f"{resource_type} search")
    return search(resource_type, params)


def _encounter_row(encounter: dict[str, Any], refs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    doctor = next(
        (
            (p.get("individual") or {}).get("reference", "")
            for p in encounter.get("participant", [])
            if (p.get("individual") or {}).get("reference", "").startswith("Practitioner/")
        ),
        "",
    )
    place = next(
        ((loc.get("location") or {}).get("reference", "") for loc in encounter.get("location", [])),
        "",
    )
    return {
        "id": encounter["id"],
        "kind": kind_of(encounter),
        "number": (encounter.get("identifier") or [{}])[0].get("value", ""),
        "start": (encounter.get("period") or {}).get("start", ""),
        "end": (encounter.get("period") or {}).get("end", ""),
        "doctor": person_name(refs.get(doctor)),
        "place": place_name(refs.get(place)),
        "status": status_of(encounter),
        "status_code": encounter.get("status", ""),
        "reason": ", ".join(r.get("text", "") for r in encounter.get("reasonCode", [])),
        "part_of": (encounter.get("partOf") or {}).get("reference", "").removeprefix("Encounter/"),
    }


@blueprint.get("/record")
@signed_in
def encounters() -> Any:
    period = periods.chosen(request.args)
    wanted_kind = request.args.get("type", "")
    wanted_status = request.args.get("status", "")
    wanted_place = request.args.get("place", "")
    params: dict[str, Any] = {
        "patient": active(),
        "_sort": "-date",
        "_count": str(PAGE_SIZE),
        "_include": ["Encounter:participant", "Encounter:location"],
        "_total": "accurate",
    }
    if period.params():
        params["date"] = period.params()
    if wanted_kind in KINDS:
        params["type"] = wanted_kind
    else:
        wanted_kind = ""
    if wanted_status in STATUSES:
        params["status"] = wanted_status
    else:
        wanted_status = ""
    if wanted_place.isdigit() and len(wanted_place) <= 18:
        params["location"] = f"Location/{wanted_place}"
    else:
        wanted_place = ""
    bundle = paged_search("Encounter", params, request.args.get("cursor", ""))
    oldest, places = searches(
        ("Encounter", {"patient": active(), "_sort": "date", "_count": "1"}),
        ("Location", {"_count": "100"}),
    )
    refs = included(bundle)
    rows = [_encounter_row(e, refs) for e in matches(bundle, "Encounter")]
    first = matches(oldest, "Encounter")
    since = period.start.isoformat() if period.start else ""
    if not since and first:
        since = (first[0].get("period") or {}).get("start", "")[:10]
    until = period.end.isoformat() if period.end else periods.today().isoformat()
    filters = {
        **period.query(),
        **({"type": wanted_kind} if wanted_kind else {}),
        **({"status": wanted_status} if wanted_status else {}),
        **({"place": wanted_place} if wanted_place else {}),
    }
    return render_template(
        "record/encounters.html",
        rows=rows,
        total=bundle.get("total", len(rows)),
        period=period,
        quick=periods.labels(),
        since=since,
        until=until,
        kinds=KINDS,
        statuses=STATUSES,
        places=sorted(
            ((p["id"], place_name(p)) for p in matches(places, "Location")), key=lambda p: p[1]
        ),
        wanted={"type": wanted_kind, "status": wanted_status, "place": wanted_place},
        filters=filters,
        first_page=bool(request.args.get("cursor")),
        next_cursor=cursor_of(bundle),
        share_url=SHARE_RECORD,
    ), (400 if period.errors else 200)


@blueprint.get("/record/<encounter_id>")
@signed_in
def encounter(encounter_id: str) -> Any:
    if len(encounter_id) > 64:
        abort(404)
    answer = gateway().fhir(
        session,
        "Encounter",
        {
            "_id": encounter_id,
            "patient": active(),
            "_include": ["Encounter:participant", "Encounter:location", "Encounter:part-of"],
            "_revinclude": [
                "DocumentReference:encounter",
                "DiagnosticReport:encounter",
                "ImagingStudy:encounter",
            ],
        },
    )
    if answer.status_code == 400:
        abort(404)
    if answer.status_code != 200:
        raise GatewayError(answer.status_code, "Encounter search")
    bundle = answer.json()
    found = [e for e in matches(bundle, "Encounter") if e.get("id") == encounter_id]
    mine = f"Patient/{active()}"
    if not found or (found[0].get("subject") or {}).get("reference") != mine:
        abort(404)
    refs = included(bundle)
    row = _encounter_row(found[0], refs)
    linked = [
        r
        for r in refs.values()
        if (r.get("subject") or {}).get("reference") == mine
        and r.get("resourceType") in ("DocumentReference", "DiagnosticReport", "ImagingStudy")
    ]
    documents = [
        {
            "id": d["id"],
            "title": document_title(d),
            "number": (d.get("identifier") or [{}])[0].get("value", ""),
            "date": d.get("date", ""),
        }
        for d in linked
        if d["resourceType"] == "DocumentReference"
    ]
    reports = [
        {
            "id": r["id"],
            "title": report_title(r),
            "number": (r.get("identifier") or [{}])[0].get("value", ""),
            "date": r.get("effectiveDateTime") or r.get("issued", ""),
            "pdf": any(f.get("url") for f in r.get("presentedForm", [])),
        }
        for r in linked
        if r["resourceType"] == "DiagnosticReport"
    ]
    studies = [
        {
            "id": s["id"],
            "description": s.get("description", ""),
            "modalities": ", ".join(m.get("code", "") for m in s.get("modality", [])),
            "date": s.get("started", ""),
        }
        for s in linked
        if s["resourceType"] == "ImagingStudy"
    ]
    parent = refs.get(f"Encounter/{row['part_of']}") if row["part_of"] else None
    return render_template(
        "record/encounter.html",
        row=row,
        parent=_encounter_row(parent, refs) if parent else None,
        documents=sorted(documents, key=lambda d: d["date"], reverse=True),
        reports=sorted(reports, key=lambda r: r["date"], reverse=True),
        studies=sorted(studies, key=lambda s: s["date"], reverse=True),
    )


def document_title(document: dict[str, Any]) -> str:
    attachment = ((document.get("content") or [{}])[0]).get("attachment") or {}
    return str(
        attachment.get("title")
        or document.get("description")
        or (document.get("type") or {}).get("text", "")
    )
