"""The Flask adapter of the authorization server: thin views over ``SmartAuthorizationServer``.

Endpoints (advertised by ``conformance.smart``): ``/fhir/.well-known/smart-configuration``,
``/oauth/authorize`` (GET and POST; sign-in, patient picker, consent), ``/oauth/token``,
``/oauth/revoke`` (RFC 7009), ``/oauth/introspect`` (RFC 7662), ``/oauth/jwks``,
``/oauth/apps`` (a person's authorised apps, with revoke: the ``management_endpoint``),
``/oauth/launch`` (the portal's EHR launch of an app), ``/oauth/client-launch`` (a confidential
client's own EHR launch, started on the back channel: the portal's identity switch) and, when
enabled, ``/oauth/register`` (RFC 7591).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit

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

from access import audit
from access.errors import Forbidden, Unauthorized
from access.scopes import ScopeSet, narrow, parse_scopes
from fhir_gateway.inputs import MAX_VALUE, problem
from smart_auth.session import auth_time, current_account_id, login_url

from . import wording
from .consent import fhir_user, identities
from .grantable import written
from .registration import register_dynamic
from .server import SmartAuthorizationServer
from .store import AuthorizedUser

bp = Blueprint("smart_oauth", __name__, template_folder="templates")
_CSRF = "oauth_csrf"
_OWN_FIELDS = {"csrf_token", "_consent", "patient", "scope_choice", "decision"}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Every answer of the authorization server may not be framed (clickjacking of the consent
#: page: OWASP ASVS V14.4.7) and runs no script; the consent page adds where its form may lead.
_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP + "; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@bp.after_request
def _page_headers(response: Response) -> Response:
    for name, value in _PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _server() -> SmartAuthorizationServer:
    return current_app.extensions["smart_oauth"]  # type: ignore[no-any-return]


def _csrf() -> str:
    token = session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session[_CSRF] = token
    return token


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "").encode()
    if not hmac.compare_digest(sent, (session.get(_CSRF) or "-").encode()):
        abort(400)


#: Characters of ``state`` (RFC 6749 §4.1.1 sets no bound; the client gets it back in a header,
#: so the server keeps one): a client's random value or a short reference to its own state fits.
MAX_STATE = 1024
#: Characters of any other authorization request parameter (a redirect URI, a scope list).
MAX_AUTHORIZE_VALUE = 2048
#: What ``/oauth/authorize`` carries through the sign-in page: the parameters of an
#: authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1, SMART
#: App Launch ``aud`` and ``launch``) and nothing else a caller appends.
_AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "launch",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
    "ui_locales",
    "display",
    "response_mode",
)


def _json_pairs(value: Any, name: str = "") -> list[tuple[str, str]]:
    """The strings of a JSON body as (path, text) pairs, names included, for ``problem``."""
    if isinstance(value, dict):
        pairs = [(str(key)[:200], "") for key in value]
        for key, item in value.items():
            pairs += _json_pairs(item, str(key)[:200])
        return pairs
    if isinstance(value, list):
        return [pair for item in value for pair in _json_pairs(item, name)]
    return [(name, value)] if isinstance(value, str) else []


@bp.before_request
def _refuse_bad_text() -> Response | None:
    """The authorization server's one input check (``fhir_gateway.inputs``), before Authlib, the
    store or a redirect sees a value: query, form, JSON body and credential. A refusal is 400
    ``invalid_request`` (RFC 6749 §5.2) in JSON, never a redirect: a request with a value this
    server cannot store or echo is not redirected anywhere, whether its client is valid or not
    (RFC 6749 §4.1.2.1 allows the redirect, it does not oblige it), and its values are not
    repeated in the answer."""
    endpoint = (request.endpoint or "").rpartition(".")[2]
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
        if endpoint == "register":
            pairs += _json_pairs(request.get_json(silent=True))
    credential = request.headers.get("Authorization")
    if credential is not None:
        pairs.append(("Authorization", credential))
    if endpoint == "authorize":
        found = problem(pairs, max_value=MAX_AUTHORIZE_VALUE, limits={"state": MAX_STATE})
    else:
        found = problem(pairs, limits={"client_assertion": 4 * MAX_VALUE})
    if found is None:
        return None
    code = "invalid_client_metadata" if endpoint == "register" else "invalid_request"
    response = jsonify(error=code, error_description=found)
    response.status_code = 400
    response.headers.update(NO_STORE)
    return response


def _original_params() -> dict[str, str]:
    return {k: v for k, v in request.values.items() if k not in _OWN_FIELDS}


def _request_params() -> dict[str, str]:
    """The authorization request alone, to carry through the sign-in page (bounded by
    ``_refuse_bad_text``): a caller's other parameters are not put into the Location header."""
    return {k: v for k, v in request.values.items() if k in _AUTHORIZE_PARAMS}


@bp.get("/fhir/.well-known/smart-configuration")
def smart_configuration() -> Response:
    """SMART App Launch 2.x "Conformance": JSON whatever the Accept header."""
    response = jsonify(current_app.extensions["smart_configuration"])
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    """OpenID Connect Discovery 1.0 §4: at the issuer's URL plus this path."""
    response = jsonify(current_app.extensions["openid_configuration"])
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
        return redirect(login_url(url_for(".authorize") + "?" + urlencode(_request_params())))
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
        found = server.store.launched(launch, grant.client.get_client_id(), account)
        if found is None:
            return _deny(grant, "invalid_request", "The launch value is unknown or expired")
        launched, approved = found
        if approved is not None:
            return _approved_launch(grant, account, launched, approved, mine)
    if request.method == "POST" and request.form.get("_consent"):
        _check_csrf()
        if request.form.get("decision") != "allow":
            return server.create_authorization_response(grant_user=None, grant=grant)
        chosen = narrow(parse_scopes(" ".join(request.form.getlist("scope_choice"))), offered)
        asked = grant.request.payload.scope or ""
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
            scope=written(chosen, asked),
        )
        return server.create_authorization_response(grant_user=user, grant=grant)
    patients = [] if launched is not None or not offered.needs_patient_context else mine
    if offered.needs_patient_context and launched is None and not mine:
        return _deny(grant, "access_denied", "This account acts for no patient yet")
    registered = narrow(
        parse_scopes(grant.request.payload.scope or ""), parse_scopes(grant.client.scope)
    )
    lang = _language()
    redirect_uri = grant.request.payload.redirect_uri or grant.client.get_default_redirect_uri()
    return _page(
        "oauth_consent.html",
        lang,
        form_action=_origin(redirect_uri or ""),
        client=grant.client,
        patients=patients,
        described=wording.describe(offered, lang),
        not_offered=not offered.covers(registered),
        csrf=_csrf(),
        action=url_for(".authorize") + "?" + urlencode(_original_params()),
    )


def _approved_launch(grant: Any, account: int, patient: int, approved: str, mine: list[Any]) -> Any:
    """An authorization request with a launch its client started itself on the back channel
    (``/oauth/client-launch``): the person approved this client's scope before, so no consent
    page; the grant is what was asked within that approval, for the launch's patient, once the
    guardianship data still say the account acts for that patient."""
    if patient not in {i.patient_id for i in mine}:
        return _deny(grant, "access_denied", "This account does not act for that patient")
    asked = grant.request.payload.scope or ""
    chosen = narrow(parse_scopes(asked), _for_one_patient(parse_scopes(approved)))
    if not chosen.resources:
        return _deny(grant, "invalid_scope", "Nothing of that scope was approved")
    user = AuthorizedUser(
        account_id=account,
        patient_id=patient,
        fhir_user=fhir_user(current_app.extensions["his"], mine, patient),
        auth_time=auth_time(),
        scope=written(chosen, asked),
    )
    return _server().create_authorization_response(grant_user=user, grant=grant)


def _for_one_patient(approved: ScopeSet) -> ScopeSet:
    """An approval at the account's level (``user/``: every patient it acts for) also approves
    the same access to one of those patients (``patient/``, with that patient in context), which
    is strictly less; an approval at the patient's level stays as it is."""
    lowered = tuple(
        replace(s, level="patient") if s.level == "user" else s for s in approved.resources
    )
    return replace(approved, resources=approved.resources + lowered)


def _language() -> str:
    """The account pages' choice: the switcher's cookie, else Accept-Language, else English."""
    return wording.negotiate(
        request.cookies.get("lang"), request.headers.get("Accept-Language", "")
    )


def _page(template: str, lang: str, *, form_action: str = "", **context: Any) -> Response:
    """A page in the account pages' frame and language, never cached; its forms may post to
    this site and, for the consent page, lead to ``form_action`` (the app's redirect URI)."""
    body = render_template(
        template,
        lang=lang,
        t=lambda key, **values: wording.text(key, lang, **values),
        languages=wording.LANGUAGES,
        language_names=wording.NAMES,
        here=request.full_path.rstrip("?"),
        **context,
    )
    headers = {
        "Content-Language": lang,
        "Cache-Control": "no-store",
        "Content-Security-Policy": f"{_CSP}; form-action 'self' {form_action}".rstrip(),
    }
    return Response(body, headers=headers, mimetype="text/html")


def _origin(uri: str) -> str:
    """A CSP source for where the consent form's answer redirects (the app's redirect URI)."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:" if parts.scheme.isascii() and parts.scheme.isalnum() else ""


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


def _person_only(action: str) -> Response | None:
    """The management pages act for the person signed in to the portal, never for an app.

    A request that presents a bearer token (RFC 6750 §2.1) is answered by RFC 6750 §3.1: 401
    ``invalid_token`` when the token is expired, revoked or unknown, 403 ``insufficient_scope``
    when it is good (no SMART scope lets an app see or change which apps a person allowed).
    Either way the refusal is audited. None: no bearer token, go on with the session.
    """
    if request.headers.get("Authorization") is None:
        return None
    policy = current_app.extensions["access_policy"]
    try:
        grant = policy.grant_for(request.headers)
    except Unauthorized as error:
        audit.record(None, action, "AuthorizedApps", outcome="denied")
        return _bearer_error(error, "invalid_token")
    audit.record(grant, action, "AuthorizedApps", outcome="denied")
    refusal = Forbidden(
        "Only the person signed in to the portal manages their apps", realm=policy.realm
    )
    return _bearer_error(refusal, "insufficient_scope")


def _bearer_error(error: Unauthorized | Forbidden, code: str) -> Response:
    response = jsonify(error=code, error_description=error.diagnostics)
    response.status_code = error.status
    response.headers.update(error.headers)
    response.headers.update(NO_STORE)
    return response


def _signed_out() -> Response:
    """401 for a POST without a signed-in person (no credentials: no ``error``, RFC 6750 §3)."""
    realm = current_app.extensions["access_policy"].realm
    return _bearer_error(Unauthorized("Sign in first", realm=realm), "unauthorized")


@bp.get("/oauth/apps")
def apps() -> Any:
    refused = _person_only("read")
    if refused is not None:
        return refused
    account = current_account_id()
    if account is None:
        return redirect(login_url(url_for(".apps")))
    listed = _server().store.authorized_apps(account)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(listed)
    return _page("oauth_apps.html", _language(), apps=listed, csrf=_csrf())


@bp.post("/oauth/apps/revoke")
def revoke_app() -> Any:
    refused = _person_only("delete")
    if refused is not None:
        return refused
    account = current_account_id()
    if account is None:
        return _signed_out()
    _check_csrf()
    _server().store.revoke_app(account, request.form.get("client_id", ""))
    return redirect(url_for(".apps"))


@bp.post("/oauth/launch")
def ehr_launch() -> Any:
    """SMART "EHR launch": the portal opens an app with a launch value bound to the patient
    active in it; the app comes back to ``/oauth/authorize`` with ``launch``."""
    refused = _person_only("create")
    if refused is not None:
        return refused
    account = current_account_id()
    if account is None:
        return _signed_out()
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


#: Who may start a launch on the back channel: a confidential client, authenticated.
_CONFIDENTIAL = ["client_secret_basic", "private_key_jwt"]


@bp.post("/oauth/client-launch")
def client_launch() -> Response:
    """An EHR launch a confidential client starts itself, on the back channel, for the account
    of a grant it holds (``subject_token``: a live access token issued to this client for that
    account) and one ``patient`` the account acts for by the gateway's own guardianship data.
    The answer is an opaque ``launch`` value, bound to the client, the account and the patient,
    carrying the scope of that grant: the client sends the person's browser to
    ``/oauth/authorize`` with it (the ``launch`` scope) and gets a token with that patient in
    context, without a consent page and, while the person's session here lasts, without a
    password. This is how the portal switches identity. OAuth errors: ``invalid_client`` (401),
    ``invalid_grant`` (a token that is not this client's live grant of an account, 400),
    ``access_denied`` (a patient the account does not act for, 403)."""
    server = _server()
    try:
        client = server.authenticate_client(
            server.create_oauth2_request(request), _CONFIDENTIAL, "launch"
        )
    except OAuth2Error as error:
        failed: Response = server.handle_error_response(None, error)
        failed.headers.update(NO_STORE)
        return failed
    row = server.store.by_access_token(request.form.get("subject_token", ""))
    if (
        client.kind != "app"
        or row is None
        or row.client_id != client.client_id
        or row.account_id is None
    ):
        return _oauth_error(400, "invalid_grant", "The subject token is not a live grant")
    picked = request.form.get("patient", "")
    engine = current_app.extensions["state_engine"]
    account = int(row.account_id)
    mine = {i.patient_id for i in identities(engine, current_app.extensions["his"], account)}
    if not picked.isdigit() or int(picked) not in mine:
        return _oauth_error(403, "access_denied", "This account does not act for that patient")
    ttl = server.config.launch_lifetime_s
    launch = server.store.create_launch(client.client_id, account, int(picked), ttl, row.scope)
    response = jsonify(launch=launch, expires_in=ttl)
    response.headers.update(NO_STORE)
    return response


def _oauth_error(status: int, code: str, description: str) -> Response:
    response = jsonify(error=code, error_description=description)
    response.status_code = status
    response.headers.update(NO_STORE)
    return response


@bp.post("/oauth/register")
def register() -> Response:
    if not current_app.extensions.get("smart_dynamic_registration"):
        abort(404)
    status, body = register_dynamic(_server().store, request.get_json(silent=True))
    response = jsonify(body)
    response.status_code = status
    response.headers.update(NO_STORE)
    return response
