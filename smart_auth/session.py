"""Who is signed in to the gateway's own pages (the seam between accounts and OAuth).

The accounts pages sign a person in and store ``account_id`` and ``auth_time`` in the Flask
session (a signed, HttpOnly cookie); the authorization endpoint asks ``current_account_id`` and,
when nobody is signed in, redirects to ``login_url(next)``. Nothing else is kept in the cookie.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from flask import session, url_for

ACCOUNT_KEY = "account_id"
AUTH_TIME_KEY = "auth_time"


def current_account_id() -> int | None:
    value = session.get(ACCOUNT_KEY)
    return int(value) if isinstance(value, int) else None


def auth_time() -> int | None:
    value = session.get(AUTH_TIME_KEY)
    return int(value) if isinstance(value, int) else None


def sign_in(account_id: int) -> None:
    """Start a signed-in session (after password and, where required, the second factor)."""
    session.clear()
    session[ACCOUNT_KEY] = account_id
    session[AUTH_TIME_KEY] = int(time.time())


def sign_out() -> None:
    session.clear()


def login_url(next_url: str) -> str:
    """Where the accounts pages sign a person in and then send them back to ``next_url``."""
    return url_for("accounts.login") + "?" + urlencode({"next": next_url})
