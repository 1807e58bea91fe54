"""Booking (F19): a race for free slots across two hosts, and what $book and $find cost beside a
plain Slot search.

Run: ``.venv/bin/python -m bench.bench_booking [--pg ADMIN_URL] [--patients N] [--rounds N]``.

A generated HIS (SQLite file by default; with ``--pg``, a scratch PostgreSQL database made
from ``ADMIN_URL`` and dropped afterwards) is served by two ``fhir-gateway serve`` processes
(gunicorn, two workers each, development open access, each with its own state database):

1. the race: 50 clients, released together, each asks one of 10 new free slots for a patient,
   alternately on either host. Counted: bookings (200), appointments per slot in the HIS
   (a "double" is a slot held twice), losers answered 409 with an OperationOutcome;
2. latency, interleaved in one loop so the three share the same conditions: ``$book`` of a
   new free slot, ``$find`` (a specialty, seven days), and the plain search ``Slot`` with the
   same filters (``status=free``, ``start`` range, ``specialty``, ``_count=20``). p50 and p90
   in milliseconds, one client at a time, over HTTP on the loopback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import make_engine

CLIENTS = 50
SLOTS = 10


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@contextmanager
def _his(pg_admin: str | None, patients: int) -> Iterator[str]:
    if pg_admin is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-booking-')}/his.sqlite"
        _generate(url, patients)
        yield url
        return
    name = f"bench_booking_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = pg_admin.rsplit("/", 1)[0] + f"/{name}"
    try:
        _generate(url, patients)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _generate(url: str, patients: int) -> None:
    engine = make_engine(url)
    generate(engine, patients=patients, seed=3, today=_now().date())
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _hosts(his_url: str) -> Iterator[list[str]]:
    procs = []
    bases = []
    cli = Path(sys.executable).parent / "fhir-gateway"
    try:
        for _ in range(2):
            port = _free_port()
            tmp = Path(tempfile.mkdtemp(prefix="bench-booking-host-"))
            env = {
                **os.environ,
                "FHIR_GATEWAY_HIS_URL": his_url,
                "FHIR_GATEWAY_STATE_URL": f"sqlite:///{tmp / 'state.sqlite'}",
                "FHIR_GATEWAY_OUTBOX_DIR": str(tmp / "outbox"),
                "FHIR_GATEWAY_DICOMWEB_CACHE_DIR": str(tmp / "cache"),
                "FHIR_GATEWAY_PORT": str(port),
                "FHIR_GATEWAY_WORKERS": "2",
                "FHIR_GATEWAY_HIS_POOL_SIZE": "8",
                "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
                "FHIR_GATEWAY_SECRET_KEY": "bench-secret",
                "FHIR_GATEWAY_PACS_ENABLED": "false",
                "FHIR_GATEWAY_LOG_LEVEL": "WARNING",
                "FHIR_GATEWAY_VIDEO_JITSI_SECRET": "bench-jitsi-secret-of-32-bytes!!",
            }
            log = (tmp / "server.log").open("wb")
            procs.append(
                (subprocess.Popen([str(cli), "serve"], env=env, stdout=log, stderr=log), log)
            )
            bases.append(f"http://127.0.0.1:{port}/fhir")
        for base in bases:
            _wait(base)
        yield bases
    finally:
        for proc, log in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()


def _wait(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base.removesuffix("/fhir") + "/health/ready", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not start")


def _service(url: str) -> Any:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.service)
            .where(t.service.c.telemedicine.is_(False), t.service.c.active.is_(True))
            .order_by(t.service.c.id)
            .limit(1)
        ).one()
    engine.dispose()
    return row


def _slots(url: str, count: int, first: dt.datetime) -> list[int]:
    """A new schedule of ``count`` free 20-minute slots of the first in-person service."""
    service = _service(url)
    engine = sa.create_engine(url)
    now = _now()
    with engine.begin() as conn:
        doctor = (
            conn.execute(
                sa.select(t.doctor.c.id).where(t.doctor.c.specialty_code == service.specialty_code)
            )
            .scalars()
            .first()
        )
        schedule = conn.execute(
            sa.insert(t.schedule).values(
                doctor_id=doctor,
                service_id=service.id,
                department_id=service.department_id,
                valid_from=first.date(),
                valid_to=(first + dt.timedelta(days=365)).date(),
                updated_at=now,
            )
        ).inserted_primary_key[0]
        ids = [
            conn.execute(
                sa.insert(t.slot).values(
                    schedule_id=schedule,
                    start_at=first + dt.timedelta(minutes=20 * i),
                    end_at=first + dt.timedelta(minutes=20 * (i + 1)),
                    status="free",
                    updated_at=now,
                )
            ).inserted_primary_key[0]
            for i in range(count)
        ]
    engine.dispose()
    return [int(i) for i in ids]


def _patients(url: str) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = conn.execute(sa.select(t.patient.c.id).order_by(t.patient.c.id)).scalars().all()
    engine.dispose()
    return [int(i) for i in ids]


def _body(slot: int, patient: int) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient}"}}],
    }


def race(his_url: str, bases: list[str]) -> dict[str, int]:
    slots = _slots(his_url, SLOTS, _now() + dt.timedelta(days=2))
    people = _patients(his_url)
    barrier = threading.Barrier(CLIENTS)
    answers: list[Any] = [None] * CLIENTS

    def client(i: int) -> None:
        with requests.Session() as http:
            barrier.wait()
            answers[i] = http.post(
                f"{bases[i % 2]}/Appointment/$book",
                json=_body(slots[i % SLOTS], people[i % len(people)]),
                timeout=60,
            )

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine = sa.create_engine(his_url)
    ap = t.appointment.c
    with engine.connect() as conn:
        held = dict(
            conn.execute(
                sa.select(ap.slot_id, sa.func.count())
                .where(ap.slot_id.in_(slots), ap.status == "booked")
                .group_by(ap.slot_id)
            ).all()
        )
    engine.dispose()
    losers = [a for a in answers if a.status_code != 200]
    return {
        "clients": CLIENTS,
        "slots": SLOTS,
        "bookings": sum(a.status_code == 200 for a in answers),
        "slots booked in the HIS": len(held),
        "double": sum(1 for n in held.values() if n > 1),
        "losers": len(losers),
        "losers answered 409 + OperationOutcome": sum(
            a.status_code == 409 and a.json().get("resourceType") == "OperationOutcome"
            for a in losers
        ),
    }


def latency(his_url: str, bases: list[str], rounds: int) -> dict[str, list[float]]:
    service = _service(his_url)
    slots = _slots(his_url, rounds, _now() + dt.timedelta(days=3))
    people = _patients(his_url)
    begin = _now() + dt.timedelta(days=1)
    end = begin + dt.timedelta(days=7)
    window = f"{begin:%Y-%m-%dT%H:%M:%SZ}"
    until = f"{end:%Y-%m-%dT%H:%M:%SZ}"
    find = (
        f"{bases[0]}/Appointment/$find?specialty={service.specialty_code}"
        f"&start={window}&end={until}&_count=20"
    )
    search = (
        f"{bases[0]}/Slot?status=free&start=ge{window}&start=lt{until}"
        f"&specialty={service.specialty_code}&_count=20"
    )
    times: dict[str, list[float]] = {"$book": [], "$find": [], "Slot search": []}
    with requests.Session() as http:
        for _ in range(5):  # warm every worker's connections and caches
            http.get(find, timeout=30)
            http.get(search, timeout=30)
        for i in range(rounds):
            for name in ("$find", "Slot search", "$book"):
                start = time.perf_counter()
                if name == "$book":
                    answer = http.post(
                        f"{bases[0]}/Appointment/$book",
                        json=_body(slots[i], people[i % len(people)]),
                        timeout=30,
                    )
                else:
                    answer = http.get(find if name == "$find" else search, timeout=30)
                took = (time.perf_counter() - start) * 1000
                if answer.status_code != 200:
                    raise SystemExit(f"{name}: {answer.status_code} {answer.text[:200]}")
                times[name].append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", metavar="ADMIN_URL", help="run on a scratch PostgreSQL database")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with _his(args.pg, args.patients) as his_url, _hosts(his_url) as bases:
        kind = sa.make_url(his_url).get_backend_name()
        print(f"HIS: {kind}, {args.patients} patients; two hosts x two gunicorn workers")
        for key, value in race(his_url, bases).items():
            print(f"race: {key}: {value}")
        for name, values in latency(his_url, bases, args.rounds).items():
            ordered = sorted(values)
            p90 = ordered[int(len(ordered) * 0.9) - 1]
            print(
                f"{name:12s} p50 {statistics.median(values):7.2f} ms   p90 {p90:7.2f} ms"
                f"   (n={len(values)})"
            )


if __name__ == "__main__":
    main()
