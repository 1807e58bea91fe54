"""Cost of one audit record on the request thread and in the background writer.

Run: ``.venv/bin/python -m bench.bench_audit [STATE_URL]`` (default: a fresh SQLite file).
Prints microseconds per record: ``record()`` as a request pays it (into a sink that discards,
into the writer without a journal, into the writer journaling each record before the
response without syncing it, ``AUDIT_JOURNAL_SYNC=none``, and with an ``fdatasync`` before
each append returns, ``fdatasync``, the default), the batched insert the writer thread pays,
and, for comparison, a synchronous insert with one transaction per record.

Then the journal's two sync modes side by side, interleaved in ``--rounds`` rounds, with
``--threads`` request threads appending at once (the threads of a worker answering together):
records per second and, for ``fdatasync``, how many records each call covered (group commit).
The journal lives in the state database's directory for a SQLite file (the gateway's default
place), else in a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from access import audit
from access.policy import Grant
from smart_auth.audit.writer import AuditWriter
from smart_auth.state import create_state, make_state_engine


class _Discard:
    def append(self, record: audit.AuditRecord) -> None:
        return None


def main(url: str, threads: int = 8, rounds: int = 5) -> None:
    engine = make_state_engine(url)
    create_state(engine)
    grant = Grant(subject="patient:1", client_id="app", patients=frozenset({1}))
    n = 20_000
    token = audit.use(_Discard())
    start = time.perf_counter()
    for i in range(n):
        audit.record(grant, "read", "Observation", outcome="allowed", ids=[str(i)])
    print(f"record() on the request thread: {(time.perf_counter() - start) / n * 1e6:.1f} us")
    audit.reset(token)
    place = _journal_place(url)
    for label, journal, sync in (
        ("writer, no journal", None, "none"),
        ("writer, journaled, sync none", place, "none"),
        ("writer, journaled, sync fdatasync", place, "fdatasync"),
    ):
        live = AuditWriter(engine, journal_dir=journal, sync=sync)
        live.start()
        token = audit.use(live)
        start = time.perf_counter()
        for i in range(n):
            audit.record(grant, "read", "Observation", outcome="allowed", ids=[str(i)])
        took = time.perf_counter() - start
        audit.reset(token)
        live.close()
        print(f"record() on the request thread, {label}: {took / n * 1e6:.1f} us")
    writer = AuditWriter(engine)
    one = audit.AuditRecord(
        dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "patient:1",
        "app",
        "read",
        "Observation",
        "allowed",
        ("1",),
        1,
        frozenset({1}),
    )
    start = time.perf_counter()
    for _ in range(n // 500):
        writer.write([one] * 500)
    print(f"writer thread, 500 per batch: {(time.perf_counter() - start) / n * 1e6:.1f} us")
    m = 300
    start = time.perf_counter()
    for _ in range(m):
        writer.write([one])
    print(f"synchronous, one per transaction: {(time.perf_counter() - start) / m * 1e6:.0f} us")
    concurrent(engine, place, threads, rounds)


def _journal_place(url: str) -> str:
    if url.startswith("sqlite:///"):
        return tempfile.mkdtemp(dir=str(Path(url.removeprefix("sqlite:///")).parent))
    return tempfile.mkdtemp()


def concurrent(engine: Any, place: str, threads: int, rounds: int, seconds: float = 2.0) -> None:
    """Both sync modes, interleaved round by round, ``threads`` threads appending for
    ``seconds`` each round; medians of the rounds."""
    grant = Grant(subject="patient:1", client_id="app", patients=frozenset({1}))
    rates: dict[str, list[float]] = {"none": [], "fdatasync": []}
    per_sync: list[float] = []
    for _ in range(rounds):
        for sync in ("none", "fdatasync"):
            writer = AuditWriter(engine, journal_dir=place, sync=sync)
            writer.start()
            counts = [0] * threads
            until = time.perf_counter() + seconds

            def run(
                t: int,
                writer: AuditWriter = writer,
                until: float = until,
                counts: list[int] = counts,
            ) -> None:
                token = audit.use(writer)
                try:
                    while time.perf_counter() < until:
                        audit.record(grant, "read", "Observation", outcome="allowed", ids=["1"])
                        counts[t] += 1
                finally:
                    audit.reset(token)

            workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            writer.close()
            rates[sync].append(sum(counts) / seconds)
            if sync == "fdatasync":
                per_sync.append(sum(counts) / max(1, writer.syncs))
    none, synced = statistics.median(rates["none"]), statistics.median(rates["fdatasync"])
    print(
        f"{threads} threads appending at once, median of {rounds} rounds of {seconds:.0f} s: "
        f"sync none {none:,.0f} records/s, fdatasync {synced:,.0f} records/s "
        f"({synced / none:.1%}); {statistics.median(per_sync):.1f} records per fdatasync"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default="")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    main(args.url or f"sqlite:///{tempfile.mkdtemp()}/state.sqlite", args.threads, args.rounds)
