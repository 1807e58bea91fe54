"""Patient accounts: registration, login, second factor, lockout, identities (F1-F9).

``init_app(app, settings)`` builds the ``AccountService`` over the state database (creating
the engine from ``FHIR_GATEWAY_STATE_URL`` into ``app.extensions["state_engine"]`` unless a
part registered earlier already did) and the app's HIS connector (``app.extensions["his"]``:
whatever connector the hospital plugged in), and registers the ``accounts`` blueprint at
``/account``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from fhir_gateway.his.connector import HisConnector
from smart_auth.state import shared_engine

from .mail import MailSender, OutboxSender, SmtpSender
from .service import AccountPolicy, AccountService
from .sms import HttpSmsSender, OutboxSms, SmsSender


def mail_sender(settings: Any) -> MailSender:
    if settings.smtp_host:
        return SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            timeout_s=settings.smtp_timeout_s,
        )
    return OutboxSender(Path(settings.outbox_dir) / "mail", settings.mail_from)


def sms_sender(settings: Any) -> SmsSender:
    if settings.sms_url:
        return HttpSmsSender(settings.sms_url, settings.sms_token, timeout_s=settings.sms_timeout_s)
    return OutboxSms(Path(settings.outbox_dir) / "sms")


def build_service(settings: Any, state: Any, secret: bytes, his: HisConnector) -> AccountService:
    policy = AccountPolicy(
        national_id_kind=settings.accounts_national_id,
        max_failed_logins=settings.accounts_max_failed_logins,
        second_factor=settings.accounts_second_factor,
        support_contact=settings.accounts_support_contact,
        clause_version=settings.accounts_clause_version,
    )
    return AccountService(
        state,
        his,
        policy,
        mail_sender(settings),
        sms_sender(settings),
        secret,
    )


def init_app(app: Flask, settings: Any) -> AccountService:
    from . import api, routes, routes_profile  # noqa: F401 (views register on import)

    state = shared_engine(app.extensions, settings.state_url)
    secure = settings.base_url.startswith("https://")
    # OWASP ASVS V3.4: HttpOnly, SameSite, Secure when served over TLS
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    if secure:
        app.config["SESSION_COOKIE_SECURE"] = True
    key = app.secret_key if isinstance(app.secret_key, bytes) else str(app.secret_key).encode()
    service = build_service(settings, state, key, app.extensions["his"])
    app.extensions["accounts"] = service
    routes.register(app, service, secure_cookies=secure)
    api.register(app, service, settings.accounts_admin_token)
    return service
