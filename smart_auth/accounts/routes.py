"""The accounts pages (thin: each view reads the form, calls ``AccountService``, renders).

Every POST carries the per-session CSRF token (OWASP ASVS V4.2.2); every page is sent with
security headers (CSP without inline script, no framing, no caching, no referrer).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from fhir_gateway.inputs import problem
from smart_auth import botcheck
from smart_auth import session as signed
from smart_auth.translations import translate

from . import hospital, i18n
from .service import AccountService

bp = Blueprint("accounts", __name__, url_prefix="/account", template_folder="templates")
REMEMBER_COOKIE = "remember"
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _svc() -> AccountService:
    service: AccountService = g.accounts
    return service


def _safe_next(value: str | None) -> str:
    """Only same-site paths, never ``//host`` or a scheme (open redirect, ASVS V5.1.5)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return url_for("accounts.home")


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def t(key: str, **values: object) -> str:
    return i18n.text(key, g.lang, **values)


def page(template: str, status: int = 200, **context: Any) -> Response:
    body = render_template(
        f"accounts/{template}",
        t=t,
        lang=g.lang,
        languages=i18n.LANGUAGES,
        language_names=i18n.NAMES,
        csrf=csrf_token(),
        here=request.full_path.rstrip("?"),
        **context,
    )
    return make_response(body, status)


#: Form fields that are codes or tokens of this site: plain ASCII, or they cannot be right.
_ASCII_FIELDS = ("csrf_token", "code")


def _bad_input() -> str | None:
    """The accounts pages' one input check (``fhir_gateway.inputs``): path, query and form, before
    any view reads a value; one-time codes and the CSRF token are ASCII besides."""
    pairs = [("path", str(value)) for value in (request.view_args or {}).values()]
    pairs += list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    found = problem(pairs)
    if found is None and any(not request.form.get(f, "").isascii() for f in _ASCII_FIELDS):
        found = "A code holds characters other than letters and digits"
    return found


def _refusal(error: str = "", form: Any = None, nxt: str = "") -> Response:
    """A refused input answered by the page's own form and its error, else the message page."""
    error = error or t("bad_input")
    if request.endpoint == "accounts.login":
        return page("login.html", 400, next=nxt or url_for("accounts.home"), error=error)
    if request.endpoint == "accounts.register":
        kind = _svc().policy.national_id_kind
        return page("register.html", 400, kind=kind, form=form or {}, error=error)
    if request.endpoint == "accounts.forgot":
        fields = [("email", "email", "email", "email")]
        action, values = url_for("accounts.forgot"), {"email": request.form.get("email", "")}
        return page(
            "form.html",
            400,
            title="forgot_title",
            action=action,
            fields=fields,
            submit="submit_forgot",
            values=values,
            back="accounts.login",
            error=error,
        )
    return page("message.html", 400, title=t("site"), text=error)


@bp.before_request
def _before() -> None:
    g.lang = i18n.negotiate(request.cookies.get("lang"), request.headers.get("Accept-Language", ""))
    if _bad_input() is not None:
        abort(_refusal())
    if request.method == "POST":
        sent = request.form.get("csrf_token", "").encode()
        expected = session.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(sent, expected.encode()):
            abort(make_response(page("message.html", 400, title=t("site"), text=t("csrf"))))
        check = botcheck.current()
        if check is not None and botcheck.needed() and not check.verify(request.form.get("altcha")):
            nxt = _safe_next(request.form.get("next"))
            abort(_refusal(botcheck.text("required", g.lang), request.form, nxt))


@bp.after_request
def _headers(response: Response) -> Response:
    for name, value in _HEADERS.items():
        response.headers[name] = value
    # scripts only where the proof of work's widget is on the page (F3); none anywhere else
    scripts = "'self'" if g.get("altcha_widget") else "'none'"
    response.headers["Content-Security-Policy"] += f"; script-src {scripts}; worker-src {scripts}"
    response.headers["Content-Language"] = g.get("lang", "en")
    return response


def guard(blueprint: Blueprint) -> None:
    """Give another package's pages under ``/account`` what the accounts pages have: the
    language, the input check, the CSRF check of every POST and the security headers."""
    blueprint.before_request(_before)
    blueprint.after_request(_headers)


def add_home_link(app: Flask, endpoint: str, title: str) -> None:
    """List another package's page on the account's home page (``title``: a key of the
    account pages' words, or an English text marked for the catalogs with ``N_``)."""
    app.extensions.setdefault("account_links", []).append((endpoint, title))


def _home_links() -> list[tuple[str, str]]:
    links = current_app.extensions.get("account_links", [])
    keys = set(i18n.all_keys())
    return [
        (url_for(endpoint), t(title) if title in keys else translate(title, g.lang))
        for endpoint, title in links
    ]


@bp.get("/lang/<code>")
def language(code: str) -> BaseResponse:
    response = redirect(_safe_next(request.args.get("next")))
    if code in i18n.LANGUAGES:
        response.set_cookie(
            "lang",
            code,
            max_age=365 * 86400,
            samesite="Lax",
            httponly=True,
            secure=g.secure_cookies,
        )
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    nxt = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return page("login.html", next=nxt)
    outcome = _svc().login(
        request.form.get("login", ""), request.form.get("password", ""), request.remote_addr or "-"
    )
    error = {
        "bad": t("bad_login"),
        "throttled": t("throttled", seconds=outcome.retry_after),
        "locked": t("locked", contact=i18n.contact(_svc().policy.support_contact, g.lang)),
        "unverified": t("unverified"),
    }.get(outcome.status)
    if error or outcome.account_id is None:
        status = {"throttled": 429, "locked": 423}.get(outcome.status, 400)
        answer = page(
            "login.html", status, next=nxt, error=error, locked=outcome.status == "locked"
        )
        if outcome.status == "throttled":
            answer.headers["Retry-After"] = str(max(1, outcome.retry_after))  # RFC 6585 §4
        return answer
    remember = request.form.get("remember") == "on"
    if outcome.factor:
        session.clear()
        session.update(
            pending=outcome.account_id, factor=outcome.factor, next=nxt, remember=remember
        )
        _svc().send_factor_code(outcome.account_id, outcome.factor)
        return redirect(url_for("accounts.second_factor"))
    return _complete(outcome.account_id, nxt, remember)


def _complete(account_id: int, nxt: str, remember: bool) -> BaseResponse:
    """Sign in, unless the information clause or a new password is still owed (F5)."""
    if any(hospital.onboarding(_svc(), account_id)):
        session.clear()
        session.update(onboard=account_id, next=nxt, remember=remember)
        return redirect(url_for("accounts.welcome"))
    signed.sign_in(account_id)
    response = redirect(nxt)
    if remember:
        response.set_cookie(
            REMEMBER_COOKIE,
            _svc().remember(account_id),
            max_age=30 * 86400,
            httponly=True,
            samesite="Lax",
            secure=g.secure_cookies,
            path="/",
        )
    return response


@bp.route("/second-factor", methods=["GET", "POST"])
def second_factor() -> BaseResponse:
    pending, factor = session.get("pending"), session.get("factor")
    if not isinstance(pending, int) or not isinstance(factor, str):
        return redirect(url_for("accounts.login"))
    if request.method == "GET":
        return page("factor.html", factor=factor)
    if not _svc().check_factor(pending, factor, request.form.get("code", "")):
        return page("factor.html", 400, factor=factor, error=t("bad_code"), error_field="code")
    return _complete(pending, _safe_next(session.get("next")), bool(session.get("remember")))


@bp.route("/welcome", methods=["GET", "POST"])
def welcome() -> BaseResponse:
    account_id = session.get("onboard")
    if not isinstance(account_id, int):
        return redirect(url_for("accounts.login"))
    _, must_change = hospital.onboarding(_svc(), account_id)
    context: dict[str, Any] = {
        "must_change": must_change,
        "clause_version": _svc().policy.clause_version,
    }
    if request.method == "GET":
        return page("welcome.html", **context)
    error = hospital.finish_onboarding(
        _svc(),
        account_id,
        request.form.get("accept") == "on",
        request.form.get("new_password", ""),
    )
    if error:
        return page("welcome.html", 400, error=t(error), **context)
    return _complete(account_id, _safe_next(session.get("next")), bool(session.get("remember")))


@bp.post("/logout")
def logout() -> BaseResponse:
    token = request.cookies.get(REMEMBER_COOKIE)
    account_id = signed.current_account_id()
    if request.form.get("everywhere") == "1" and account_id is not None:
        _svc().forget(account_id=account_id)
    elif token:
        _svc().forget(token)
    signed.sign_out()
    response = redirect(url_for("accounts.login"))
    response.delete_cookie(REMEMBER_COOKIE, path="/")
    return response


@bp.get("/")
def home() -> BaseResponse:
    account_id = signed.current_account_id()
    row = _svc().get(account_id) if account_id is not None else None
    if row is None:
        return redirect(signed.login_url(url_for("accounts.home")))
    return page(
        "home.html",
        account=row,
        apps="smart_oauth" in current_app.blueprints,
        links=_home_links(),
    )


@bp.post("/email-code")
def email_code_on() -> BaseResponse:
    account_id = signed.current_account_id()
    if account_id is None:
        return redirect(signed.login_url(url_for("accounts.home")))
    _svc().turn_on_email_code(account_id)
    return redirect(url_for("accounts.home"))


@bp.route("/register", methods=["GET", "POST"], endpoint="register")
def register_page() -> BaseResponse:
    kind = _svc().policy.national_id_kind
    if request.method == "GET":
        return page("register.html", kind=kind, form={})
    form = request.form
    # no email field: the link goes to the address the hospital holds, never a typed one
    error = _svc().register(
        form.get("full_name", "")[:200],
        form.get("national_id", "")[:32],
        g.lang,
        url_for("accounts.activate", token="", _external=True),
    )
    if error:
        return page(
            "register.html",
            400,
            kind=kind,
            form=form,
            error=t(error),
            field=error,
            error_field="national_id" if error == "bad_national_id" else None,
        )
    # one answer whether the person exists, already has an account or does not match
    return page(
        "message.html",
        title=t("check_mail_title"),
        text=t("register_sent", contact=i18n.contact(_svc().policy.support_contact, g.lang)),
    )


@bp.route("/activate/<token>", methods=["GET", "POST"])
def activate(token: str) -> BaseResponse:
    """The link mailed to the hospital's address: choosing the password creates the account."""
    if request.method == "GET":
        if not _svc().activation_pending(token):
            return page("message.html", 400, title=t("activate_title"), text=t("bad_link"))
        return page("activate.html", token=token)
    done = _svc().activate(token, request.form.get("password", ""))
    if done.error == "weak_password":
        return page(
            "activate.html", 400, token=token, error=t("weak_password"), error_field="password"
        )
    if done.error:
        text = t("taken") if done.error == "taken" else t("bad_link")
        return page("message.html", 400, title=t("activate_title"), text=text)
    return page(
        "message.html",
        title=t("activate_title"),
        text=t("activated", username=done.username),
        login=True,
    )


def register(app: Flask, service: AccountService, *, secure_cookies: bool) -> None:
    """Register the blueprint and the app-wide remember-me restore (revocable, ASVS V3.3)."""

    @app.before_request
    def _accounts_context() -> None:
        g.accounts = service
        g.secure_cookies = secure_cookies
        token = request.cookies.get(REMEMBER_COOKIE)
        if token and signed.current_account_id() is None:
            account_id = service.remembered(token)
            if account_id is not None:
                signed.sign_in(account_id)

    app.register_blueprint(bp)
