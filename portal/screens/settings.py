"""Settings: the account's pages on the gateway (profile, password, email, second factor,
identities, authorised apps, notification preferences), the partner clinics the active patient
shares with, and the portal's language.

The account lives on the gateway: this screen links to its pages (opened in the portal's
language through the gateway's language switch) and reads the shares through the FHIR API
(``Consent``); it changes nothing on the gateway itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, current_app, render_template
from flask_babel import get_locale, lazy_gettext  # type: ignore[import-untyped]

from portal.screens import Tile
from portal.web import active, gateway, matches, search, signed_in

blueprint = Blueprint("settings", __name__)
TILE = Tile(
    "settings.hub",
    lazy_gettext("Settings"),
    lazy_gettext(
        "Your account, password, second factor, the people you act for, apps, notifications"
        " and language."
    ),
)

#: The gateway's account pages this screen links to, in the order shown: (path, title, hint).
ACCOUNT_PAGES = (
    ("/account/profile", lazy_gettext("Profile"), lazy_gettext("Your mobile phone number.")),
    (
        "/account/password",
        lazy_gettext("Password"),
        lazy_gettext("Change your password (the current one, then the new one twice)."),
    ),
    (
        "/account/email",
        lazy_gettext("Email address"),
        lazy_gettext("Change it: a code goes to the new address."),
    ),
    (
        "/account/totp",
        lazy_gettext("Second factor"),
        lazy_gettext("An authenticator app's code at each sign-in."),
    ),
    (
        "/account/",
        lazy_gettext("Email code at sign-in"),
        lazy_gettext("A code by email at each sign-in (once on, it stays on)."),
    ),
    (
        "/account/identities",
        lazy_gettext("People you act for"),
        lazy_gettext("Your own record and the children in your care: add or remove."),
    ),
    (
        "/oauth/apps",
        lazy_gettext("Authorised apps"),
        lazy_gettext("The apps you allowed to read your records: take the access back."),
    ),
    (
        "/account/notifications",
        lazy_gettext("Notifications"),
        lazy_gettext("Which messages you get by email or SMS, and in which language."),
    ),
)
#: The identifier system of a partner clinic in a Consent (the gateway's OAuth client ids).
_PARTNER_SYSTEM = "/sid/oauth-client"


def gateway_origin() -> str:
    """The gateway's public origin (where the portal's FHIR base is)."""
    parts = urlsplit(gateway().fhir_url)
    return f"{parts.scheme}://{parts.netloc}"


def account_link(path: str) -> str:
    """A link to a gateway page opened in the portal's language (the gateway's switcher sets
    its own language cookie, then goes on to the page)."""
    return f"{gateway_origin()}/account/lang/{get_locale()}?{urlencode({'next': path})}"


def partner_shares(consents: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The active patient's shares with partner clinics: each clinic's id and until when."""
    shown = []
    for consent in consents:
        if consent.get("status") != "active":
            continue
        if (consent.get("patient") or {}).get("reference") != f"Patient/{active()}":
            continue
        for org in consent.get("organization") or []:
            ident = (org or {}).get("identifier") or {}
            if str(ident.get("system", "")).endswith(_PARTNER_SYSTEM) and ident.get("value"):
                period = (consent.get("provision") or {}).get("period") or {}
                shown.append(
                    {
                        "clinic": org.get("display") or ident["value"],
                        "since": period.get("start", ""),
                        "until": period.get("end", ""),
                    }
                )
    return shown


@blueprint.get("/settings")
@signed_in
def hub() -> Any:
    bundle = search("Consent", {"status": "active"})
    pages = [
        {"href": account_link(path), "title": title, "hint": hint, "path": path}
        for path, title, hint in ACCOUNT_PAGES
    ]
    shares_list = next(
        (rule.rule for rule in current_app.url_map.iter_rules() if rule.rule == "/shares"), None
    )
    return render_template(
        "settings/hub.html",
        pages=pages,
        partners=partner_shares(matches(bundle, "Consent")),
        shares_list=shares_list,
    )
