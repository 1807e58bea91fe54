"""The messages of a share with a person outside (F21), in the share's language.

The recipient gets the link in one mail and the PIN separately: by SMS when a mobile is given,
else in a second mail. The patient who made the share is told by mail when it locks after too
many wrong PINs. No message carries health data or the patient's name; the PIN is never logged.
A failed send is logged by its class alone (no address, no text).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smart_auth import translations
from smart_auth.accounts import mail_sender, sms_sender
from smart_auth.accounts.mail import Message
from smart_auth.accounts.sms import Sms
from smart_auth.accounts.tables import account

from . import wording

log = logging.getLogger(__name__)
LANGUAGES = wording.LANGUAGES


class ShareMails:
    def __init__(self, settings: Any) -> None:
        self.mail = mail_sender(settings)
        self.sms = sms_sender(settings)

    def owner_of(self, engine: Engine, subject: str) -> tuple[str | None, str | None]:
        """The email address and language of the account behind a grant's subject
        (``patient:<account>``, ``user:<account>``), to tell them when the share locks."""
        kind, _, number = subject.partition(":")
        if kind not in ("patient", "user") or not number.isdigit():
            return None, None
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(account.c.email, account.c.language).where(account.c.id == int(number))
            ).first()
        return (row.email, row.language) if row is not None else (None, None)

    def send_share(self, row: dict[str, Any], link: str, pin: str) -> bool:
        """The link to the recipient, then the PIN on its own; False when either failed."""
        lang = str(row["language"])
        end = translations.moment(row["period_end"], lang)
        try:
            self.mail.send(
                Message(
                    row["email"],
                    wording.text("mail_link_subject", lang),
                    wording.text("mail_link_body", lang, link=link, end=end),
                    lang,
                )
            )
            if row["phone"]:
                self.sms.send(Sms(row["phone"], wording.text("sms_pin", lang, pin=pin), lang))
            else:
                self.mail.send(
                    Message(
                        row["email"],
                        wording.text("mail_pin_subject", lang),
                        wording.text("mail_pin_body", lang, pin=pin),
                        lang,
                    )
                )
        except Exception as exc:  # SMTP, network or provider failure: the share is withdrawn
            log.warning("share message not sent", extra={"error": type(exc).__name__})
            return False
        return True

    def locked(self, row: dict[str, Any]) -> None:
        """Tell the patient who made the share that it locked (best effort: the lock holds
        whether or not the mail leaves)."""
        if not row["owner_email"]:
            return
        lang = row["owner_language"] if row["owner_language"] in LANGUAGES else "en"
        try:
            self.mail.send(
                Message(
                    row["owner_email"],
                    wording.text("mail_locked_subject", lang),
                    wording.text(
                        "mail_locked_body", lang, share=f"share-{row['id']}", email=row["email"]
                    ),
                    lang,
                )
            )
        except Exception as exc:
            log.warning("share lock message not sent", extra={"error": type(exc).__name__})
