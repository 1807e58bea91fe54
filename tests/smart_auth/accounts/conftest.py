"""Fixtures for the accounts tests: a real SMTP server (aiosmtpd) on localhost, the generated
test HIS, a fresh state database per test, and a live gateway for headless Chromium."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from collections.abc import Iterator
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from werkzeug.serving import make_server

from fhir_gateway.his.schema import guardian_link, patient
from tests.conftest import app_config


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default)
            )
        return "250 OK"

    def last_to(self, address: str) -> EmailMessage:
        with self.lock:
            found = [m for m in self.messages if m["To"] == address]
        assert found, f"no mail to {address}"
        return found[-1]

    def body(self, address: str) -> str:
        payload = self.last_to(address).get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()

    def code(self, address: str) -> str:
        match = re.search(r"\b(\d{4,6})\b", self.body(address))
        assert match
        return match.group(1)

    def link(self, address: str) -> str:
        match = re.search(r"https?://\S+", self.body(address))
        assert match
        return match.group(0)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's start-up self-check needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def make_app(sqlite_his: str, tmp_path: Path, smtp: tuple[Inbox, int]) -> Any:
    def build(**extra: object) -> Any:
        from gateway.app import create_app

        config = app_config(
            sqlite_his,
            state_url=f"sqlite:///{tmp_path / 'state.sqlite'}",
            smtp_host="127.0.0.1",
            smtp_port=smtp[1],
            outbox_dir=str(tmp_path / "outbox"),
            **extra,
        )
        return create_app(config)

    return build


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


@pytest.fixture(scope="session")
def adults(sqlite_his: str) -> list[sa.Row]:
    """HIS patients who are nobody's ward, with a Romanian CNP and an email address on file
    (self-registration mails the activation link there)."""
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(patient)
            .where(patient.c.national_id_kind == "CNP", patient.c.email.is_not(None))
            .where(patient.c.id.not_in(sa.select(guardian_link.c.ward_id)))
            .order_by(patient.c.id)
        ).all()
    engine.dispose()
    assert len(rows) >= 5
    return list(rows)


class LiveServer:
    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()


@pytest.fixture
def live(make_app: Any) -> Iterator[Any]:
    servers: list[LiveServer] = []

    def start(**extra: object) -> LiveServer:
        server = LiveServer(make_app(**extra))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh English browser context and tab."""
    context = browser.new_context(locale="en-US")
    tab = context.new_page()
    yield tab
    context.close()
