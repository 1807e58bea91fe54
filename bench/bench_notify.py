"""Notification figures: ``python -m bench.bench_notify``. Figures go to BENCHMARKS.md.

1. Latency from a HIS change to the message in the outbox: a generated HIS on SQLite, the
   state database on SQLite (the embedded queue), one ``fhir-gateway worker`` (its code, in
   this process, 4 threads), the mail outbox (one .eml file per message, named by the time it
   was written). One lab bulletin of a different patient is validated every ``--gap`` seconds;
   the latency is the outbox file's time minus the commit of the HIS change. The HIS is polled
   every ``--poll`` seconds, so the latency is about half the interval on average plus the
   delivery.
2. Events handled per minute by one worker: every booked appointment of the HIS is moved
   (each move is a new ``appointment-changed`` event), round after round, and the messages
   written per minute are counted; the process's resident memory is sampled each round.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector, make_engine
from gateway.settings import Settings
from mappers import IdentifierSystems
from notifications.worker import build, run

TODAY = dt.date(2026, 11, 1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _outbox(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml")) if directory.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--gap", type=float, default=0.37)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    his_url = f"sqlite:///{tmp / 'his.sqlite'}"
    his_engine = make_engine(his_url)
    generate(his_engine, patients=args.patients, seed=3, today=TODAY)
    with his_engine.begin() as conn:  # every patient has an address
        for pid in conn.execute(sa.select(t.patient.c.id)).scalars().all():
            conn.execute(
                sa.update(t.patient)
                .where(t.patient.c.id == pid)
                .values(email=f"p{pid}@patients.test")
            )
    outbox = tmp / "outbox"
    settings = Settings.from_mapping(
        {
            "his_url": his_url,
            "state_url": f"sqlite:///{tmp / 'state.sqlite'}",
            "outbox_dir": str(outbox),
            "notify_his_poll_s": args.poll,
            "queue_threads": 4,
            "log_level": "WARNING",
        },
        environ=False,
    )
    connector = SqlConnector.from_url(his_url, IdentifierSystems.from_base("http://h.test/id"))
    store = build(settings, his=connector).runtime.store
    stop = threading.Event()
    thread = threading.Thread(
        target=run, args=(settings,), kwargs={"his": connector, "stop": stop}, daemon=True
    )
    thread.start()
    while store.cursor("appointment") is None:
        time.sleep(0.05)

    # 1. latency
    b = t.lab_bulletin.c
    with his_engine.connect() as conn:
        firsts = (
            conn.execute(
                sa.select(sa.func.min(b.id)).group_by(b.patient_id).order_by(sa.func.min(b.id))
            )
            .scalars()
            .all()
        )
    changed: list[float] = []
    for his_id in firsts:
        with his_engine.begin() as conn:
            conn.execute(
                sa.update(t.lab_bulletin)
                .where(b.id == his_id)
                .values(status="validated", updated_at=_now(), version=b.version + 1)
            )
        changed.append(time.time())
        time.sleep(args.gap)
    deadline = time.monotonic() + 60
    while len(_outbox(outbox / "mail")) < len(changed) and time.monotonic() < deadline:
        time.sleep(0.1)
    written = sorted(int(p.stem) / 1e9 for p in _outbox(outbox / "mail"))
    # the n-th change's message is the n-th file (changes are further apart than a delivery)
    latencies = sorted(w - c for w, c in zip(written, changed, strict=False))
    q = statistics.quantiles(latencies, n=100)
    latency = {
        "events": len(latencies),
        "poll_s": args.poll,
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(q[98], 3),
        "max_s": round(max(latencies), 3),
    }
    print(json.dumps({"latency": latency}))

    # 2. throughput and memory
    a = t.appointment.c
    with his_engine.connect() as conn:
        booked = conn.execute(sa.select(a.id).where(a.status == "booked")).scalars().all()
    process = psutil.Process()
    base = len(_outbox(outbox / "mail"))
    rss = []
    started = time.monotonic()
    for _ in range(args.rounds):
        with his_engine.begin() as conn:
            conn.execute(
                sa.update(t.appointment)
                .where(a.id.in_(booked))
                .values(updated_at=_now(), version=a.version + 1)
            )
        target = base + len(booked)
        while len(_outbox(outbox / "mail")) < target:
            time.sleep(0.05)
        base = target
        rss.append(round(process.memory_info().rss / 2**20, 1))
    took = time.monotonic() - started
    handled = len(booked) * args.rounds
    throughput = {
        "events": handled,
        "seconds": round(took, 1),
        "per_minute": round(handled / took * 60),
        "rss_mb_per_round": rss,
    }
    print(json.dumps({"throughput": throughput}))
    stop.set()
    thread.join(timeout=30)
    pending = [d for d in store.deliveries() if d["state"] != "sent"]
    print(json.dumps({"not_sent": len(pending)}))


if __name__ == "__main__":
    main()
