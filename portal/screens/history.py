"""Access history: who opened the active patient's records, in plain words, newest first, from
the gateway's audit trail (``GET /fhir/AuditEvent``, one page at a time).

Each event names its caller by the gateway's subject identifier (``user:<account>``,
``patient:<account>``, ``system:<partner client>``, ``share:<id>`` ...) and its app by OAuth
client id, with the name the app or clinic is registered under; the portal turns them into
"You", "The app Y", "Y (partner clinic)". The gateway's paging links are signed for this
session's grant; the portal keeps the ones it was given in the session and pages by number."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, abort, render_template, request, session
from flask_babel import gettext as _  # type: ignore[import-untyped]
from flask_babel import lazy_gettext

from portal.client import GatewayError
from portal.screens import Tile
from portal.web import active, gateway, matches, search, signed_in

blueprint = Blueprint("history", __name__)
TILE = Tile(
    "history.events",
    lazy_gettext("Access history"),
    lazy_gettext("Who opened your records, and when."),
)

PAGE_SIZE = 20
#: at most this many pages are kept for the previous/next links
MAX_PAGES = 100

#: What each kind of record is called, one and several.
KINDS: dict[str, tuple[Any, Any]] = {
    "Patient": (lazy_gettext("your personal details"), lazy_gettext("personal details")),
    "Encounter": (lazy_gettext("a visit"), lazy_gettext("visits")),
    "DiagnosticReport": (lazy_gettext("a result or report"), lazy_gettext("results and reports")),
    "Observation": (lazy_gettext("a test value"), lazy_gettext("test values")),
    "DocumentReference": (lazy_gettext("a document"), lazy_gettext("documents")),
    "Binary": (lazy_gettext("a file"), lazy_gettext("files")),
    "ImagingStudy": (lazy_gettext("an imaging study"), lazy_gettext("imaging studies")),
    "Appointment": (lazy_gettext("an appointment"), lazy_gettext("appointments")),
    "Consent": (lazy_gettext("a share"), lazy_gettext("shares")),
    "AuditEvent": (lazy_gettext("the access history"), lazy_gettext("the access history")),
    "Questionnaire": (lazy_gettext("a questionnaire"), lazy_gettext("questionnaires")),
    "QuestionnaireResponse": (
        lazy_gettext("a questionnaire answer"),
        lazy_gettext("questionnaire answers"),
    ),
    "Condition": (lazy_gettext("a diagnosis"), lazy_gettext("diagnoses")),
    "AllergyIntolerance": (lazy_gettext("an allergy"), lazy_gettext("allergies")),
    "MedicationRequest": (lazy_gettext("a prescription"), lazy_gettext("prescriptions")),
    "RelatedPerson": (lazy_gettext("a related person"), lazy_gettext("related persons")),
}


def _identifier(agent: dict[str, Any]) -> str:
    return str(((agent.get("who") or {}).get("identifier") or {}).get("value", ""))


def _client(event: dict[str, Any]) -> tuple[str, str]:
    """The app's (client id, registered name) of an event, or ("", "")."""
    for agent in event.get("agent", []):
        codes = [c.get("code") for c in (agent.get("type") or {}).get("coding", [])]
        if "110153" in codes:
            who = agent.get("who") or {}
            return _identifier(agent), str(who.get("display", ""))
    return "", ""


def who(event: dict[str, Any], me: str, portal_client: str) -> str:
    """Who made the request, in plain words."""
    caller = next((_identifier(a) for a in event.get("agent", []) if a.get("requestor")), "")
    kind, _sep, rest = caller.partition(":")
    client_id, name = _client(event)
    app = name or client_id
    if kind in ("user", "patient"):
        if me and rest == me:
            if client_id == portal_client:
                return _("You, in this portal")
            return _("The app %(app)s, which you allowed", app=app)
        return _("Another person who acts for this patient, through %(app)s", app=app)
    if kind == "system":
        return _("%(clinic)s (partner clinic)", clinic=app)
    if kind == "share":
        return _("Someone you shared it with by link and PIN")
    if kind == "result-code":
        return _("Someone with the result's code and national ID")
    if kind == "viewer":
        return _("The image viewer")
    if kind == "anonymous" or not caller:
        return _("Someone who was not signed in")
    return _("The hospital's systems")


def what(event: dict[str, Any]) -> str:
    """What was done, in plain words: read one record, looked through several, added..."""
    subtype = next((c.get("code") for c in event.get("subtype", [])), "")
    kind = next(
        (
            str(e.get("what", {}).get("type") or e.get("what", {}).get("reference", "")).split("/")[
                0
            ]
            for e in event.get("entity", [])
            if (e.get("role") or {}).get("code") == "4"
        ),
        "",
    )
    if not kind:
        kind = str(event.get("outcomeDesc", "")).rsplit(" ", 1)[-1]
    one, several = KINDS.get(kind, (kind, kind))
    if subtype == "read":
        return _("Opened %(record)s", record=one)
    if subtype == "search-type":
        return _("Looked through %(records)s", records=several)
    if subtype == "create":
        return _("Added %(record)s", record=one)
    if subtype == "update":
        return _("Changed %(record)s", record=one)
    return _("Asked for %(records)s", records=several)


def _next_cursor(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link", []):
        if link.get("relation") == "next":
            values = parse_qs(urlsplit(str(link.get("url", ""))).query).get("_cursor")
            return values[0] if values else None
    return None


@blueprint.get("/history")
@signed_in
def events() -> Any:
    page = request.args.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGES:
        abort(404)
    number = int(page)
    kept = session.get("history") or {}
    if kept.get("patient") != active():
        kept = {"patient": active(), "cursors": [""]}
    cursors: list[str] = list(kept.get("cursors") or [""])
    if number > len(cursors):
        abort(404)
    params = {"patient": active(), "_sort": "-date", "_count": str(PAGE_SIZE)}
    if cursors[number - 1]:
        params["_cursor"] = cursors[number - 1]
    try:
        bundle = search("AuditEvent", params)
    except GatewayError as exc:
        if exc.status == 400 and number > 1:  # a paging link no longer valid: from the start
            session["history"] = {"patient": active(), "cursors": [""]}
            abort(404)
        raise
    following = _next_cursor(bundle)
    del cursors[number:]
    if following and number < MAX_PAGES:
        cursors.append(following)
    session["history"] = {"patient": active(), "cursors": cursors}
    tokens = session.get("tokens") or {}
    me, portal_client = str(tokens.get("sub", "")), gateway().client_id
    mine = f"Patient/{active()}"
    shown = [
        {
            "date": event.get("recorded", ""),
            "who": who(event, me, portal_client),
            "what": what(event),
            "refused": event.get("outcome") not in ("0", None),
        }
        for event in matches(bundle, "AuditEvent")
        if any((e.get("what") or {}).get("reference") == mine for e in event.get("entity", []))
    ]
    return render_template(
        "history/events.html",
        events=shown,
        page=number,
        previous=number - 1 if number > 1 else None,
        next=number + 1 if following else None,
    )
