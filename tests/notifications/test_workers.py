"""Several ``fhir-gateway worker`` processes: exactly one message per event and channel when
two workers (two hosts' worth) share the queue and the state database, on SQLite and on
PostgreSQL; and a worker killed in the middle of sending loses nothing, on the embedded queue
and on Redis."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import select

from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector
from gateway.settings import Settings
from smart_auth.notifications.tables import job_message
from tests.conftest import scratch_postgres
from tests.smart_auth.accounts.conftest import Inbox

from .conftest import REPO_ENV, Hospital, env_of, settings_for
from .test_end_to_end import feed_started, store_of, wait_for

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from gateway.cli import main; main()",
                "worker",
                "--threads",
                "3",
            ],
            env={**REPO_ENV, **env_of(settings)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared-state.sqlite'}"
        return
    with scratch_postgres("notify_state") as url:
        yield url


def test_two_workers_send_each_message_once(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    smtp: tuple[Inbox, int],
    state_url: str,
    procs: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    inbox, port = smtp
    settings = settings_for(
        his_copy,
        tmp_path,
        state_url=state_url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        notify_his_poll_s=0.3,
        notify_sweep_every_s=1,
        queue_lease_s=10,
    )
    store = store_of(settings)
    with hospital.engine.connect() as conn:
        bulletins = (
            conn.execute(select(t.lab_bulletin.c.id).order_by(t.lab_bulletin.c.id))
            .scalars()
            .all()[:30]
        )
    for n in (1, 2):
        procs.append(start_worker(settings, tmp_path / f"worker{n}.log"))
    wait_for(lambda: feed_started(store), what="the feed")
    owners = {hospital.validate_bulletin(b) for b in bulletins}
    for owner in owners:
        hospital.with_contacts(owner, f"p{owner}@patients.test", None)
    # documents too, changed while the first deliveries are being sent
    docs = connector.changes("document", None, 10)
    for doc in docs:
        hospital.with_contacts(doc.patient_id, f"p{doc.patient_id}@patients.test", None)
        with hospital.engine.begin() as conn:
            conn.execute(
                t.document.update().where(t.document.c.id == doc.id).values(updated_at=_now())
            )
    total = len(bulletins) + len(docs)
    wait_for(
        lambda: sum(d["state"] == "sent" for d in store.deliveries()) == total,
        timeout_s=90,
        what="every delivery sent",
    )
    wait_for(lambda: len(inbox.messages) >= total, what="the mails")
    import time

    time.sleep(2)  # more polls and sweeps by both: nothing more is sent
    deliveries = store.deliveries()
    assert len(deliveries) == total
    assert {d["state"] for d in deliveries} == {"sent"}
    assert len(inbox.messages) == total
    sent_to = Counter(m["To"] for m in inbox.messages)
    expected = Counter(f"p{d['patient_id']}@patients.test" for d in deliveries)
    assert sent_to == expected
    for proc in procs:
        assert proc.poll() is None  # both still running


def _now() -> Any:
    from .conftest import now

    return now()


class StallingInbox(Inbox):
    """Holds the first message's DATA until released, then refuses it (451: the sender, dead
    by then, would have retried); accepts every later one."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.stalled = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.stalled:
            self.stalled = True
            self.arrived.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 try again later"
        with self.lock:
            self.messages.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default)
            )
        return "250 OK"


@pytest.fixture
def stalling_smtp() -> Iterator[tuple[StallingInbox, int]]:
    import socket

    inbox = StallingInbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        inbox.release.set()
        controller.stop()


@pytest.fixture(params=["state", "redis"])
def queue_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    if request.param == "state":
        yield "", ""
        return
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable")
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    yield REDIS_URL, namespace
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)


def test_a_worker_killed_mid_send_loses_nothing(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    stalling_smtp: tuple[StallingInbox, int],
    queue_url: tuple[str, str],
    procs: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    inbox, port = stalling_smtp
    url, namespace = queue_url
    settings = settings_for(
        his_copy,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        queue_url=url,
        queue_namespace=namespace or "fhir-gateway",
        queue_lease_s=4,
        queue_heartbeat_s=3,
        smtp_timeout_s=30,
        notify_sweep_every_s=3600,  # the queue alone must bring the job back
    )
    store = store_of(settings)
    procs.append(start_worker(settings, tmp_path / "first.log"))
    wait_for(lambda: feed_started(store), what="the feed")
    owner = hospital.validate_bulletin(hospital.first(t.lab_bulletin))
    hospital.with_contacts(owner, "killed@patients.test", None)
    assert inbox.arrived.wait(30), "the first worker never sent"
    assert [d["state"] for d in store.deliveries()] == ["sending"]
    procs[0].send_signal(signal.SIGKILL)  # in the middle of the SMTP exchange
    procs[0].wait(timeout=10)
    inbox.release.set()  # the dead worker's message is refused by the server
    procs.append(start_worker(settings, tmp_path / "second.log"))
    wait_for(
        lambda: [d["state"] for d in store.deliveries()] == ["sent"],
        timeout_s=60,
        what="the killed job run again",
    )
    assert [m["To"] for m in inbox.messages] == ["killed@patients.test"]
    assert store.deliveries()[0]["attempts"] == 2
    if not url:
        wait_for(
            lambda: not store.engine.connect().execute(select(job_message.c.id)).all(),
            what="the queue emptied",
        )
