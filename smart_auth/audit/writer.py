"""The durable audit writer: off the request's hot path, without losing events.

``append`` puts a record on a bounded in-process queue (a few microseconds); one background
thread takes what arrives within ``linger_s`` of the first record, up to ``batch`` records, and
inserts them in one transaction. The linger turns a commit per request into a commit per few
dozen under load (each commit is an fsync on SQLite, and CPU the next requests wait for on a
small machine) while delaying no request: a record is only ever late by ``linger_s``. When
the queue is full the caller writes its record itself, synchronously: back-pressure rather than
loss. ``flush`` waits until everything appended so far is committed; ``close`` (also run at
interpreter exit) flushes and stops the thread. A failed insert is retried, the batch kept.

The rows go to ``smart_auth.audit.tables``; nothing here updates or deletes them.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import uuid
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from access.audit import AuditRecord

from .tables import audit_event, audit_patient

log = logging.getLogger(__name__)

_STOP = "stop"  # queue markers: end the linger at once; stop also ends the thread
_FLUSH = "flush"


class AuditWriter:
    """``access.audit.AuditSink`` writing into the state database in batches."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_queue: int = 10_000,
        batch: int = 500,
        linger_s: float = 0.05,
        retry_s: float = 0.5,
    ) -> None:
        self.engine = engine
        self.batch = batch
        self.linger_s = linger_s
        self.retry_s = retry_s
        self._queue: queue.Queue[AuditRecord | str] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        # identifiers come from the table definitions only; every value is a bound parameter
        columns = [c.name for c in audit_event.columns]
        self._insert_event = (
            f"INSERT INTO {audit_event.name} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        self._insert_patient = (
            f"INSERT INTO {audit_patient.name} (event_id, his_patient_id) "  # noqa: S608
            f"VALUES ({mark}, {mark})"
        )

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def append(self, record: AuditRecord) -> None:
        if self._thread is None:
            self.write([record])
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.write([record])

    def flush(self) -> None:
        """Return once every record appended before the call is committed."""
        if self._thread is not None:
            self._queue.put(_FLUSH)
            self._queue.join()

    def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
        atexit.unregister(self.close)

    def write(self, records: Sequence[AuditRecord]) -> None:
        """Insert ``records`` in one transaction (DBAPI ``executemany`` of plain tuples: the
        ORM-free path costs a fraction of building one parameter dict per row)."""
        if not records:
            return
        events = []
        patients = []
        for r in records:
            key = uuid.uuid4().hex
            events.append(
                (
                    key,
                    r.recorded,
                    r.action[:32],
                    r.resource_type[:64],
                    r.outcome[:16],
                    r.subject[:128] if r.subject else None,
                    r.client_id[:128] if r.client_id else None,
                    ",".join(r.ids),
                    r.count,
                )
            )
            patients += [(key, p) for p in r.patients]
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self._insert_event, events)
            if patients:
                conn.exec_driver_sql(self._insert_patient, patients)

    def _run(self) -> None:
        done = False
        while not done:
            taken: list[AuditRecord | str] = [self._queue.get()]
            deadline = time.monotonic() + self.linger_s
            while len(taken) < self.batch and not isinstance(taken[-1], str):
                wait = deadline - time.monotonic()
                try:
                    taken.append(
                        self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
            done = _STOP in taken
            records = [r for r in taken if isinstance(r, AuditRecord)]
            while True:
                try:
                    self.write(records)
                    break
                except Exception as exc:  # keep the batch; the database may come back
                    log.error(
                        "audit batch not written, retrying", extra={"error": type(exc).__name__}
                    )
                    time.sleep(self.retry_s)
            for _ in taken:
                self._queue.task_done()
