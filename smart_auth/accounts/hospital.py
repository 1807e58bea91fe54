"""Hospital-created accounts and the first sign-in (F2, F5).

The registration desk (admin command or the authenticated admin API) creates an account for a
HIS patient with email and mobile number; a temporary password is mailed. The first sign-in
then requires accepting the information clause (its version and acceptance time are stored,
GDPR Art. 7(1): the controller must be able to show consent) and choosing a new password.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from . import i18n
from .mail import Message
from .passwords import acceptable, hash_password
from .service import AccountService, valid_national_id
from .tables import account, identity


@dataclass(frozen=True)
class Created:
    account_id: int = 0
    username: str = ""
    #: "" or the message key of the refusal (bad_national_id, no_match, taken, bad_email)
    error: str = ""


def create_for_patient(
    svc: AccountService, national_id: str, email: str, phone: str, language: str, link: str
) -> Created:
    """Create the account of the HIS patient ``national_id`` and mail a temporary password."""
    national_id, email = national_id.strip(), email.strip()
    if "@" not in email or email.startswith("@") or len(email) > 254:
        return Created(error="bad_email")
    if not valid_national_id(svc.policy.national_id_kind, national_id):
        return Created(error="bad_national_id")
    found = svc.his_patient(national_id)
    if found is None:
        return Created(error="no_match")
    temporary = secrets.token_urlsafe(9)
    now = svc.clock()
    lang = language if language in i18n.LANGUAGES else "en"
    name = found.name
    held = svc.his.contacts(found.id)
    with svc.state.begin() as conn:
        clash = conn.execute(
            sa.select(account.c.id)
            .select_from(account.outerjoin(identity))
            .where(
                sa.or_(
                    sa.func.lower(account.c.email) == email.lower(),
                    sa.and_(identity.c.his_patient_id == found.id, identity.c.relation == "self"),
                )
            )
        ).first()
        if clash is not None:
            return Created(error="taken")
        inserted = conn.execute(
            account.insert().values(
                username=email.lower(),
                email=email,
                phone=phone.strip() or held.mobile,
                full_name=name,
                password_hash=hash_password(temporary),
                # the temporary password travels to this address: signing in proves it
                email_verified_at=now,
                active=True,
                created_at=now,
                failed_logins=0,
                must_change_password=True,
                language=lang,
            )
        )
        account_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        conn.execute(
            identity.insert().values(
                account_id=account_id, his_patient_id=found.id, relation="self", verified_at=now
            )
        )
    svc.mail.send(
        Message(
            to=email,
            subject=i18n.text("mail_temp_subject", lang),
            body=i18n.text(
                "mail_temp_body",
                lang,
                name=name,
                username=email.lower(),
                password=temporary,
                link=link,
            ),
            language=lang,
        )
    )
    return Created(account_id=account_id, username=email.lower())


def onboarding(svc: AccountService, account_id: int) -> tuple[bool, bool]:
    """(clause to accept, password to replace) before this account may be signed in: the
    clause whenever its current version was not accepted, the password when temporary."""
    row = svc.get(account_id)
    if row is None:
        return False, False
    return row.clause_version != svc.policy.clause_version, bool(row.must_change_password)


def finish_onboarding(svc: AccountService, account_id: int, accepted: bool, password: str) -> str:
    """Store the acceptance (version and time) and, when due, the new password. "" or a
    message key."""
    if not accepted:
        return "clause_required"
    _, must_change = onboarding(svc, account_id)
    values: dict[str, object] = {
        "clause_version": svc.policy.clause_version,
        "clause_accepted_at": svc.clock(),
    }
    if must_change:
        if not acceptable(password):
            return "weak_password"
        values.update(password_hash=hash_password(password), must_change_password=False)
    with svc.state.begin() as conn:
        conn.execute(account.update().where(account.c.id == account_id).values(**values))
    return ""
