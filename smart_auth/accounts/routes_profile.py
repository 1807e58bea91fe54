"""Pages for a forgotten password, password and email change, profile and identities (F7, F8).

Thin views on the ``accounts`` blueprint of ``routes`` (same CSRF check, same headers); the
rules live in ``recovery`` and ``identities``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyotp
from flask import g, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from smart_auth import session as signed
from smart_auth import translations

from . import i18n, identities, recovery
from .routes import _svc, bp, page, t

_NEW = ("new_password", "new_password", "password", "new-password")
#: F7: a changed password is typed twice
_AGAIN = ("confirm_password", "confirm_password", "password", "new-password")


def _form(
    title: str, action: str, fields: Sequence[tuple[str, ...]], submit: str, **extra: Any
) -> Any:
    status = extra.pop("status", 200)
    extra.setdefault("values", {})
    return page(
        "form.html", status, title=title, action=action, fields=fields, submit=submit, **extra
    )


def _me() -> int | None:
    return signed.current_account_id()


def _to_login() -> BaseResponse:
    return redirect(signed.login_url(request.path))


@bp.route("/forgot", methods=["GET", "POST"])
def forgot() -> BaseResponse:
    fields = [("email", "email", "email", "email")]
    action = url_for("accounts.forgot")
    if request.method == "POST":
        link = url_for("accounts.reset", token="", _external=True)
        recovery.request_reset(_svc(), request.form.get("email", ""), link)
        return _form(
            "forgot_title", action, [], "submit_forgot", note="reset_sent", back="accounts.login"
        )
    return _form("forgot_title", action, fields, "submit_forgot", back="accounts.login")


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> BaseResponse:
    action = url_for("accounts.reset", token=token)
    if request.method == "GET":
        return _form("reset_title", action, [_NEW], "submit_reset")
    error = recovery.reset_password(_svc(), token, request.form.get("new_password", ""))
    if error:
        return _form("reset_title", action, [_NEW], "submit_reset", error=t(error), status=400)
    return _form("reset_title", action, [], "", note="password_changed", back="accounts.login")


@bp.route("/password", methods=["GET", "POST"])
def password() -> BaseResponse:
    me = _me()
    if me is None:
        return _to_login()
    fields = [
        ("current_password", "current_password", "password", "current-password"),
        _NEW,
        _AGAIN,
    ]
    action = url_for("accounts.password")
    if request.method == "GET":
        return _form("password_title", action, fields, "submit_save", back="accounts.home")
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        error = "passwords_differ"
    else:
        error = recovery.change_password(_svc(), me, request.form.get("current_password", ""), new)
    if error:
        return _form(
            "password_title",
            action,
            fields,
            "submit_save",
            error=t(error),
            status=400,
            back="accounts.home",
        )
    return _form("password_title", action, [], "", note="password_changed", back="accounts.home")


@bp.route("/email", methods=["GET", "POST"])
def change_email() -> BaseResponse:
    me = _me()
    if me is None:
        return _to_login()
    ask = [("new_email", "new_email", "email", "email")]
    confirm = [("code", "code", "text", "one-time-code")]
    action = url_for("accounts.change_email")
    if request.method == "GET":
        return _form("email_title", action, ask, "submit_email", back="accounts.home")
    if "code" in request.form:
        error = recovery.confirm_email_change(_svc(), me, request.form.get("code", ""))
        if error:
            return _form("email_title", action, confirm, "submit_code", error=t(error), status=400)
        return _form("email_title", action, [], "", note="email_changed", back="accounts.home")
    error = recovery.request_email_change(_svc(), me, request.form.get("new_email", ""))
    if error:
        return _form("email_title", action, ask, "submit_email", error=t(error), status=400)
    return _form("email_title", action, confirm, "submit_code", note="email_code_sent")


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> BaseResponse:
    me = _me()
    if me is None:
        return _to_login()
    row = _svc().get(me)
    fields = [("phone", "phone", "tel", "tel")]
    action = url_for("accounts.profile")
    values = {"phone": (row.phone if row is not None else "") or ""}
    held = _held_details(me, row.email if row is not None else "")
    if request.method == "GET":
        return _form(
            "profile_title",
            action,
            fields,
            "submit_save",
            values=values,
            back="accounts.home",
            **held,
        )
    phone = request.form.get("phone", "")
    error = recovery.update_profile(_svc(), me, phone, g.lang)
    return _form(
        "profile_title",
        action,
        fields,
        "submit_save",
        values={"phone": phone},
        error=t(error) if error else None,
        note=None if error else "saved",
        status=400 if error else 200,
        back="accounts.home",
        **held,
    )


def _held_details(account_id: int, email: str | None) -> dict[str, Any]:
    """What the hospital holds of the person, shown read-only above the form (the manual's
    profile: name, email, birth date, address); changed only at the hospital's desk."""
    person = identities.own_record(_svc(), account_id)
    if person is None:
        return {}
    address = ", ".join(
        str(part)
        for part in (person.get("address_line"), person.get("postal_code"), person.get("city"))
        if part
    )
    born = person.get("birth_date")
    return {
        "held": [
            ("full_name", f"{person.get('given', '')} {person.get('family', '')}".strip()),
            ("email", email or ""),
            ("birth_date", _day(born) if isinstance(born, dt.date) else ""),
            ("address", address),
        ],
        "held_note": t("held_note", contact=i18n.contact(_svc().policy.support_contact, g.lang)),
    }


def _day(value: dt.datetime | dt.date | None) -> str:
    """A date as the page's language writes it: 21.04.2026 (RO, PL), 21/04/2026 (EN)."""
    return translations.day(value, g.lang)


def _shown(person: identities.Identity) -> dict[str, Any]:
    years = person.age(_svc().clock().date())
    return {
        "id": person.id,
        "relation": person.relation,
        "name": person.name,
        "sex": person.sex,
        "age_text": i18n.age(years, g.lang) if years is not None else "",
        "masked": person.masked,
        "last_digits": person.last_digits,
        "verified": _day(person.verified_at),
    }


@bp.route("/identities", methods=["GET", "POST"], endpoint="identities")
def identities_page() -> BaseResponse:
    """F8: the people the account acts for, each with what the hospital holds (name, sex, age,
    the national ID's last digits, when it was verified); add a minor in care."""
    me = _me()
    if me is None:
        return _to_login()
    error = None
    if request.method == "POST":
        key = identities.add_ward(_svc(), me, request.form.get("national_id", ""))
        error = t(key) if key else None
    people = [_shown(p) for p in identities.list_identities(_svc(), me)]
    kind = _svc().policy.national_id_kind
    removed = session.pop("removed", None) if request.method == "GET" else None
    return page(
        "identities.html",
        400 if error else 200,
        people=people,
        kind=kind,
        error=error,
        error_field="national_id" if error else None,
        removed=removed if isinstance(removed, str) else None,
    )


@bp.post("/identities/<int:identity_id>/remove")
def remove_identity(identity_id: int) -> BaseResponse:
    """Removing a ward asks first (a page naming the person); the second post, with
    ``confirm=yes``, removes it. One's own identity is never offered."""
    me = _me()
    if me is None:
        return _to_login()
    person = next(
        (
            p
            for p in identities.list_identities(_svc(), me)
            if p.id == identity_id and p.relation == "guardian"
        ),
        None,
    )
    if person is None:
        return redirect(url_for("accounts.identities"))
    if request.form.get("confirm") != "yes":
        return page("remove.html", person=_shown(person))
    if identities.remove_ward(_svc(), me, identity_id):
        session["removed"] = person.name
    session.modified = True
    return redirect(url_for("accounts.identities"))


@bp.route("/totp", methods=["GET", "POST"])
def totp() -> BaseResponse:
    """Turn TOTP on (RFC 6238): the secret waits in the signed session until a code proves
    the person's app holds it."""
    me = _me()
    if me is None:
        return _to_login()
    secret = session.get("totp_secret")
    if not isinstance(secret, str) or request.method == "GET":
        secret = pyotp.random_base32()
        session["totp_secret"] = secret
    row = _svc().get(me)
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=row.email if row is not None else "", issuer_name=t("site")
    )
    if request.method == "GET":
        return page("totp.html", secret=secret, uri=uri)
    if not _svc().enable_totp(me, secret, request.form.get("code", "")):
        return page(
            "totp.html", 400, secret=secret, uri=uri, error=t("bad_code"), error_field="code"
        )
    session.pop("totp_secret", None)
    return page("totp.html", done=True)
