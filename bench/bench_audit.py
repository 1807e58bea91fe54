"""Cost of one audit record on the request thread and in the background writer.

Run: ``.venv/bin/python -m bench.bench_audit [STATE_URL]`` (default: a fresh SQLite file).
Prints microseconds per record: ``record()`` as a request pays it (into a sink that discards,
into the writer without a journal, and into the writer journaling each record before the
response, the gateway's configuration), the batched insert the writer thread pays, and, for
comparison, a synchronous insert with one transaction per record.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time

from access import audit
from access.policy import Grant
from smart_auth.audit.writer import AuditWriter
from smart_auth.state import create_state, make_state_engine


class _Discard:
    def append(self, record: audit.AuditRecord) -> None:
        return None


def main(url: str) -> None:
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
    for label, journal in (("writer, no journal", None), ("writer, journaled", tempfile.mkdtemp())):
        live = AuditWriter(engine, journal_dir=journal)
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


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/state.sqlite")
