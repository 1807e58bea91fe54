"""The page of results without an account (F9), under ``/result-access``, in the design of
the portal.

``GET /result-access``: the form (the result code and the patient's national ID), or, once a
code was redeemed in this browser, the report it opens; ``POST /result-access``: redeems the
pair with the same service, limits and audit as ``POST /auth/result-access`` and keeps the
one-report token in a cookie limited to this page's path (HttpOnly, SameSite=Strict, as long
as the token lives); ``GET /result-access/report.pdf``: the report's PDF, as an attachment;
``POST /result-access/close``: forgets the token.

The flow stays on the gateway, in the patient's browser: the attempts are counted per
national ID and per client address, and only the gateway sees the browser's address (a
portal asking in its stead would make every visitor one address, so a few wrong codes would
block the page for everyone). A wrong code or ID answers one neutral message whichever was
wrong.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, url_for

from access import audit
from access.errors import ApiError
from access.policy import Grant
from fhir_gateway.his.connector import HisUnreachable
from fhir_gateway.inputs import problem
from smart_auth import botcheck
from smart_auth.accounts import i18n

from ..sharing.pages import recipient_page
from . import wording
from .service import ResultAccess, ResultAccessError, TooManyAttempts

pages = Blueprint("result_pages", __name__, template_folder="templates")
COOKIE = "result_token"
PATH = "/result-access"


def init_pages(app: Flask) -> None:
    app.register_blueprint(pages, url_prefix=PATH)


def _service() -> ResultAccess:
    return current_app.extensions["result_access"]  # type: ignore[no-any-return]


def _language() -> str:
    return i18n.negotiate(request.cookies.get("lang"), request.headers.get("Accept-Language", ""))


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return recipient_page(template, _language(), wording.text, status, **context)


def _form(status: int = 200, error: str | None = None, **context: Any) -> Response:
    lang = _language()
    said = None
    if error == "botcheck":
        said = botcheck.text("required", lang)
    elif error:
        said = wording.text(error, lang, **context)
    return _page(
        "result_access.html",
        status,
        title=wording.text("title", lang),
        error=said,
        error_field="code" if error else None,
    )


def _held() -> tuple[Grant, str] | None:
    """The grant of the token in this page's cookie, and the token; None without one (or once
    it expired)."""
    token = request.cookies.get(COOKIE) or ""
    if not token:
        return None
    grant = _service().grant_for(token)
    return (grant, token) if grant is not None else None


def _report_of(grant: Grant) -> tuple[str, str | None]:
    """The reference of the one report a grant opens, and of its PDF."""
    resources = grant.resources or frozenset()
    report = next(r for r in resources if r.startswith("DiagnosticReport/"))
    binary = next((r for r in resources if r.startswith("Binary/")), None)
    return report, binary


@pages.route("", methods=["GET"])
def show() -> Response:
    held = _held()
    if held is None:
        return _form()
    grant = held[0]
    report_ref, binary = _report_of(grant)
    fhir = current_app.extensions["fhir_service"]
    try:
        report = fhir.read(grant, "DiagnosticReport", report_ref.partition("/")[2])
    except HisUnreachable:
        return _form(503, "unavailable")
    except ApiError as exc:
        if exc.status != 404:
            raise
        return _form()
    lang = _language()
    when = report.get("effectiveDateTime") or report.get("issued") or ""
    code = report.get("code") or {}
    title = code.get("text") or next(
        (c.get("display") for c in code.get("coding", []) if c.get("display")), ""
    )
    return _page(
        "result_report.html",
        title=wording.text("result_title", lang),
        report_title=str(title)[:200],
        date=str(when)[:10],
        report_status=report.get("status", ""),
        conclusion=str(report.get("conclusion") or "")[:2000],
        pdf=binary is not None,
        minutes=max(1, _service().ttl_s // 60),
    )


@pages.route("", methods=["POST"])
def redeem() -> Response:
    pairs = list(request.form.items(multi=True))
    if problem(pairs) is not None:
        audit.record(None, "result-access", "DiagnosticReport", outcome="denied")
        return _form(400, "wrong")
    check = botcheck.current()
    if botcheck.needed() and check is not None and not check.verify(request.form.get("altcha")):
        audit.record(None, "result-access", "DiagnosticReport", outcome="denied")
        return _form(400, "botcheck")
    service = _service()
    code = request.form.get("code", "")[:32]
    national_id = request.form.get("national_id", "")[:32]
    try:
        granted = service.redeem(code, national_id, request.remote_addr or "-")
    except HisUnreachable:
        response = _form(503, "unavailable")
        response.headers["Retry-After"] = "5"
        return response
    except TooManyAttempts as exc:
        audit.record(None, "result-access", "DiagnosticReport", outcome="denied")
        response = _form(429, "too_many", minutes=max(1, -(-exc.retry_after // 60)))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ResultAccessError:
        audit.record(None, "result-access", "DiagnosticReport", outcome="denied")
        return _form(400, "wrong")
    audit.record(
        service.grant_for(granted.token),
        "result-access",
        "DiagnosticReport",
        outcome="allowed",
        ids=[granted.report.partition("/")[2]],
    )
    response = Response(
        status=303, headers={"Location": url_for(".show"), "Cache-Control": "no-store"}
    )
    response.set_cookie(
        COOKIE,
        granted.token,
        max_age=granted.expires_in,
        path=PATH,
        httponly=True,
        samesite="Strict",
        secure=current_app.config["SETTINGS"].base_url.startswith("https://"),
    )
    return response


@pages.route("/report.pdf", methods=["GET"])
def pdf() -> Response:
    held = _held()
    if held is None:
        return _form(401)
    grant = held[0]
    binary = _report_of(grant)[1]
    if binary is None:
        return _form(404)
    fhir = current_app.extensions["fhir_service"]
    try:
        _resource, record = fhir.binary(grant, binary.partition("/")[2])
    except HisUnreachable:
        return _form(503, "unavailable")
    except ApiError as exc:
        if exc.status == 404:
            return _form(404)
        raise
    return Response(
        record["content"],
        mimetype=record["content_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{record["number"]}.pdf"'
            if record.get("content_type") == "application/pdf"
            else "attachment",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@pages.route("/close", methods=["POST"])
def close() -> Response:
    """Forget the token in this browser (a shared computer); the grant itself ends with its
    time."""
    response = Response(
        status=303, headers={"Location": url_for(".show"), "Cache-Control": "no-store"}
    )
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="Strict")
    return response
