"""Forgotten password, password change, email change and profile (F7).

* Reset: a single-use link (OWASP ASVS V2.5.2/V2.5.7) mailed to the account's address,
  valid one hour; asking never reveals whether an address has an account. A reset does not
  lift a lockout (F6: only an administrator does), and it revokes every "remember me".
* Email change: a 6-digit code sent to the *new* address proves it before it replaces the old.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from . import i18n
from .mail import Message
from .passwords import acceptable, hash_password, verify_password
from .service import AccountService
from .tables import account

RESET_TTL = dt.timedelta(hours=1)
CHANGE_TTL = dt.timedelta(minutes=30)


def _mail(svc: AccountService, to: str, lang: str, key: str, **values: object) -> None:
    svc.mail.send(
        Message(
            to=to,
            subject=i18n.text(f"mail_{key}_subject", lang),
            body=i18n.text(f"mail_{key}_body", lang, **values),
            language=lang,
        )
    )


def request_reset(svc: AccountService, email: str, link: str) -> None:
    row = svc.find(email)
    if row is None or not row.active:
        return
    token = svc.codes.issue(row.id, "reset", svc.clock(), RESET_TTL)
    _mail(svc, row.email, row.language or "en", "reset", link=link + token)


def reset_password(svc: AccountService, token: str, password: str) -> str:
    """ "" when the link was valid and the password set, else a message key."""
    if not acceptable(password):
        return "weak_password"
    checked = svc.codes.redeem_link("reset", token, svc.clock())
    if not checked.ok or checked.account_id is None:
        return "bad_link"
    _set_password(svc, checked.account_id, password)
    return ""


def _set_password(svc: AccountService, account_id: int, password: str) -> None:
    with svc.state.begin() as conn:
        conn.execute(
            account.update()
            .where(account.c.id == account_id)
            .values(password_hash=hash_password(password), must_change_password=False)
        )
    svc.forget(account_id=account_id)


def change_password(svc: AccountService, account_id: int, current: str, new: str) -> str:
    """ASVS V2.1.6: the current password is required to set a new one."""
    row = svc.get(account_id)
    if row is None or not verify_password(row.password_hash, current):
        return "bad_current"
    if not acceptable(new):
        return "weak_password"
    _set_password(svc, account_id, new)
    return ""


def request_email_change(svc: AccountService, account_id: int, new_email: str) -> str:
    new_email = new_email.strip()
    if "@" not in new_email or new_email.startswith("@") or len(new_email) > 254:
        return "bad_email"
    taken = svc.find(new_email)
    row = svc.get(account_id)
    if row is None:
        return "bad_email"
    if taken is not None:
        return "taken"
    code = svc.codes.issue(account_id, "email", svc.clock(), CHANGE_TTL, digits=6, target=new_email)
    _mail(svc, new_email, row.language or "en", "change", code=code)
    return ""


def confirm_email_change(svc: AccountService, account_id: int, code: str) -> str:
    checked = svc.codes.check(account_id, "email", code, svc.clock())
    if not checked.ok or not checked.target:
        return "bad_code"
    if svc.find(checked.target) is not None:
        return "taken"
    with svc.state.begin() as conn:
        conn.execute(
            account.update()
            .where(account.c.id == account_id)
            .values(email=checked.target, email_verified_at=svc.clock())
        )
    return ""


def update_profile(svc: AccountService, account_id: int, phone: str, language: str) -> str:
    """The name comes from the HIS and is not edited here; phone and language are."""
    phone = phone.strip()
    if phone and not (phone.lstrip("+").replace(" ", "").isdigit() and 6 <= len(phone) <= 32):
        return "bad_phone"
    values: dict[str, object] = {"phone": phone or None}
    if language in i18n.LANGUAGES:
        values["language"] = language
    with svc.state.begin() as conn:
        conn.execute(account.update().where(account.c.id == account_id).values(**values))
    return ""


def account_by_id(svc: AccountService, account_id: int) -> sa.Row | None:
    return svc.get(account_id)
