"""Outgoing mail: an SMTP sender for any server, and a local outbox directory for the demo.

Both take a ``Message`` already rendered in the person's language (``i18n.mail``). The outbox
writes one RFC 5322 ``.eml`` file per message into its directory (``FHIR_GATEWAY_OUTBOX_DIR``
/mail), named by time and a counter, so scripts can read the latest one.
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str
    language: str


class MailSender(Protocol):
    def send(self, message: Message) -> None: ...


def _email(sender: str, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    # RFC 5322 §3.6: Date is required, Message-ID expected; servers that add them are not
    # to be counted on (and the outbox has none).
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail.set_content(message.body)
    # after set_content, which clears every Content-* header (RFC 3282)
    mail["Content-Language"] = message.language
    return mail


class SmtpSender:
    """RFC 5321 submission; STARTTLS (RFC 3207) and AUTH when configured."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        user: str = "",
        password: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.user, self.password, self.timeout_s = (
            starttls,
            user,
            password,
            timeout_s,
        )

    def send(self, message: Message) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(_email(self.sender, message))


class OutboxSender:
    """Writes each message to ``directory`` as ``<ns-time>.eml`` (the demo's outbox)."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def send(self, message: Message) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{time.time_ns()}.eml"
        path.write_bytes(bytes(_email(self.sender, message)))
