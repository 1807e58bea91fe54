"""Booking races across two gunicorn servers (two workers each) sharing one HIS on PostgreSQL:
50 clients released together for 10 free slots get exactly 10 bookings and 40 answers 409 with
an OperationOutcome, never two appointments on one slot; then 50 clients for one slot, one.

The servers run with development open access (the race is about the HIS write; who may book is
the access contract's). Each server has its own state database; the notification events they
queue together are one per booking.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from smart_auth.notifications.tables import job_message
from tests.booking.his import add_slots, book_body, patients
from tests.gunicorn_serving import wait_ready

pytestmark = pytest.mark.postgres

CLIENTS = 50
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def servers(booking_pg_his: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two ``fhir-gateway serve`` processes on the same HIS: their bases and state URLs."""
    started = []
    try:
        for name in ("a", "b"):
            port = _free_port()
            tmp = tmp_path_factory.mktemp(f"host-{name}")
            state = f"sqlite:///{tmp / 'state.sqlite'}"
            env = {
                **os.environ,
                "PYTHONPATH": str(REPO),  # this checkout's code, whatever the venv installed
                "FHIR_GATEWAY_HIS_URL": booking_pg_his,
                "FHIR_GATEWAY_STATE_URL": state,
                "FHIR_GATEWAY_OUTBOX_DIR": str(tmp / "outbox"),
                "FHIR_GATEWAY_DICOMWEB_CACHE_DIR": str(tmp / "cache"),
                "FHIR_GATEWAY_PORT": str(port),
                "FHIR_GATEWAY_WORKERS": "2",
                "FHIR_GATEWAY_HIS_POOL_SIZE": "8",
                "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
                "FHIR_GATEWAY_SECRET_KEY": "race-secret",
                "FHIR_GATEWAY_PACS_ENABLED": "false",
                "FHIR_GATEWAY_LOG_LEVEL": "WARNING",
            }
            log_path = tmp / "server.log"
            log = log_path.open("wb")
            cli = Path(sys.executable).parent / "fhir-gateway"
            proc = subprocess.Popen(
                [str(cli), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            started.append((proc, log))
            wait_ready(port, log_path)
            started[-1] = (proc, log, f"http://127.0.0.1:{port}/fhir", state)
        yield [(base, state) for _p, _l, base, state in started]
    finally:
        for entry in started:
            proc, log = entry[0], entry[1]
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()


def race(bases: list[str], wanted: list[tuple[int, int]]) -> list[requests.Response]:
    """One client per (slot, patient), alternately on each server, released together."""
    barrier = threading.Barrier(len(wanted))
    answers: list[Any] = [None] * len(wanted)

    def client(i: int) -> None:
        slot, patient = wanted[i]
        with requests.Session() as http:
            barrier.wait()
            answers[i] = http.post(
                f"{bases[i % len(bases)]}/Appointment/$book",
                json=book_body(slot, patient),
                headers={"Content-Type": "application/fhir+json"},
                timeout=60,
            )

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(wanted))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def holders(url: str, slots: list[int]) -> dict[int, list[int]]:
    engine = sa.create_engine(url)
    ap = t.appointment.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ap.slot_id, ap.id).where(ap.slot_id.in_(slots), ap.status == "booked")
        ).all()
        busy = conn.execute(
            sa.select(sa.func.count()).where(t.slot.c.id.in_(slots), t.slot.c.status == "busy")
        ).scalar_one()
    engine.dispose()
    out: dict[int, list[int]] = {s: [] for s in slots}
    for slot, appointment in rows:
        out[slot].append(appointment)
    assert busy == len(slots)
    return out


def judge(answers: list[requests.Response], bookings: int) -> list[str]:
    won = [a for a in answers if a.status_code == 200]
    lost = [a for a in answers if a.status_code != 200]
    assert len(won) == bookings, [a.status_code for a in answers]
    for answer in lost:
        assert answer.status_code == 409, answer.text[:300]
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "conflict"
    return [a.json()["entry"][0]["resource"]["id"] for a in won]


def events(states: list[str], ids: list[str]) -> int:
    """The booked events of these appointments both hosts queued together."""
    total = 0
    for url in states:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            bodies = conn.execute(sa.select(job_message.c.body)).scalars().all()
        engine.dispose()
        for body in map(json.loads, bodies):
            if body["actor_name"] != "record_event":
                continue
            event = body["args"][0]
            total += event["kind"] == "appointment-booked" and event["resource_id"] in ids
    return total


def test_fifty_clients_on_two_hosts_race_for_ten_slots(servers: Any, booking_pg_his: str) -> None:
    bases = [base for base, _ in servers]
    slots = add_slots(booking_pg_his, 10)
    people = patients(booking_pg_his, CLIENTS)
    answers = race(bases, [(slots[i % 10], people[i % len(people)]) for i in range(CLIENTS)])
    ids = judge(answers, 10)
    held = holders(booking_pg_his, slots)
    assert all(len(appointments) == 1 for appointments in held.values()), held
    assert sorted(str(a[0]) for a in held.values()) == sorted(ids)
    assert events([state for _, state in servers], ids) == 10


def test_fifty_clients_for_one_slot_make_one_booking(servers: Any, booking_pg_his: str) -> None:
    bases = [base for base, _ in servers]
    [slot] = add_slots(booking_pg_his, 1)
    people = patients(booking_pg_his, CLIENTS)
    answers = race(bases, [(slot, people[i % len(people)]) for i in range(CLIENTS)])
    ids = judge(answers, 1)
    assert holders(booking_pg_his, [slot]) == {slot: [int(ids[0])]}
