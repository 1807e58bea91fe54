"""The Flask adapter of the authorization server: thin views over ``SmartAuthorizationServer``.

Endpoints (advertised by ``conformance.smart``): ``/fhir/.well-known/smart-configuration``,
``/oauth/authorize`` (GET and POST; sign-in, patient picker, consent), ``/oauth/token``,
``/oauth/revoke`` (RFC 7009), ``/oauth/introspect`` (RFC 7662), ``/oauth/jwks``,
``/oauth/apps`` (a person's authorised apps, with revoke: the ``management_endpoint``),
``/oauth/launch`` (the portal's EHR launch) and, when enabled, ``/oauth/register`` (RFC 7591).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error  # type: ignore[import-untyped]
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from access.scopes import narrow, parse_scopes
from smart_auth.session import auth_time, current_account_id, login_url

from .consent import describe, fhir_user, identities
from .registration import register_dynamic
from .server import SmartAuthorizationServer
from .store import AuthorizedUser

bp = Blueprint("smart_oauth", __name__, template_folder="templates")
_CSRF = "oauth_csrf"
_OWN_FIELDS = {"csrf_token", "_consent", "patient", "scope_choice", "decision"}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _server() -> SmartAuthorizationServer:
    return current_app.extensions["smart_oauth"]  # type: ignore[no-any-return]


def _csrf() -> str:
    token = session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session[_CSRF] = token
    return token


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not hmac.compare_digest(sent, session.get(_CSRF) or "-"):
        abort(400)


def _original_params() -> dict[str, str]:
    return {k: v for k, v in request.values.items() if k not in _OWN_FIELDS}


@bp.get("/fhir/.well-known/smart-configuration")
def smart_configuration() -> Response:
    """SMART App Launch 2.x "Conformance": JSON whatever the Accept header."""
    response = jsonify(current_app.extensions["smart_configuration"])
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/oauth/jwks")
def jwks() -> Response:
    response = jsonify(_server().keys.jwks())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    server = _server()
    account = current_account_id()
    if account is None:
        return redirect(login_url(url_for(".authorize") + "?" + urlencode(_original_params())))
    try:
        grant = server.get_consent_grant(end_user=account)
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    engine = current_app.extensions["state_engine"]
    his = current_app.extensions["his"]
    mine = identities(engine, his, account)
    offered = parse_scopes(grant.request.scope or "")
    launch = grant.request.payload.data.get("launch")
    launched: int | None = None
    if launch:
        launched = server.store.launch(launch, grant.client.get_client_id(), account)
        if launched is None:
            return _deny(grant, "invalid_request", "The launch value is unknown or expired")
    if request.method == "POST" and request.form.get("_consent"):
        _check_csrf()
        if request.form.get("decision") != "allow":
            return server.create_authorization_response(grant_user=None, grant=grant)
        chosen = narrow(parse_scopes(" ".join(request.form.getlist("scope_choice"))), offered)
        patient = launched
        if patient is None and chosen.needs_patient_context:
            picked = request.form.get("patient", "")
            allowed = {i.patient_id for i in mine}
            patient = int(picked) if picked.isdigit() and int(picked) in allowed else None
            if patient is None:
                return _deny(grant, "invalid_request", "No patient was chosen")
        user = AuthorizedUser(
            account_id=account,
            patient_id=patient,
            fhir_user=fhir_user(his, mine, patient),
            auth_time=auth_time(),
            scope=chosen.to_string(),
        )
        return server.create_authorization_response(grant_user=user, grant=grant)
    patients = [] if launched is not None or not offered.needs_patient_context else mine
    if offered.needs_patient_context and launched is None and not mine:
        return _deny(grant, "access_denied", "This account acts for no patient yet")
    return render_template(
        "oauth_consent.html",
        client=grant.client,
        patients=patients,
        described=describe(offered),
        csrf=_csrf(),
        action=url_for(".authorize") + "?" + urlencode(_original_params()),
    )


def _deny(grant: Any, error: str, description: str) -> Any:
    params = {"error": error, "error_description": description}
    state = grant.request.payload.state
    if state:
        params["state"] = state
    redirect_uri = grant.request.payload.redirect_uri or grant.client.get_default_redirect_uri()
    sep = "&" if "?" in redirect_uri else "?"
    return redirect(redirect_uri + sep + urlencode(params))


@bp.post("/oauth/token")
def token() -> Response:
    response: Response = _server().create_token_response()
    response.headers.update(NO_STORE)
    return response


@bp.post("/oauth/revoke")
def revoke() -> Response:
    return _server().create_endpoint_response("revocation")  # type: ignore[no-any-return]


@bp.post("/oauth/introspect")
def introspect() -> Response:
    response: Response = _server().create_endpoint_response("introspection")
    response.headers.update(NO_STORE)
    return response


@bp.get("/oauth/apps")
def apps() -> Any:
    account = current_account_id()
    if account is None:
        return redirect(login_url(url_for(".apps")))
    listed = _server().store.authorized_apps(account)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(listed)
    return render_template("oauth_apps.html", apps=listed, csrf=_csrf())


@bp.post("/oauth/apps/revoke")
def revoke_app() -> Any:
    account = current_account_id()
    if account is None:
        abort(401)
    _check_csrf()
    _server().store.revoke_app(account, request.form.get("client_id", ""))
    return redirect(url_for(".apps"))


@bp.post("/oauth/launch")
def ehr_launch() -> Any:
    """SMART "EHR launch": the portal opens an app with a launch value bound to the patient
    active in it; the app comes back to ``/oauth/authorize`` with ``launch``."""
    account = current_account_id()
    if account is None:
        abort(401)
    _check_csrf()
    server = _server()
    client = server.store.client(request.form.get("client_id", ""))
    picked = request.form.get("patient", "")
    engine = current_app.extensions["state_engine"]
    mine = {i.patient_id for i in identities(engine, current_app.extensions["his"], account)}
    if client is None or not client.launch_uri or not picked.isdigit() or int(picked) not in mine:
        abort(400)
    launch = server.store.create_launch(
        client.client_id, account, int(picked), server.config.launch_lifetime_s
    )
    iss = server.config.base_url
    sep = "&" if "?" in client.launch_uri else "?"
    return redirect(client.launch_uri + sep + urlencode({"iss": iss, "launch": launch}))


@bp.post("/oauth/register")
def register() -> Response:
    if not current_app.extensions.get("smart_dynamic_registration"):
        abort(404)
    status, body = register_dynamic(_server().store, request.get_json(silent=True))
    response = jsonify(body)
    response.status_code = status
    response.headers.update(NO_STORE)
    return response
