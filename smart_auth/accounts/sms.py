"""Outgoing SMS: a pluggable HTTP provider (requests) and a local outbox for the demo.

The HTTP provider POSTs ``{"to": ..., "text": ...}`` as JSON with a bearer token to the
configured URL (``FHIR_GATEWAY_SMS_URL``); most SMS gateways accept that shape or sit behind
a small adapter. The outbox writes one JSON file per message into ``OUTBOX_DIR``/sms.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests


@dataclass(frozen=True)
class Sms:
    to: str
    text: str
    language: str


class SmsSender(Protocol):
    def send(self, sms: Sms) -> None: ...


class SmsError(RuntimeError):
    """The provider did not accept the message (the text is never included)."""


class HttpSmsSender:
    def __init__(self, url: str, token: str, *, timeout_s: float = 10.0) -> None:
        self.url, self.token, self.timeout_s = url, token, timeout_s

    def send(self, sms: Sms) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        resp = requests.post(
            self.url, json={"to": sms.to, "text": sms.text}, headers=headers, timeout=self.timeout_s
        )
        if resp.status_code >= 300:
            raise SmsError(f"SMS provider answered {resp.status_code}")


class OutboxSms:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, sms: Sms) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        doc = {"to": sms.to, "text": sms.text, "language": sms.language}
        (self.directory / f"{time.time_ns()}.json").write_text(json.dumps(doc, ensure_ascii=False))
