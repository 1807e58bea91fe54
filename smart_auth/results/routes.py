"""``POST /auth/result-access`` (F9): form ``code``, ``national_id`` and, unless bot protection
is off, ``altcha`` (a solved challenge of ``GET /altcha/challenge``, F3) -> a bearer token.

The answer is JSON in the shape of an OAuth 2.0 token response (RFC 6749 §5.1) plus the
references it opens: ``{"access_token", "token_type": "Bearer", "expires_in", "report",
"binary"}``. A wrong pair is 400 ``invalid_grant`` without saying which half was wrong; past the
attempt limit 429 with ``Retry-After`` (RFC 6585 §4); while the HIS does not answer 503
``temporarily_unavailable`` with ``Retry-After``, no attempt counted. Responses are never cached.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from access import audit
from fhir_gateway.his.connector import HisUnreachable
from fhir_gateway.inputs import problem
from smart_auth import botcheck
from smart_auth.state import shared_engine

from .auth import ResultCodeValidator
from .pages import init_pages
from .service import ResultAccess, ResultAccessError, TooManyAttempts

results = Blueprint("results", __name__)

#: Seconds a client is told to wait when the HIS does not answer.
RETRY_AFTER_S = 5


def init_app(app: Flask, settings: Any) -> ResultAccess:
    state = shared_engine(app.extensions, settings.state_url)
    service = ResultAccess(
        state,
        app.extensions["his"],
        ttl_s=settings.results_token_ttl_s,
        max_attempts=settings.results_max_attempts,
        block_s=settings.results_block_s,
    )
    app.extensions["result_access"] = service
    app.extensions["access_policy"].register_token_validator(ResultCodeValidator(service))
    app.register_blueprint(results, url_prefix="/auth")
    init_pages(app)  # the same, as a page for people (F9)
    return service


def _answer(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@results.before_request
def _refuse_bad_text() -> Response | None:
    """This surface's one input check (``fhir_gateway.inputs``): a code or national ID with a
    control character or an unpaired surrogate, or an over-long form, is 400
    ``invalid_request`` (RFC 6749 §5.2) before it reaches the attempt counter or a database.
    The check itself counts as no attempt: such a value cannot be anybody's code."""
    pairs = list(request.args.items(multi=True)) + list(request.form.items(multi=True))
    found = problem(pairs)
    if found is None:
        return None
    return _answer({"error": "invalid_request", "error_description": found}, 400)


@results.route("/result-access", methods=["POST"])
def result_access() -> Response:
    service: ResultAccess = current_app.extensions["result_access"]
    check = botcheck.current()
    if check is not None and not check.verify(request.form.get("altcha")):
        # no attempt counted: the proof of work (F3) comes before any code is judged
        return _answer(
            {
                "error": "invalid_request",
                "error_description": "The proof of work (altcha, from GET /altcha/challenge) "
                "is missing, expired, already used or wrong",
            },
            400,
        )
    code = request.form.get("code", "")[:32]
    national_id = request.form.get("national_id", "")[:32]
    try:
        granted = service.redeem(code, national_id, request.remote_addr or "-")
    except HisUnreachable:
        # The HIS that holds the codes is down or hung: nothing was checked and no attempt is
        # counted. OAuth's "temporarily_unavailable" (RFC 6749 §4.1.2.1) as a 503 (RFC 9110
        # §15.6.4) with Retry-After, as the FHIR API answers then.
        return _answer(
            {
                "error": "temporarily_unavailable",
                "error_description": "The hospital system is not answering; try again shortly",
            },
            503,
            {"Retry-After": str(RETRY_AFTER_S)},
        )
    except TooManyAttempts as exc:
        audit.record(None, "result-access", "DiagnosticReport", outcome="denied")
        return _answer(
            {"error": "slow_down", "error_description": "Too many attempts; try again later"},
            429,
            {"Retry-After": str(exc.retry_after)},
        )
    except ResultAccessError:
        audit.record(None, "result-access", "DiagnosticReport", outcome="denied")
        return _answer(
            {"error": "invalid_grant", "error_description": "The code or national ID is wrong"},
            400,
        )
    grant = service.grant_for(granted.token)
    audit.record(
        grant,
        "result-access",
        "DiagnosticReport",
        outcome="allowed",
        ids=[granted.report.partition("/")[2]],
    )
    body: dict[str, Any] = {
        "access_token": granted.token,
        "token_type": "Bearer",
        "expires_in": granted.expires_in,
        "report": granted.report,
    }
    if granted.binary:
        body["binary"] = granted.binary
    return _answer(body, 200)
