"""The durable audit writer: off the request's hot path, without losing events.

Durability. ``append`` runs on the request thread before the response is sent; with a journal
directory it first appends the record, with its final key, as one line to this process's
journal file (one ``write`` system call on an ``O_APPEND`` file: the bytes are then the
kernel's, so they survive a SIGKILL of the worker), then puts it on a bounded in-process
queue. Against a power cut of the host, ``sync="fdatasync"`` (the setting
``AUDIT_JOURNAL_SYNC``) has ``append`` return only once the line is on the disk: group commit,
one ``fdatasync`` covering every line written before it, so the threads of a worker that
answer together share one (a thread that finds its line already covered by another's call
does not make its own). The journal file's directory entry is synced once, when it is made.

One background thread takes what arrives within
``linger_s`` of the first record, up to ``batch`` records, and inserts them in one transaction;
once everything journaled is committed it truncates the journal. Each journal file is held
under an exclusive ``flock`` by the process writing it, so the lock goes when the process dies:
at start, and every ``orphan_scan_s`` after, every writer of the host drains the journals whose
lock it can take (a killed worker's), inserting the records not in the database yet (the keys
were made before journaling, so a replay never duplicates) and deleting the file.

Intents. An interaction that cannot be undone and may be cut off in its middle (a STOW-RS
storing into the PACS) is announced: ``intend`` journals a record of outcome ``unknown``
(synced like any other line) without queueing it, and ``complete`` journals and queues the
final record under the same key. A drain keeps the last line of each key: the final record
where there is one, else the intent, so a worker killed while the PACS stores leaves an
``unknown`` event naming the studies. The journal is not emptied while an intent is open.

The linger turns a commit per request into a commit per few dozen under load while delaying no
request. When the queue is full the caller writes its record itself, synchronously:
back-pressure rather than loss. ``flush`` waits until everything appended so far is committed;
``close`` (also run at interpreter exit and by gunicorn's ``worker_exit``) flushes and stops the
thread.

Poison records. Strings lose their NUL and other control characters before they are written
(PostgreSQL refuses NUL in text). When a batch still fails while the database answers, the
records are written one by one; a record refused on its own goes to the dead-letter file
(``dead-letter.jsonl`` in the journal directory, or the log when there is none) with one log
line naming its key and the error class, no patient data, and the rest go on. When the
database does not answer, the batch is kept and retried.

The rows go to ``smart_auth.audit.tables``; nothing here updates or deletes them.
"""

from __future__ import annotations

import atexit
import datetime as dt
import fcntl
import itertools
import json
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from access.audit import AuditRecord

from .tables import audit_event, audit_patient

log = logging.getLogger(__name__)

_STOP = "stop"  # queue markers: end the linger at once; stop also ends the thread
_FLUSH = "flush"
_SUFFIX = ".journal"
DEAD_LETTER = "dead-letter.jsonl"

#: NUL and the other C0 control characters and DEL: none belongs in an id, a subject or a code
_CONTROL = {c: None for c in (*range(0x20), 0x7F)}

Keyed = tuple[str, AuditRecord]


def _clean(value: str) -> str:
    """``value`` without control characters, lone surrogates replaced (not UTF-8)."""
    if value.isprintable():
        return value
    return value.translate(_CONTROL).encode("utf-8", "replace").decode("utf-8")


def _encode(key: str, r: AuditRecord, *, intent: bool = False) -> bytes:
    entry: dict[str, object] = {
        "k": key,
        "at": r.recorded.isoformat(),
        "s": r.subject,
        "c": r.client_id,
        "a": r.action,
        "t": r.resource_type,
        "o": r.outcome,
        "i": r.ids,
        "n": r.count,
        "p": list(r.patients),
    }
    if intent:
        entry["x"] = 1  # an announcement: a later line of the same key replaces it
    try:
        return orjson.dumps(entry) + b"\n"
    except TypeError:  # what orjson refuses (a lone surrogate, a huge int) the journal keeps
        return json.dumps(entry, default=str).encode() + b"\n"


def _decode(line: bytes) -> Keyed:
    d = _loads(line)
    return d["k"], AuditRecord(
        recorded=dt.datetime.fromisoformat(d["at"]),
        subject=d["s"],
        client_id=d["c"],
        action=d["a"],
        resource_type=d["t"],
        outcome=d["o"],
        ids=tuple(d["i"]),
        count=int(d["n"]),
        patients=frozenset(int(p) for p in d["p"]),
    )


def _loads(line: bytes) -> dict[str, Any]:
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError:
        d = json.loads(line)
    if not isinstance(d, dict):
        raise ValueError("not a journal entry")
    return d


#: How the journal is made durable before an answer: not beyond the kernel (``none``), or on
#: the disk (``fdatasync``, shared by the lines written meanwhile).
SYNC_MODES = ("none", "fdatasync")


class AuditWriter:
    """``access.audit.AuditSink`` writing into the state database in batches.

    ``journal_dir``: where this process journals its records before answering (None: no
    journal, records queued in memory only). Every writer over one state database must use
    the same directory on a host (``smart_auth.audit.journal_dir`` derives it).
    ``sync``: one of ``SYNC_MODES`` (see the module).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        journal_dir: str | Path | None = None,
        max_queue: int = 10_000,
        batch: int = 500,
        linger_s: float = 0.05,
        retry_s: float = 0.5,
        orphan_scan_s: float = 30.0,
        sync: str = "none",
    ) -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {SYNC_MODES}")
        self.sync = sync
        self.engine = engine
        self.batch = batch
        self.linger_s = linger_s
        self.retry_s = retry_s
        self.orphan_scan_s = orphan_scan_s
        self.journal_dir = Path(journal_dir) if journal_dir is not None else None
        self._queue: queue.Queue[Keyed | str] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._journal: Path | None = None
        self._journaled = 0  # records in the journal file ...
        self._committed = 0  # ... of which committed (the file is truncated when equal)
        self._intents = 0  # intents journaled and not completed (the file is kept meanwhile)
        self._written = 0  # lines ever written to the journal, and of them ...
        self._synced = 0  # ... those known to be on the disk
        self._sync_lock = threading.Lock()
        #: fdatasync calls made (what group commit saves is the lines written minus these)
        self.syncs = 0
        self._prefix = secrets.token_hex(10)
        self._serial = itertools.count()
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

    # --- the request thread ----------------------------------------------------------------

    def _key(self) -> str:
        """32 hex digits, unique without a round trip: a random per-writer prefix and a serial."""
        return f"{self._prefix}{next(self._serial):012x}"

    def append(self, record: AuditRecord) -> None:
        self._append(self._key(), record)

    def intend(self, record: AuditRecord) -> str:
        """Journal ``record`` (an interaction about to be carried out, outcome ``unknown``)
        without queueing it; the key ``complete`` replaces it by (see the module)."""
        key = self._key()
        with self._lock:
            if self._thread is None or self._fd is None:
                return key  # no journal: nothing is kept ahead, ``complete`` writes
            os.write(self._fd, _encode(key, record, intent=True))
            self._intents += 1
            self._written += 1
            line = self._written
        self._make_durable(line)
        return key

    def complete(self, key: str, record: AuditRecord) -> None:
        """The final record of the intent ``key``: journaled and written like any other."""
        self._append(key, record, completes=True)

    def _append(self, key: str, record: AuditRecord, *, completes: bool = False) -> None:
        if self._thread is None:
            self.write_keyed([(key, record)])
            return
        line = 0
        with self._lock:
            if self._fd is not None:
                os.write(self._fd, _encode(key, record))
                self._journaled += 1
                self._written += 1
                line = self._written
                if completes and self._intents:
                    self._intents -= 1
            try:
                self._queue.put_nowait((key, record))
                queued = True
            except queue.Full:
                queued = False
        if line:
            self._make_durable(line)
        if queued:
            return
        self.write_keyed([(key, record)])
        self._done(1)

    def _make_durable(self, line: int) -> None:
        """Return once journal line ``line`` is on the disk (``sync="fdatasync"``): one
        ``fdatasync`` covers every line written before it, so a thread whose line another
        thread's call already covered returns at once (group commit)."""
        if self.sync == "none":
            return
        with self._sync_lock:
            if self._synced >= line or self._fd is None:
                return
            with self._lock:
                upto = self._written
            os.fdatasync(self._fd)
            self.syncs += 1
            self._synced = upto

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        if self.journal_dir is not None:
            self._open_journal()
            try:
                self.drain_orphans()
            except Exception as exc:  # the database may be down; the thread tries again
                log.error("audit journal drain failed", extra={"error": type(exc).__name__})
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

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
        with self._sync_lock, self._lock:
            fd, path, self._fd = self._fd, self._journal, None
            if fd is not None and path is not None:
                if self._journaled == self._committed and not self._intents:
                    path.unlink(missing_ok=True)  # all in the database
                os.close(fd)  # otherwise the next writer's drain takes what is left

    # --- the journal -----------------------------------------------------------------------

    def _open_journal(self) -> None:
        """A fresh journal file, locked before it gets the name drains look for."""
        assert self.journal_dir is not None
        self.journal_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{os.getpid()}-{self._prefix}"
        temporary = self.journal_dir / f"{name}.new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        final = self.journal_dir / f"{name}{_SUFFIX}"
        os.rename(temporary, final)
        if self.sync != "none":  # the file's name, too, must survive a power cut
            directory = os.open(self.journal_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self._fd, self._journal = fd, final

    def _done(self, n: int) -> None:
        """``n`` journaled records are committed; empty the journal once all of them are."""
        with self._lock:
            self._committed += n
            if self._fd is not None and self._committed >= self._journaled and not self._intents:
                os.ftruncate(self._fd, 0)
                self._committed = self._journaled = 0

    def drain_orphans(self) -> int:
        """Insert what journals left by dead processes hold and delete them; how many records
        were missing from the database."""
        if self.journal_dir is None or not self.journal_dir.is_dir():
            return 0
        missing = 0
        for path in sorted(self.journal_dir.glob(f"*{_SUFFIX}")):
            if path == self._journal:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # drained by another worker meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive
                with os.fdopen(os.dup(fd), "rb") as f:
                    lines = f.read().splitlines()
                missing += self._replay(lines, path.name)
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        if missing:
            log.warning("audit journal drained", extra={"records": missing})
        return missing

    def _replay(self, lines: Iterable[bytes], source: str) -> int:
        last: dict[str, AuditRecord] = {}  # the last line of each key: an intent's final record
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                key, record = _decode(line)
            except (ValueError, KeyError, TypeError):
                # only the last line of a killed writer can be torn: its request was not answered
                log.error("audit journal line unreadable", extra={"file": source, "line": number})
                continue
            last.pop(key, None)  # keep the order of the final lines
            last[key] = record
        keyed = list(last.items())
        unknown = sum(r.outcome == "unknown" for _, r in keyed)
        if unknown:
            log.warning("audit intents without an outcome drained", extra={"records": unknown})
        done = 0
        for start in range(0, len(keyed), self.batch):
            chunk = keyed[start : start + self.batch]
            with self.engine.connect() as conn:
                known = set(
                    conn.execute(
                        select(audit_event.c.id).where(audit_event.c.id.in_([k for k, _ in chunk]))
                    ).scalars()
                )
            todo = [(k, r) for k, r in chunk if k not in known]
            self._write_isolating(todo)
            done += len(todo)
        return done

    # --- the database ----------------------------------------------------------------------

    def write(self, records: Sequence[AuditRecord]) -> None:
        """Insert ``records`` in one transaction."""
        self.write_keyed([(self._key(), r) for r in records])

    def write_keyed(self, records: Sequence[Keyed]) -> None:
        """Insert ``records`` in one transaction (DBAPI ``executemany`` of plain tuples: the
        ORM-free path costs a fraction of building one parameter dict per row)."""
        if not records:
            return
        events = []
        patients = []
        for key, r in records:
            events.append(
                (
                    key,
                    r.recorded,
                    _clean(r.action)[:32],
                    _clean(r.resource_type)[:64],
                    _clean(r.outcome)[:16],
                    _clean(r.subject)[:128] if r.subject else None,
                    _clean(r.client_id)[:128] if r.client_id else None,
                    ",".join(_clean(i) for i in r.ids),
                    r.count,
                )
            )
            patients += [(key, p) for p in r.patients]
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self._insert_event, events)
            if patients:
                conn.exec_driver_sql(self._insert_patient, patients)

    def _answers(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _write_isolating(self, records: Sequence[Keyed]) -> None:
        """Write ``records``; set aside those the database refuses on their own. Raises when
        the database does not answer (the caller keeps the records and retries)."""
        try:
            self.write_keyed(records)
            return
        except Exception:
            if not self._answers():
                raise
        for one in records:
            try:
                self.write_keyed([one])
            except Exception as exc:
                if not self._answers():
                    raise
                self._dead_letter(one, exc)

    def _dead_letter(self, one: Keyed, exc: Exception) -> None:
        key, record = one
        log.error(
            "audit record refused by the database, set aside",
            extra={"event": key, "error": type(exc).__name__},
        )
        if self.journal_dir is None:
            return
        self.journal_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.journal_dir / DEAD_LETTER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, _encode(key, record))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _run(self) -> None:
        done = False
        scanned = time.monotonic()
        while not done:
            try:
                first = self._queue.get(timeout=self.orphan_scan_s)
            except queue.Empty:
                first = None
            if time.monotonic() - scanned >= self.orphan_scan_s:
                scanned = time.monotonic()
                try:
                    self.drain_orphans()
                except Exception as exc:
                    log.error("audit journal drain failed", extra={"error": type(exc).__name__})
            if first is None:
                continue
            taken: list[Keyed | str] = [first]
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
            records = [r for r in taken if not isinstance(r, str)]
            while True:
                try:
                    self._write_isolating(records)
                    break
                except Exception as exc:  # keep the batch; the database may come back
                    log.error(
                        "audit batch not written, retrying", extra={"error": type(exc).__name__}
                    )
                    time.sleep(self.retry_s)
            if records:
                self._done(len(records))
            for _ in taken:
                self._queue.task_done()
