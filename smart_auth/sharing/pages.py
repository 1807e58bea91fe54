"""The recipient's pages of a share with a person outside (F21), under ``/share``.

``GET /share/{link}``: the PIN form (in the recipient's language: the ``lang`` cookie, else
Accept-Language, else the language the patient chose for the share), or, once the PIN was
right, what was shared; ``POST /share/{link}`` (form ``pin``): checks the PIN and keeps the
share token it mints in a cookie limited to that link's path (HttpOnly, SameSite=Strict);
``GET /share/{link}/files/{id}``: a shared document's file, as an attachment.

Documents and reports are read through the FHIR service with the share's grant (exactly
what was shared, audited as the share's); a study opens in the viewer and downloads as an
export from the DICOMweb surface, with the share token in the URL. A link that is unknown,
revoked or past its time limit answers the same 404 page; a locked share a 403 page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for

from access import audit
from access.errors import ApiError
from access.policy import Grant
from fhir_gateway.his.connector import HisUnreachable
from mappers.consent import files_of
from smart_auth import translations
from smart_auth.accounts import i18n

from . import wording
from .outside import (
    OutsideShares,
    ShareClosed,
    ShareLocked,
    TryLater,
    WrongPin,
    grant_of,
)

pages = Blueprint("share_pages", __name__, template_folder="templates")
COOKIE = "share_token"
_CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "
    "form-action 'self'"
)
#: Most documents, reports or studies listed of a whole record.
_LISTED = 50


def _shares() -> OutsideShares:
    return current_app.extensions["outside_shares"]  # type: ignore[no-any-return]


def _language(row: dict[str, Any] | None = None) -> str:
    if request.cookies.get("lang") in wording.LANGUAGES or row is None:
        return i18n.negotiate(
            request.cookies.get("lang"), request.headers.get("Accept-Language", "")
        )
    return str(row["language"])


def recipient_page(
    template: str, lang: str, text: Callable[..., str], status: int = 200, **context: Any
) -> Response:
    """A page for someone without an account (a share's recipient, a result code's holder) in
    the portal's design: ``text(key, lang, **values)`` says its words; no caching, no framing,
    and no referrer (the link's id or the code is in the address: never sent to another
    site)."""
    body = render_template(
        template,
        lang=lang,
        t=lambda key, **values: text(key, lang, **values),
        day=lambda value: wording.day(value, lang),
        languages=wording.LANGUAGES,
        language_names=wording.NAMES,
        here=request.path,
        **context,
    )
    return Response(
        body,
        status=status,
        mimetype="text/html",
        headers={
            "Content-Language": lang,
            "Cache-Control": "no-store",
            "Content-Security-Policy": _CSP,
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        },
    )


def _page(template: str, lang: str, status: int = 200, **context: Any) -> Response:
    return recipient_page(template, lang, wording.text, status, **context)


def _message(key: str, title: str, lang: str, status: int) -> Response:
    return _page(
        "share_message.html",
        lang,
        status,
        title=wording.text(title, lang),
        message=wording.text(key, lang),
    )


def _opened(link_id: str) -> dict[str, Any] | Response:
    try:
        return _shares().opened(link_id)
    except ShareLocked:
        return _message("locked", "locked_title", _language(), 403)
    except ShareClosed:
        return _message("closed", "closed_title", _language(), 404)


def _grant_of_request(row: dict[str, Any]) -> tuple[Grant, str] | None:
    """The grant of this share the request holds, and its token: the token in the link's
    cookie, or a bearer token (an API client); None for anything else, including another
    share's token."""
    policy = current_app.extensions["access_policy"]
    token = request.cookies.get(COOKIE) or ""
    authorization = request.headers.get("Authorization")
    if authorization:
        token = authorization.partition(" ")[2].strip()
    elif not token:
        return None
    try:
        grant: Grant = policy.grant_for({"Authorization": f"Bearer {token}"})
    except ApiError:
        return None
    return (grant, token) if grant.subject == f"share:{row['id']}" else None


@pages.route("/<link_id>", methods=["GET"])
def show(link_id: str) -> Response:
    row = _opened(link_id)
    if isinstance(row, Response):
        return row
    lang = _language(row)
    held = _grant_of_request(row)
    if held is None:
        return _page("share_pin.html", lang, title=wording.text("title", lang))
    grant, token = held
    try:
        documents, studies = _shared(row, grant, lang)
    except HisUnreachable:
        return _message("unavailable", "title", lang, 503)
    return _page(
        "share_view.html",
        lang,
        title=wording.text("title", lang),
        end=translations.moment(row["period_end"], lang),
        comment=row["comment"],
        documents=documents,
        studies=studies,
        viewer="dicomweb" in current_app.extensions,
        token=token,
        link_id=link_id,
    )


@pages.route("/<link_id>", methods=["POST"])
def unlock(link_id: str) -> Response:
    row = _opened(link_id)
    if isinstance(row, Response):
        return row
    lang = _language(row)
    patients = [int(row["his_patient_id"])]
    consent = f"share-{row['id']}"
    pin = request.form.get("pin", "").strip()[:16]
    shares = _shares()
    try:
        unlocked = shares.unlock(link_id, pin)
    except ShareClosed:
        return _message("closed", "closed_title", lang, 404)
    except ShareLocked:
        audit.record(
            None, "share-open", "Consent", outcome="denied", ids=[consent], patients=patients
        )
        return _message("locked", "locked_title", lang, 403)
    except TryLater as busy:
        response = _page(
            "share_pin.html",
            lang,
            429,
            title=wording.text("title", lang),
            error=wording.text("try_later", lang, seconds=busy.retry_after),
            error_field="pin",
        )
        response.headers["Retry-After"] = str(busy.retry_after)
        return response
    except WrongPin:
        audit.record(
            None, "share-open", "Consent", outcome="denied", ids=[consent], patients=patients
        )
        left = max(0, shares.max_attempts - shares.failures(int(row["id"])))
        return _page(
            "share_pin.html",
            lang,
            400,
            title=wording.text("title", lang),
            error=wording.text("wrong_pin", lang, left=left),
            error_field="pin",
        )
    audit.record(grant_of(row), "share-open", "Consent", outcome="allowed", ids=[consent])
    response = Response(
        status=303,
        headers={"Location": url_for(".show", link_id=link_id), "Cache-Control": "no-store"},
    )
    response.set_cookie(
        COOKIE,
        unlocked.token,
        max_age=unlocked.expires_in,
        path=f"/share/{link_id}",
        httponly=True,
        samesite="Strict",
        secure=current_app.config["SETTINGS"].base_url.startswith("https://"),
    )
    return response


@pages.route("/<link_id>/files/<binary_id>", methods=["GET"])
def file(link_id: str, binary_id: str) -> Response:
    row = _opened(link_id)
    if isinstance(row, Response):
        return row
    held = _grant_of_request(row)
    if held is None:
        lang = _language(row)
        return _page("share_pin.html", lang, 401, title=wording.text("title", lang))
    grant = held[0]
    fhir = current_app.extensions["fhir_service"]
    try:
        _resource, record = fhir.binary(grant, binary_id[:64])
    except HisUnreachable:
        return _message("unavailable", "title", _language(row), 503)
    except ApiError as exc:
        if exc.status == 404:
            return _message("none", "title", _language(row), 404)
        raise
    name = f"{record['number']}.pdf" if record.get("content_type") == "application/pdf" else ""
    disposition = f'attachment; filename="{name}"' if name else "attachment"
    return Response(
        record["content"],
        mimetype=record["content_type"],
        headers={
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


# --- what the page lists ----------------------------------------------------------------------


def _shared(
    row: dict[str, Any], grant: Grant, lang: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The documents (title, date, files) and studies (title, date, Study Instance UID) the
    share covers, read with its own grant; a title that is only the kind's English name is
    said in ``lang``."""
    fhir = current_app.extensions["fhir_service"]
    resources: list[dict[str, Any]] = []
    if row["resources"] is None:
        for rtype in ("DocumentReference", "DiagnosticReport", "ImagingStudy"):
            bundle = fhir.search(grant, rtype, [("_count", str(_LISTED))], strict=False)
            resources += [
                e["resource"]
                for e in bundle.get("entry", [])
                if e.get("search", {}).get("mode") == "match"
            ]
    else:
        for ref in sorted(row["resources"].split()):
            rtype, _, rid = ref.partition("/")
            if rtype == "Binary":
                continue
            try:
                resources.append(fhir.read(grant, rtype, rid))
            except ApiError as exc:
                if exc.status != 404:
                    raise
    documents, studies = [], []
    for resource in resources:
        title = wording.kind(_title(resource), lang)
        if resource["resourceType"] == "ImagingStudy":
            uid = _study_uid(resource)
            if uid:
                studies.append(
                    {"title": title, "date": resource.get("started", "")[:10], "uid": uid}
                )
            continue
        when = resource.get("date") or resource.get("effectiveDateTime") or resource.get("issued")
        files = [ref.partition("/")[2] for ref in files_of(resource)]
        documents.append({"title": title, "date": str(when or "")[:10], "files": files})
    return documents, studies


def _title(resource: dict[str, Any]) -> str:
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


def _study_uid(resource: dict[str, Any]) -> str | None:
    for ident in resource.get("identifier", []):
        if ident.get("system") == "urn:dicom:uid" and str(ident.get("value", "")).startswith(
            "urn:oid:"
        ):
            return str(ident["value"])[len("urn:oid:") :]
    return None
