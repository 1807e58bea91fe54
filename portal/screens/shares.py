"""Shares (F21, F25): the active patient's shares (what, with whom, until, their state), a new
share of the whole record or of one report, study or document, with a partner clinic or with
a person outside by link and PIN, and withdrawing one.

Everything goes through the gateway's FHIR Consent: a share with a partner names the clinic
by its client id (``Consent.organization``); a share with a person outside names a contained
``RelatedPerson`` recipient, the PIN and the comment in the gateway's extensions (under the
deployment's ``IDENTIFIER_BASE``, an option every host shares). The gateway mails the link and
sends the PIN; the recipient's pages are the gateway's (``/share/...``). Other screens link to
``/shares/new?what=<record|DiagnosticReport/id|ImagingStudy/id|DocumentReference/id>``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import (  # type: ignore[import-untyped]
    get_locale,
    lazy_gettext,
)
from flask_babel import gettext as _  # type: ignore[import-untyped]

from portal.client import GatewayError
from portal.screens import Tile
from portal.screens.results import report_title
from portal.web import active, matches, read, search, searches, send, signed_in, typed_day

blueprint = Blueprint("shares", __name__)
TILE = Tile(
    "shares.shares",
    lazy_gettext("Shares"),
    lazy_gettext("Share your record, a result, a study or a document, and withdraw a share."),
)

#: What may be shared one by one, and whether a partner clinic may be given it alone (a
#: study's images are served by patient to a partner: the gateway refuses a study alone).
ITEMS = {"DiagnosticReport": True, "DocumentReference": True, "ImagingStudy": False}
_WHAT = re.compile(r"(DiagnosticReport|DocumentReference|ImagingStudy)/[A-Za-z0-9\-.]{1,64}")
_CONSENT_ID = re.compile(r"(share-)?[0-9]{1,18}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}")
_MOBILE = re.compile(r"\+?[0-9]{8,15}")
_PIN = re.compile(r"[0-9]{6}")
#: The days a new share with a person outside lasts unless the patient picks another end.
DEFAULT_DAYS = 14
RECIPIENT_ROLE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP",
        }
    ]
}
LANGUAGE_NAMES = {"ro": "Română", "pl": "Polski", "en": "English"}


def _settings() -> Any:
    return current_app.extensions["portal_settings"]


def partners() -> dict[str, str]:
    """The partner clinics offered (client id -> name), from ``PORTAL_PARTNERS``."""
    found = {}
    for entry in _settings().portal_partners:
        client_id, _sep, name = entry.partition("=")
        found[client_id.strip()] = name.strip()
    return found


def _base() -> str:
    return str(_settings().identifier_base).rstrip("/")


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --- what a share covers, and its words ----------------------------------------------------------


def _type_label(rtype: str) -> str:
    return {
        "DiagnosticReport": _("Report"),
        "DocumentReference": _("Document"),
        "ImagingStudy": _("Imaging study"),
    }.get(rtype, rtype)


def _title(resource: dict[str, Any]) -> str:
    if resource.get("resourceType") == "DiagnosticReport":
        return report_title(resource)[:200]
    for key in ("description", "type", "code"):
        value = resource.get(key)
        if isinstance(value, str) and value:
            return value[:200]
        if isinstance(value, dict):
            text = value.get("text") or next(
                (c.get("display") for c in value.get("coding", []) if c.get("display")), None
            )
            if text:
                return str(text)[:200]
    return ""


def _subject(resource: dict[str, Any]) -> str:
    return str((resource.get("subject") or resource.get("patient") or {}).get("reference", ""))


def _item(what: str) -> dict[str, Any] | None:
    """The item a new share is for, as the page shows it; None for the whole record. 404 for
    anything that is not the active patient's."""
    if what == "record":
        return None
    if not _WHAT.fullmatch(what):
        abort(404)
    resource = read(what)
    if resource is None or _subject(resource) != f"Patient/{active()}":
        abort(404)
    rtype = resource["resourceType"]
    when = (
        resource.get("effectiveDateTime")
        or resource.get("date")
        or resource.get("started")
        or resource.get("issued")
        or ""
    )
    return {
        "ref": what,
        "heading": {
            "DiagnosticReport": _("Share a report"),
            "DocumentReference": _("Share a document"),
            "ImagingStudy": _("Share an imaging study"),
        }[rtype],
        "type": _type_label(rtype),
        "title": _title(resource),
        "date": str(when),
        "partner_ok": ITEMS[rtype],
    }


def _extension(consent: dict[str, Any], name: str) -> Any:
    for ext in consent.get("extension") or []:
        if str(ext.get("url", "")).endswith(f"/{name}"):
            return ext.get("valueCode") or ext.get("valueString") or ext.get("valueDateTime")
    return None


def _state(consent: dict[str, Any]) -> str:
    """active, pending, expired, revoked or locked."""
    kept = _extension(consent, "share-state")
    if kept:
        return str(kept)
    if consent.get("status") != "active":
        return "revoked"
    span = (consent.get("provision") or {}).get("period") or {}
    now = dt.datetime.now(dt.UTC)
    end, start = _instant(span.get("end")), _instant(span.get("start"))
    if end is not None and end < now:
        return "expired"
    if start is not None and start > now:
        return "pending"
    return "active"


def _instant(value: Any) -> dt.datetime | None:
    """A FHIR instant or dateTime of the gateway's answers (UTC when it says no zone)."""
    try:
        found = dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    if found is not None and found.tzinfo is None:
        found = found.replace(tzinfo=dt.UTC)
    return found


def _shown(
    consent: dict[str, Any], known: dict[str, str], titles: dict[str, str] | None = None
) -> dict[str, Any]:
    """One share as the list shows it (``titles``: of the shared items, by reference)."""
    titles = titles or {}
    provision = consent.get("provision") or {}
    data = [
        str((d.get("reference") or {}).get("reference", "")) for d in provision.get("data") or []
    ]
    items = [r for r in data if r.partition("/")[0] in ITEMS]
    if not data:
        classes = [str(c.get("code", "")) for c in provision.get("class") or []]
        what = (
            [_("Whole record")]
            if not classes
            else [_("Records of the kinds: %(kinds)s", kinds=", ".join(classes))]
        )
    else:
        what = [
            f"{_type_label(r.partition('/')[0])}: {titles[r]}"
            if titles.get(r)
            else f"{_type_label(r.partition('/')[0])} {r.partition('/')[2]}"
            for r in items
        ]
    contained = {c.get("id"): c for c in consent.get("contained") or []}
    person = contained.get("recipient")
    if person is not None:
        emails = [t["value"] for t in person.get("telecom", []) if t.get("system") == "email"]
        whom = emails[0] if emails else ""
        kind = _("Person, by link and PIN")
    else:
        ident = ((consent.get("organization") or [{}])[0]).get("identifier") or {}
        client_id = str(ident.get("value", ""))
        whom = known.get(client_id, client_id)
        kind = _("Partner clinic")
    span = provision.get("period") or {}
    state = _state(consent)
    return {
        "id": consent["id"],
        "what": what,
        "whom": whom,
        "kind": kind,
        "until": str(span.get("end") or ""),
        "state": state,
        "state_label": {
            "active": _("Active"),
            "pending": _("Not started yet"),
            "expired": _("Expired"),
            "revoked": _("Withdrawn"),
            "locked": _("Locked after wrong PINs"),
        }.get(state, state),
        "open": state in ("active", "pending"),
        "used": str(_extension(consent, "share-last-used") or ""),
    }


def _mine() -> list[dict[str, Any]]:
    """The Consents of the active patient, as the gateway lists the account's."""
    bundle = search("Consent", {})
    return [
        c
        for c in matches(bundle, "Consent")
        if (c.get("patient") or {}).get("reference") == f"Patient/{active()}"
    ]


#: the screen's own CSS: a withdrawal's button keeps the warning red the theme's colour
#: would otherwise cover
STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "shares.css"


@blueprint.get("/shares/shares.css")
def stylesheet() -> Response:
    return send_file(STYLESHEET, mimetype="text/css", max_age=3600)


@blueprint.app_context_processor
def result_access_link() -> dict[str, str]:
    """The gateway's page of results without an account (F9), linked from the start page:
    the code is redeemed in the patient's own browser at the gateway, which counts attempts
    per national ID and per browser address."""
    base = _settings().portal_fhir_url.rstrip("/").removesuffix("/fhir")
    return {"result_access_url": f"{base}/result-access"}


def _titles(consents: list[dict[str, Any]]) -> dict[str, str]:
    """The titles of the items the shares name, by reference: one search per type, made
    concurrently, of the active patient's own items only."""
    wanted: dict[str, set[str]] = {}
    for consent in consents:
        for data in (consent.get("provision") or {}).get("data") or []:
            rtype, _sep, rid = str((data.get("reference") or {}).get("reference", "")).partition(
                "/"
            )
            if rtype in ITEMS and rid:
                wanted.setdefault(rtype, set()).add(rid)
    if not wanted:
        return {}
    kinds = sorted(wanted)
    bundles = searches(
        *(
            (rtype, {"patient": active(), "_id": ",".join(sorted(wanted[rtype])), "_count": "100"})
            for rtype in kinds
        )
    )
    found = {}
    for bundle in bundles:
        for resource in matches(bundle):
            if _subject(resource) == f"Patient/{active()}":
                found[f"{resource['resourceType']}/{resource['id']}"] = _title(resource)
    return found


# --- the list ------------------------------------------------------------------------------------


@blueprint.get("/shares")
@signed_in
def shares() -> Any:
    known = partners()
    mine = _mine()
    titles = _titles(mine)
    shown = [_shown(c, known, titles) for c in mine]
    return render_template(
        "shares/list.html",
        current=[s for s in shown if s["open"]],
        ended=[s for s in shown if not s["open"]],
        done=session.pop("shares_done", None),
    )


# --- a new share ---------------------------------------------------------------------------------


def _form_page(what: str, item: dict[str, Any] | None, status: int = 200, **context: Any) -> Any:
    known = partners()
    values = {"language": str(get_locale())}
    values.update(context.pop("values", {}))
    return (
        render_template(
            "shares/new.html",
            what=what,
            item=item,
            partners=known if (item is None or item["partner_ok"]) else {},
            study_alone=item is not None and not item["partner_ok"] and bool(known),
            languages=LANGUAGE_NAMES,
            values=values,
            errors=context.pop("errors", {}),
            kind=context.pop("kind", ""),
            refused=context.pop("refused", None),
            today=_today().isoformat(),
            default_until=(_today() + dt.timedelta(days=DEFAULT_DAYS)).isoformat(),
            **context,
        ),
        status,
    )


@blueprint.get("/shares/new")
@signed_in
def new() -> Any:
    what = request.args.get("what", "record")
    return _form_page(what, _item(what))


def _period_end(raw: str, errors: dict[str, str], required: bool) -> str | None:
    if not raw:
        if required:
            errors["until"] = _("Enter the last day the share is open.")
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        errors["until"] = _("Enter a real date, for example 21.04.2026.")
        return None
    if day < _today():
        errors["until"] = _("The last day must be today or later.")
        return None
    return day.isoformat()


@blueprint.post("/shares/new")
@signed_in
def create() -> Any:
    what = request.form.get("what", "record")
    item = _item(what)
    kind = request.form.get("kind", "")
    form = request.form
    errors: dict[str, str] = {}
    patient = {"reference": f"Patient/{active()}"}
    provision: dict[str, Any] = {"type": "permit"}
    if item is not None:
        provision["data"] = [{"meaning": "instance", "reference": {"reference": what}}]
    if kind == "partner":
        known = partners()
        client_id = form.get("partner", "")
        if client_id not in known or (item is not None and not item["partner_ok"]):
            errors["partner"] = _("Choose a partner clinic.")
        end = _period_end(typed_day(form, "until"), errors, required=False)
        if end:
            provision["period"] = {"end": end}
        consent: dict[str, Any] = {
            "resourceType": "Consent",
            "status": "active",
            "patient": patient,
            "organization": [
                {
                    "identifier": {
                        "system": f"{_base()}/sid/oauth-client",
                        "value": client_id,
                    }
                }
            ],
            "provision": provision,
        }
        whom = known.get(client_id, "")
    elif kind == "person":
        email = form.get("email", "").strip()[:320]
        mobile = form.get("mobile", "").replace(" ", "")[:20]
        pin = form.get("pin", "").strip()[:16]
        comment = form.get("comment", "").strip()[:1001]
        language = form.get("language", "")
        if not _EMAIL.fullmatch(email):
            errors["email"] = _("Enter the recipient's email address, like name@example.com.")
        if mobile and not _MOBILE.fullmatch(mobile):
            errors["mobile"] = _("Enter a mobile number of 8 to 15 digits, or leave it empty.")
        if not _PIN.fullmatch(pin):
            errors["pin"] = _("Enter a PIN of 6 digits.")
        if len(comment) > 1000:
            errors["comment"] = _("The message can be at most 1000 characters long.")
        if language not in LANGUAGE_NAMES:
            language = "en"
        end = _period_end(typed_day(form, "until"), errors, required=True)
        provision["period"] = {"end": end}
        provision["actor"] = [{"role": RECIPIENT_ROLE, "reference": {"reference": "#recipient"}}]
        telecom = [{"system": "email", "value": email}]
        if mobile:
            telecom.append({"system": "sms", "value": mobile})
        extension = [{"url": f"{_base()}/StructureDefinition/share-pin", "valueString": pin}]
        if comment:
            extension.append(
                {"url": f"{_base()}/StructureDefinition/share-comment", "valueString": comment}
            )
        consent = {
            "resourceType": "Consent",
            "language": language,
            "contained": [
                {
                    "resourceType": "RelatedPerson",
                    "id": "recipient",
                    "patient": patient,
                    "telecom": telecom,
                }
            ],
            "extension": extension,
            "status": "active",
            "patient": patient,
            "provision": provision,
        }
        whom = email
    else:
        abort(400)
    values = {k: v for k, v in form.items() if k not in ("pin", "csrf_token")}
    if errors:
        return _form_page(what, item, 400, errors=errors, kind=kind, values=values)
    answer = send("POST", "Consent", json=consent)
    if answer.status_code == 201:
        if kind == "person":
            done = _(
                "Shared with %(whom)s. They get the link by email and the PIN in a separate "
                "message.",
                whom=whom,
            )
        else:
            done = _("Shared with %(whom)s.", whom=whom)
        session["shares_done"] = done
        return redirect(url_for(".shares"))
    if answer.status_code in (400, 422):
        issues = (answer.json() if _is_json(answer) else {}).get("issue") or [{}]
        return _form_page(
            what,
            item,
            422,
            kind=kind,
            values=values,
            refused=str(issues[0].get("diagnostics", ""))[:300],
        )
    if answer.status_code == 503:
        return _form_page(
            what,
            item,
            503,
            kind=kind,
            values=values,
            not_sent=True,
        )
    if answer.status_code in (403, 404):
        abort(404)
    raise GatewayError(answer.status_code, "Consent create")


def _is_json(answer: Any) -> bool:
    return "json" in answer.headers.get("Content-Type", "")


# --- withdrawing ---------------------------------------------------------------------------------


def _consent(consent_id: str) -> dict[str, Any]:
    if not _CONSENT_ID.fullmatch(consent_id):
        abort(404)
    consent = read(f"Consent/{consent_id}")
    if consent is None or (consent.get("patient") or {}).get("reference") != f"Patient/{active()}":
        abort(404)
    return consent


@blueprint.get("/shares/<consent_id>/withdraw")
@signed_in
def confirm(consent_id: str) -> Any:
    consent = _consent(consent_id)
    share = _shown(consent, partners(), _titles([consent]))
    if not share["open"]:
        return redirect(url_for(".shares"))
    return render_template("shares/withdraw.html", share=share)


@blueprint.post("/shares/<consent_id>/withdraw")
@signed_in
def withdraw(consent_id: str) -> Any:
    consent = _consent(consent_id)
    share = _shown(consent, partners())
    answer = send("PUT", f"Consent/{consent_id}", json={**consent, "status": "inactive"})
    if answer.status_code in (403, 404):
        abort(404)
    if answer.status_code != 200:
        raise GatewayError(answer.status_code, "Consent withdraw")
    session["shares_done"] = _("The share with %(whom)s is withdrawn.", whom=share["whom"])
    return redirect(url_for(".shares"))
