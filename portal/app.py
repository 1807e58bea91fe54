"""``create_portal``: the patient portal's Flask app (its own app, beside the gateway's)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from babel.dates import format_date
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import Babel, get_locale  # type: ignore[import-untyped]
from flask_babel import gettext as _  # type: ignore[import-untyped]
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]
from jinja2 import ChainableUndefined

from gateway.settings import Settings
from portal.client import Gateway, GatewayError, SignedOut, pkce_pair
from portal.screens import register, studies
from portal.sessions import StoreSessions
from portal.web import problem

LOCALES = ("ro", "pl", "en")
#: How each language writes a date: 21.04.2026 in Romanian and Polish (two-digit day and month,
#: as the manuals show them), 21/04/2026 in English as written in Europe.
DATE_PATTERNS = {
    "ro": ("ro_RO", "dd.MM.yyyy"),
    "pl": ("pl_PL", "dd.MM.yyyy"),
    "en": ("en_GB", "dd/MM/yyyy"),
}
ASSETS = Path(__file__).resolve().parent.parent / "var" / "portal-assets"
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
log = logging.getLogger("portal")


def cookie_is_secure(public_url: str) -> bool:
    """https: Secure cookies. Plain http only on a loopback address (demo, tests)."""
    parts = urlsplit(public_url)
    if parts.scheme == "https":
        return True
    try:
        loopback = ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return False
    raise ValueError("FHIR_GATEWAY_PORTAL_PUBLIC_URL is https://, or http:// on a loopback address")


def create_portal(config: Mapping[str, Any] | None = None, assets: Path = ASSETS) -> Flask:
    settings = Settings.from_mapping(config)
    if not settings.portal_fhir_url or not settings.portal_client_id:
        raise ValueError("FHIR_GATEWAY_PORTAL_FHIR_URL and PORTAL_CLIENT_ID are needed")
    public = settings.portal_public_url.rstrip("/")
    secure = cookie_is_secure(public)
    app = Flask(__name__)
    # NHS.UK frontend's components as Jinja macros ("nhsuk/components/<name>/macro.jinja"); they
    # read nested parameters that may be absent (params.hint.text), hence ChainableUndefined
    app.jinja_options = {**app.jinja_options, "undefined": ChainableUndefined}
    app.register_blueprint(
        Blueprint("nhsuk_frontend", "nhsuk_frontend_jinja", template_folder="templates")
    )
    app.config.update(
        SECRET_KEY=settings.portal_secret_key or secrets.token_hex(32),
        WTF_CSRF_TIME_LIMIT=None,  # bound by the session's own lifetime
        WTF_CSRF_SSL_STRICT=secure,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    engine = sa.create_engine(settings.portal_state_url, pool_pre_ping=True)
    app.session_interface = StoreSessions(engine, settings.portal_session_h * 3600, secure)
    app.extensions["portal_engine"] = engine
    app.extensions["portal_settings"] = settings
    CSRFProtect(app)
    gateway = Gateway(
        fhir_url=settings.portal_fhir_url.rstrip("/"),
        client_id=settings.portal_client_id,
        client_secret=settings.portal_client_secret,
        redirect_uri=f"{public}/callback",
        timeout_s=settings.portal_http_timeout_s,
    )
    app.extensions["portal_gateway"] = gateway
    where = urlsplit(settings.portal_fhir_url)
    gateway_origin = f"{where.scheme}://{where.netloc}"
    app.extensions["portal_settings"] = settings
    tiles = register(app)

    def pick_locale() -> str:
        chosen = session.get("lang")
        if chosen in LOCALES:
            return str(chosen)
        return request.accept_languages.best_match(LOCALES) or settings.portal_default_locale

    Babel(app, locale_selector=pick_locale)

    def local_date(value: str) -> str:
        if not value:
            return ""
        try:
            day = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
        where, pattern = DATE_PATTERNS[str(get_locale())]
        return format_date(day, format=pattern, locale=where)

    app.jinja_env.filters["local_date"] = local_date

    @app.context_processor
    def brand() -> dict[str, Any]:
        return {
            "hospital": settings.portal_hospital_name,
            "logo_url": settings.portal_logo_url,
            "emergency_number": settings.portal_emergency_number,
            "lang": str(get_locale()),
            "locales": LOCALES,
            "signed_in": bool(session.get("tokens")),
            "identities": session.get("identities", []),
            "active": session.get("active", ""),
            "tiles": tiles,
        }

    @app.after_request
    def headers(response: Response) -> Response:
        # a page of a screen that needs its own script sets its own (stricter or equal) policy
        response.headers.setdefault("Content-Security-Policy", CSP)
        # the identity switcher's form leads through the gateway's authorization endpoint (the
        # EHR launch of that identity), which form-action must let the redirect reach
        policy = response.headers["Content-Security-Policy"]
        if "form-action 'self'" in policy and gateway_origin not in policy:
            response.headers["Content-Security-Policy"] = policy.replace(
                "form-action 'self'", f"form-action 'self' {gateway_origin}"
            )
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin: the forms post with a Referer, which Flask-WTF checks over https
        response.headers["Referrer-Policy"] = "same-origin"
        if secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if response.mimetype == "text/html" or session.get("tokens"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError) -> tuple[str, int]:
        return problem(400, _("The form expired. Please go back and try again."))

    @app.errorhandler(SignedOut)
    def signed_out(exc: SignedOut) -> Any:
        session.clear()
        return redirect(url_for("start"))

    @app.errorhandler(GatewayError)
    def gateway_down(exc: GatewayError) -> tuple[str, int]:
        log.warning("gateway answered %s", exc.status)
        return problem(
            503 if exc.status in (0, 502, 503, 504) else 502,
            _("The hospital's records cannot be reached now. Please try again later."),
        )

    @app.errorhandler(404)
    def not_found(exc: Any) -> tuple[str, int]:
        return problem(404, _("This page does not exist."))

    kept: dict[str, bytes] = {}

    @app.get("/static/nhsuk-frontend.min.css")
    def nhsuk_css() -> Response:
        if "css" not in kept:
            path = assets / "nhsuk-frontend.min.css"
            if not path.is_file():
                abort(404)
            kept["css"] = path.read_bytes()
        return Response(kept["css"], mimetype="text/css", headers={"Cache-Control": "max-age=3600"})

    @app.get("/theme.css")
    def theme() -> Response:
        colour = settings.portal_colour
        css = (
            f".portal-header{{background-color:{colour}}}"
            f".nhsuk-button:not(.nhsuk-button--secondary){{background-color:{colour}}}"
            # a focused button keeps the design's yellow, which its dark text is readable on
            ".nhsuk-button:focus:not(:active){background-color:#ffeb3b}"
            # the header's navigation row and the phone's menu take the hospital's colour too
            f".portal-nav,.portal-menu{{background-color:{colour}}}"
            # the hospital's logo (or the portal's neutral mark) at the header's height,
            # whatever its proportions
            ".portal-header .nhsuk-header__organisation-logo{width:auto;max-width:min(14rem,45vw);"
            "height:40px;object-fit:contain}"
            ".portal-emergency{border-left:8px solid #d5281b}"
            ".portal-inline{display:inline-block;margin-right:8px}"
            # below 768 px the row of services would fill half a phone's screen before the page
            # starts: a "Menu" disclosure (no script) stands in for it; above, the row
            "@media (max-width:48.0525em){.portal-nav{display:none}}"
            "@media (min-width:48.0625em){.portal-menu{display:none}}"
            ".portal-menu .portal-menu__details{margin:0;padding:8px 0 12px;border:0}"
            ".portal-menu .nhsuk-details__text{margin-top:8px;padding:0 0 0 16px}"
            ".portal-menu__list{list-style:none;margin:0;padding:0}"
            ".portal-menu__list li{margin:0;padding:4px 0}"
            ".portal-menu__list a[aria-current=page]{font-weight:600;text-decoration-thickness:3px}"
            # a row of buttons reaches 24 px past its column, 8 px past the screen's edge
            # between 641 and 768 px where the page's margin is 16 px
            "@media (max-width:48.0525em){.nhsuk-button-group{margin-right:0}}"
            # a long email address or file name in a stacked table row wraps on a phone
            # rather than pushing the page wider than the screen
            # (the tables macro's class, and the hand-written tables' older one)
            "@media (max-width:48.0525em){.nhsuk-table-responsive .nhsuk-table__cell,"
            ".nhsuk-table--responsive .nhsuk-table__cell{overflow-wrap:anywhere}"
            ".nhsuk-table-responsive .nhsuk-table-responsive__heading,"
            ".nhsuk-table--responsive .nhsuk-table__heading{overflow-wrap:normal}"
            ".nhsuk-table--responsive .nhsuk-table__cell>:not(.nhsuk-table__heading)"
            "{min-width:0;text-align:right}}"
            "h1,h2,h3,p,dd,li,legend,label{overflow-wrap:break-word}"
            # cells of long document numbers may break them, so that a wide screen's table
            # keeps within the page too (words of the other cells stay whole)
            ".portal-break{overflow-wrap:anywhere}"
        )
        return Response(css, mimetype="text/css", headers={"Cache-Control": "max-age=300"})

    @app.get("/")
    def start() -> Any:
        if not session.get("tokens"):
            return render_template("start.html")
        if settings.portal_home == "studies":
            return studies.page()
        return render_template("home.html")

    @app.get("/sign-in")
    def sign_in() -> Any:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        session["tx"] = {"state": state, "verifier": verifier}
        session.rotate = True  # type: ignore[attr-defined]
        return redirect(gateway.authorize_url(state, challenge))

    def launch(patient: str, back: str) -> Any:
        """The EHR launch of one identity: the gateway makes a launch value for the account's
        grant and ``patient`` (or refuses one the account does not act for), and the browser
        takes it to the gateway's authorization endpoint, where the person's session there
        answers at once; the callback keeps the token with that patient in context."""
        value = gateway.start_launch(gateway.fresh(session, "account"), patient)
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        session["tx"] = {"state": state, "verifier": verifier, "patient": patient, "next": back}
        return redirect(gateway.authorize_url(state, challenge, value))

    @app.get("/callback")
    def callback() -> Any:
        tx = session.pop("tx", None)
        if not tx or not secrets.compare_digest(request.args.get("state", ""), tx["state"]):
            return problem(400, _("The sign-in could not be completed. Please sign in again."))
        if "code" not in request.args:
            return problem(403, _("The sign-in was cancelled."))
        tokens = gateway.exchange(request.args["code"], tx["verifier"])
        wanted = tx.get("patient")
        if not wanted:
            session["account"] = tokens
            session.rotate = True  # type: ignore[attr-defined]
            load_identities()
            if not session.get("identities"):
                return problem(403, _("This account acts for no patient yet."))
            return launch(str(session["active"]), url_for("start"))
        if tokens["patient"] != wanted:
            return problem(400, _("This person is not in your care."))
        session["held"] = {**session.get("held", {}), wanted: tokens}
        session["tokens"] = tokens
        session["active"] = wanted
        if wanted not in {p["id"] for p in session.get("identities", [])}:
            load_identities()  # someone taken into care since sign-in: the switcher names them
        return redirect(tx.get("next") or url_for("start"))

    def load_identities() -> None:
        account = gateway.fresh(session, "account")
        answer = gateway.fhir_with(account, "Patient", {"_count": "50"})
        if answer.status_code != 200:
            raise GatewayError(answer.status_code, "Patient search")
        people = []
        for entry in answer.json().get("entry", []):
            patient = entry["resource"]
            name = (patient.get("name") or [{}])[0]
            label = " ".join([*name.get("given", []), name.get("family", "")]).strip()
            # the birth date tells apart a parent and a child who share a name
            people.append(
                {
                    "id": patient["id"],
                    "name": label or patient["id"],
                    "born": str(patient.get("birthDate", "")),
                }
            )
        session["identities"] = people
        ids = {p["id"] for p in people}
        if people and session.get("active") not in ids:
            # the account's own record first, when it has one
            session["active"] = account["own"] if account.get("own") in ids else people[0]["id"]

    @app.post("/identity")
    def switch_identity() -> Any:
        if not session.get("tokens"):
            return redirect(url_for("start"))
        wanted = request.form.get("patient", "")
        back = request.form.get("next", "")
        if not back.startswith("/") or back.startswith("//"):
            back = url_for("start")
        held = session.get("held", {}).get(wanted)
        if held:
            session["tokens"] = held
            session["active"] = wanted
            return redirect(back)
        if not wanted.isdigit():
            return problem(400, _("This person is not in your care."))
        try:
            # the gateway decides who the account acts for, from its own guardianship data
            return launch(wanted, back)
        except GatewayError as exc:
            if exc.status in (400, 403):
                return problem(400, _("This person is not in your care."))
            raise

    @app.post("/language")
    def language() -> Any:
        chosen = request.form.get("lang", "")
        if chosen in LOCALES:
            session["lang"] = chosen
        back = request.form.get("next", "")
        return redirect(
            back if back.startswith("/") and not back.startswith("//") else url_for("start")
        )

    @app.post("/sign-out")
    def sign_out() -> Any:
        # the grants end with the session: the account's and every identity's
        for tokens in [session.get("account"), *session.get("held", {}).values()]:
            if tokens:
                gateway.revoke(tokens)
        session.clear()
        return redirect(url_for("start"))

    return app
