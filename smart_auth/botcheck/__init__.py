"""Bot protection without third parties (F3): an ALTCHA proof of work (PyPI ``altcha`` here,
npm ``altcha``'s widget in the browser) on the forms a bot would hammer: registration, sign-in
after a failed attempt, the forgotten-password form, and result-code access.

The gateway signs each challenge (HMAC-SHA-256, ``ALTCHA_HMAC_SECRET``, else a key derived from
``SECRET_KEY``, so every host agrees) with an expiry (``ALTCHA_TTL_S``); the browser searches
for the PBKDF2-SHA-256 key (``ALTCHA_COST`` iterations per try) that starts with a zero byte,
about 256 tries; the form carries the solution in its ``altcha`` field. A solution verifies
only with the signature intact, before its expiry, and once: its digest is kept in the state
database (``altcha_spent``) until the challenge expires, so every worker and host refuses a
replay.

Without JavaScript the widget cannot run, and the form says so (``<noscript>``) and names the
registration desk: a proof of work is the point of the check, so the server never does it on
the browser's behalf, and a mailed or texted code is no fallback where the form itself is what
sends mail (registration, forgotten password) or has no verified address yet.

Routes: ``GET /altcha/challenge`` (JSON, never cached) and the widget's files under
``/altcha/`` from the assets ``make setup`` installs (``scripts/install-portal-assets.sh``).
Pages that show the widget include ``altcha.html``, which marks the request
(``g.altcha_widget``); the account pages' CSP then allows ``script-src 'self'`` and
``worker-src 'self'``, and ``'none'`` on every other account page. A result-code page of the
``results`` blueprint does the same: include the template, allow the scripts when marked."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import altcha
from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from smart_auth.state import shared_engine
from smart_auth.translations import N_, translate

from .tables import altcha_spent

log = logging.getLogger("smart_auth.botcheck")

ALGORITHM = "PBKDF2/SHA-256"
#: the widget's files (scripts/install-portal-assets.sh puts them in var/portal-assets/altcha)
ASSETS = Path(__file__).resolve().parents[2] / "var" / "portal-assets" / "altcha"
FILES = {
    "altcha.min.js": "text/javascript",
    "altcha.css": "text/css",
    "pbkdf2.js": "text/javascript",
    "ro.js": "text/javascript",
    "pl.js": "text/javascript",
}
#: the one script a page names: the widget's build that brings no worker and no inline style
#: (so no blob: worker and no 'unsafe-inline' under the pages' CSP), its RO and PL words, and
#: its PBKDF2 worker registered in the same module evaluation, before the widget can have
#: fetched a challenge (separate scripts race once the browser has them cached)
SETUP_JS = (
    'import "./altcha.min.js";\n'
    'import "./ro.js";\n'
    'import "./pl.js";\n'
    "globalThis.$altcha.algorithms.set('PBKDF2/SHA-256', "
    "() => new Worker('/altcha/pbkdf2.js'));\n"
)
#: the longest payload a form may carry (a challenge and its solution are a few hundred bytes)
MAX_PAYLOAD = 4096

#: the words of the check on the forms, in English (the catalogs say them in RO and PL)
TEXTS = {
    "noscript": N_(
        "This step needs JavaScript: your browser proves it is not a robot by a short "
        "calculation, with no third party involved. Please turn JavaScript on, or ask {contact}."
    ),
    "required": N_(
        "Please wait until the check that you are not a robot is complete, then send the form "
        "again."
    ),
}


def text(key: str, lang: str, **values: str) -> str:
    if "contact" in values:
        from smart_auth.accounts.i18n import contact

        values["contact"] = contact(values["contact"], lang)
    return translate(TEXTS[key], lang, **values)


class BotCheck:
    """Challenges and their one-time verification."""

    def __init__(self, engine: Engine, key: bytes, *, enabled: bool, cost: int, ttl_s: int) -> None:
        self.engine, self.key = engine, key
        self.enabled, self.cost, self.ttl_s = enabled, cost, ttl_s

    def challenge(self) -> dict[str, Any]:
        made = altcha.create_challenge(
            ALGORITHM,
            self.cost,
            expires_at=int(time.time()) + self.ttl_s,
            hmac_secret=self.key,
        )
        found: dict[str, Any] = made.to_dict()
        return found

    def verify(self, payload: str | None) -> bool:
        """True for a solution of a challenge of ours, unexpired, seen for the first time."""
        if not self.enabled:
            return True
        if not payload or len(payload) > MAX_PAYLOAD or not payload.isascii():
            return False
        try:
            result = altcha.verify_solution(payload, self.key)
        except (ValueError, TypeError, KeyError, OverflowError):
            return False
        if not result.verified:
            return False
        parsed = altcha.Payload.from_base64(payload)
        signature = str(parsed.challenge.signature)
        expires = int(parsed.challenge.parameters.expires_at or time.time() + self.ttl_s)
        digest = hashlib.sha256(signature.encode()).hexdigest()
        now = int(time.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(altcha_spent.delete().where(altcha_spent.c.expires_at < now))
                conn.execute(altcha_spent.insert().values(digest=digest, expires_at=expires))
        except IntegrityError:
            return False  # a replay: this solution was accepted before
        return True


def hmac_key(settings: Any, app_secret: bytes) -> bytes:
    if settings.altcha_hmac_secret:
        return str(settings.altcha_hmac_secret).encode()
    return hmac.new(app_secret, b"altcha-challenge", hashlib.sha256).digest()


def current() -> BotCheck | None:
    found: BotCheck | None = current_app.extensions.get("botcheck")
    return found


#: the account pages that always ask for the proof of work
ALWAYS = frozenset({"accounts.register", "accounts.forgot"})


def needed() -> bool:
    """Whether this request's form asks for the proof of work: registration, the
    forgotten-password form and the result-code API and page (blueprints ``results`` and
    ``result_pages``) always, sign-in
    once a password was wrong from this address or for this account (until a good one)."""
    check = current()
    if check is None or not check.enabled:
        return False
    if request.endpoint in ALWAYS or request.blueprint in ("results", "result_pages"):
        return True
    return request.endpoint == "accounts.login" and _failed_before()


def _failed_before() -> bool:
    from smart_auth.accounts.limits import PREFIX

    service = g.get("accounts")
    if service is None:
        return False
    failures = service.limits.limiter.failures
    if failures(f"{PREFIX}addr:{request.remote_addr or '-'}") > 0:
        return True
    login = request.form.get("login", "") if request.method == "POST" else ""
    row = service.find(login) if login else None
    return row is not None and failures(f"{PREFIX}acct:{row.id}") > 0


def init_app(app: Flask, settings: Any, assets: Path = ASSETS) -> BotCheck:
    secret = app.secret_key if isinstance(app.secret_key, bytes) else secrets.token_bytes(32)
    check = BotCheck(
        shared_engine(app.extensions, settings.state_url),
        hmac_key(settings, secret),
        enabled=settings.altcha_enabled,
        cost=settings.altcha_cost,
        ttl_s=settings.altcha_ttl_s,
    )
    app.extensions["botcheck"] = check
    blueprint = Blueprint("botcheck", __name__, template_folder="templates")
    kept: dict[str, bytes] = {}

    @blueprint.get("/altcha/challenge")
    def challenge() -> Response:
        response = jsonify(check.challenge())
        response.headers["Cache-Control"] = "no-store"
        return response

    @blueprint.get("/altcha/setup.js")
    def setup_js() -> Response:
        return Response(
            SETUP_JS, mimetype="text/javascript", headers={"Cache-Control": "max-age=3600"}
        )

    @blueprint.get("/altcha/<name>")
    def widget_file(name: str) -> Response:
        if name not in FILES:
            abort(404)
        if name not in kept:
            path = assets / name
            if not path.is_file():
                abort(404)
            kept[name] = path.read_bytes()
        return Response(kept[name], mimetype=FILES[name], headers={"Cache-Control": "max-age=3600"})

    app.register_blueprint(blueprint)

    def shown() -> bool:
        """``needed()`` for a template: a page that shows the widget is marked
        (``g.altcha_widget``) so that its CSP allows the widget's scripts, and only its."""
        if needed():
            g.altcha_widget = True
            return True
        return False

    @app.context_processor
    def widget() -> dict[str, Any]:
        return {
            "altcha_needed": shown,
            "altcha_text": text,
            "altcha_contact": settings.accounts_support_contact,
        }

    return check
