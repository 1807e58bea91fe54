"""A bounded on-disk cache of retrieved DICOM instances, shared by every worker of a host.

A viewer opening a study sends many requests (series metadata, frames, rendered previews); each
would otherwise be a C-GET. The cache keeps whole instances as the Part-10 files the PACS sent
(PS3.10 §7), keyed by their UIDs (PS3.3 §C.12.1), so one retrieval answers all of them.

* Files: ``<root>/<study>/<series>/<sop>.dcm``, written to a temporary file in the same
  directory and moved into place with ``os.replace`` (atomic on POSIX), so a reader never sees
  half a file.
* Index: a SQLite database ``<root>/index.sqlite`` (WAL, busy timeout) records each file's size
  and last use, and which studies and series were retrieved completely. It is the cross-process
  accounting: workers of one host agree on the total size and on what to evict.
* Eviction: when the total exceeds ``max_bytes`` the least recently used instances are deleted
  (their row first, then the file) and the completeness marks of their study and series dropped.
  A reader that loses a file to eviction sees a miss and fetches the instance again.
* Invalidation: storing into a study (STOW-RS) drops its completeness marks and the cached
  copies of the instances just stored, and bumps the study's generation, so that a retrieval
  that was already running when the store happened cannot mark the study complete afterwards
  with the listing from before.

Access to a study is decided before the cache is asked anything (``DicomwebContext.study``);
``Source`` then lets out only instances whose own header names the study (and series, instance)
asked for and a patient of the caller: the cache holds whatever the PACS files under a UID, two
patients' instances included, and never decides who sees them. UIDs are checked (PS3.5 §9.1)
before they become paths.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from dicomweb.backends.base import RetrieveOutcome
from dicomweb.errors import RetrievalIncomplete

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instance (
    sop TEXT PRIMARY KEY, study TEXT NOT NULL, series TEXT NOT NULL,
    size INTEGER NOT NULL, used REAL NOT NULL);
CREATE INDEX IF NOT EXISTS instance_study ON instance(study, series);
CREATE INDEX IF NOT EXISTS instance_used ON instance(used);
CREATE TABLE IF NOT EXISTS complete (
    study TEXT NOT NULL, series TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (study, series));
CREATE TABLE IF NOT EXISTS generation (study TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""


def check_uid(uid: str) -> str:
    """``uid`` if it is a valid UID (PS3.5 §9.1: digits and dots, at most 64), else ValueError."""
    if len(uid) > 64 or not _UID.fullmatch(uid):
        raise ValueError("not a DICOM UID")
    return uid


@dataclass(frozen=True)
class Entry:
    """One cached instance."""

    study: str
    series: str
    sop: str


class InstanceCache:
    """The cache of one host; safe for threads of one process and for several processes."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._local = threading.local()
        with self._db() as db:
            db.executescript(_SCHEMA)

    # -- index ----------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.root / "index.sqlite", timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock of the cache for writers (``flock`` on a descriptor per thread
        and process), so that a file and its index row change together."""
        fd: int | None = getattr(self._local, "lock", None)
        if fd is None:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            self._local.lock = fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        fd = getattr(self._local, "lock", None)
        if fd is not None:
            os.close(fd)
            self._local.lock = None

    def path(self, study: str, series: str, sop: str) -> Path:
        return self.root / check_uid(study) / check_uid(series) / f"{check_uid(sop)}.dcm"

    def total_bytes(self) -> int:
        row = self._db().execute("SELECT COALESCE(SUM(size), 0) FROM instance").fetchone()
        return int(row[0])

    # -- instances ------------------------------------------------------------------------

    def put(self, study: str, series: str, sop: str, part10: bytes) -> None:
        """Store one instance (atomically), account for it, and evict if over the limit."""
        target = self.path(study, series, sop)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(part10)
            with self._locked():
                os.replace(tmp, target)
                self._db().execute(
                    "INSERT OR REPLACE INTO instance (sop, study, series, size, used) "
                    "VALUES (?,?,?,?,?)",
                    (sop, study, series, len(part10), time.time()),
                )
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if self.total_bytes() > self.max_bytes:
            self.evict(keep=sop)

    def get(self, study: str, series: str, sop: str) -> bytes | None:
        """The cached instance, or None (never cached, evicted, or of another study)."""
        try:
            data = self.path(study, series, sop).read_bytes()
        except (OSError, ValueError):
            return None
        self._db().execute("UPDATE instance SET used = ? WHERE sop = ?", (time.time(), sop))
        return data

    def find(self, study: str, sop: str) -> Entry | None:
        """Where an instance of ``study`` is cached (its series), if it is."""
        row = (
            self._db()
            .execute("SELECT series FROM instance WHERE sop = ? AND study = ?", (sop, study))
            .fetchone()
        )
        return Entry(study, str(row[0]), sop) if row else None

    # -- completeness ---------------------------------------------------------------------

    def generation(self, study: str) -> int:
        """How many times the study was invalidated; read before a retrieval starts."""
        row = self._db().execute("SELECT n FROM generation WHERE study = ?", (study,)).fetchone()
        return int(row[0]) if row else 0

    def mark_complete(
        self, study: str, series: str, entries: Iterable[Entry], generation: int | None = None
    ) -> None:
        """Record that ``entries`` are all of ``study`` (``series=""``) or of one series.

        With ``generation`` (what :meth:`generation` said before the retrieval started), nothing
        is recorded if the study was invalidated meanwhile: the listing may miss new instances.
        """
        count = len(list(entries))
        wanted = self.generation(study) if generation is None else generation
        self._db().execute(
            "INSERT OR REPLACE INTO complete (study, series, count) "
            "SELECT ?, ?, ? WHERE COALESCE((SELECT n FROM generation WHERE study = ?), 0) = ?",
            (study, series, count, study, wanted),
        )

    def complete(self, study: str, series: str = "") -> list[Entry] | None:
        """Every instance of the study (or series) if it was retrieved whole and is still
        cached in full; None otherwise (the caller retrieves from the PACS)."""
        db = self._db()
        row = db.execute(
            "SELECT count FROM complete WHERE study = ? AND series = ?", (study, series)
        ).fetchone()
        if row is None and series:  # a complete study holds each of its series whole
            whole = self.complete(study)
            return None if whole is None else [e for e in whole if e.series == series] or None
        if row is None:
            return None
        if series:
            rows = db.execute(
                "SELECT series, sop FROM instance WHERE study = ? AND series = ? "
                "ORDER BY series, sop",
                (study, series),
            ).fetchall()
        else:
            rows = db.execute(
                "SELECT series, sop FROM instance WHERE study = ? ORDER BY series, sop", (study,)
            ).fetchall()
        if len(rows) < int(row[0]):
            return None
        return [Entry(study, str(se), str(sop)) for se, sop in rows]

    def touch_study(self, study: str) -> None:
        """Mark a whole study as just used (one statement instead of one per instance)."""
        self._db().execute("UPDATE instance SET used = ? WHERE study = ?", (time.time(), study))

    def invalidate(self, study: str, sops: Iterable[str] = ()) -> None:
        """Forget that a study is complete (new instances were stored to the PACS), and drop
        the cached copies of ``sops`` (instances stored again may differ from the copy)."""
        victims: list[Entry] = []
        with self._locked():
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO generation (study, n) VALUES (?, 1) "
                    "ON CONFLICT(study) DO UPDATE SET n = n + 1",
                    (study,),
                )
                db.execute("DELETE FROM complete WHERE study = ?", (study,))
                for sop in sops:
                    entry = self.find(study, sop)
                    if entry is not None:
                        db.execute("DELETE FROM instance WHERE sop = ?", (sop,))
                        victims.append(entry)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            for entry in victims:
                with contextlib.suppress(ValueError):
                    self.path(entry.study, entry.series, entry.sop).unlink(missing_ok=True)

    # -- eviction -------------------------------------------------------------------------

    def evict(self, keep: str = "") -> int:
        """Delete least recently used instances until the total fits; returns bytes freed."""
        with self._locked():
            return self._evict(keep)

    def _evict(self, keep: str) -> int:
        db = self._db()
        freed = 0
        victims: list[tuple[str, str, str]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            total = self.total_bytes()
            rows = db.execute(
                "SELECT sop, study, series, size FROM instance WHERE sop != ? ORDER BY used",
                (keep,),
            )
            for sop, study, series, size in rows.fetchall():
                if total - freed <= self.max_bytes:
                    break
                victims.append((str(study), str(series), str(sop)))
                freed += int(size)
            for study, series, sop in victims:
                db.execute("DELETE FROM instance WHERE sop = ?", (sop,))
                db.execute(
                    "DELETE FROM complete WHERE study = ? AND series IN ('', ?)", (study, series)
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for study, series, sop in victims:
            self.path(study, series, sop).unlink(missing_ok=True)
        return freed


# -- instances from the cache, or from the PACS through it -------------------------------------

#: The header attributes every instance is checked by before it leaves: its place (PS3.3
#: §C.12.1, §C.7.2.1, §C.7.3.1) and its patient (PS3.3 §C.7.1.1).
_HEADER_TAGS = [
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "PatientID",
    "IssuerOfPatientID",
]


def header_of(part10: bytes) -> Dataset:
    """The UIDs and the patient of a Part-10 instance, read from its header only."""
    return dcmread(io.BytesIO(part10), stop_before_pixels=True, specific_tags=_HEADER_TAGS)


def _entry(ds: Dataset) -> Entry:
    return Entry(
        str(ds.get("StudyInstanceUID", "")),
        str(ds.get("SeriesInstanceUID", "")),
        str(ds.get("SOPInstanceUID", "")),
    )


def uids_of(part10: bytes) -> Entry:
    """Study, Series and SOP Instance UIDs of a Part-10 instance (its header only)."""
    return _entry(header_of(part10))


#: Whether an instance (its header, ``header_of``) may leave to the caller: its patient.
Admit = Callable[[Dataset], bool]


def _anyone(ds: Dataset) -> bool:
    return True


#: The SOP Instance UIDs of a study (series, instance: "" for any) that the caller may have,
#: from a C-FIND: what a retrieval with failed sub-operations is held against.
Expected = Callable[[str, str, str], set[str]]


class Source:
    """Instances of a study, series or one instance: from the cache when it holds them, else
    streamed from the PACS backend (PS3.4 §C.4.3 C-GET) and written to the cache on the way.

    Only a retrieval that ended in Success with no failed sub-operation marks a study or
    series complete. The cache mirrors what the PACS holds under a UID, whoever's it is;
    what leaves is decided per instance on its own header, cached or fresh: its Study (and
    Series, SOP Instance) UID must be the one asked for, whatever a PACS answers for a
    retrieval by UID, and ``admit`` (the caller's patients) must accept it. Decide access to
    the study first (``DicomwebContext.study``); ``admit`` keeps out the instances of another
    patient that a PACS files under the same UID.
    """

    def __init__(
        self,
        backend: Any,
        cache: InstanceCache | None,
        admit: Admit = _anyone,
        expected: Expected | None = None,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.admit = admit
        self.expected = expected

    def _check_complete(
        self, outcome: RetrieveOutcome | None, got: set[str], study: str, series: str, sop: str
    ) -> None:
        """A retrieval the PACS ended without everything it matched is an error, never a
        shorter answer that looks whole (RetrievalIncomplete: 502, or a cut stream once one
        began), unless every instance the caller may have there arrived: a PACS that files
        another patient's instances under the study fails theirs when their SOP class was not
        negotiated, and the caller is owed none of those."""
        if outcome is None or not outcome.incomplete:
            return
        assert outcome.status is not None
        incomplete = RetrievalIncomplete(
            status=outcome.status, failed=outcome.failed, completed=outcome.completed
        )
        if self.expected is None:
            raise incomplete
        try:
            owed = self.expected(study, series, sop)
        except Exception:
            raise incomplete from None
        if not owed <= got:
            raise incomplete

    def instances(self, study: str, series: str = "") -> Generator[bytes]:
        """Every instance, streamed as it arrives; closing the iterator cancels a retrieval."""
        located = self.located(study, series)
        try:
            for _entry, data in located:
                yield data
        finally:
            located.close()

    def located(self, study: str, series: str = "") -> Generator[tuple[Entry, bytes]]:
        """``instances`` with each instance's UIDs (read from its header)."""
        listing = self.cache.complete(study, series) if self.cache else None
        if listing is not None:
            assert self.cache is not None
            self.cache.touch_study(study)
            for entry in listing:
                data = self.cache.get(entry.study, entry.series, entry.sop)
                if data is not None:
                    ds = header_of(data)
                    if _entry(ds) != entry:  # not the instance the index says: ask the PACS
                        data = None
                    elif not self.admit(ds):
                        continue
                if data is None:  # evicted meanwhile: fetch this one again
                    data = self.instance(entry.study, entry.series, entry.sop)
                if data is not None:
                    yield entry, data
            return
        generation = self.cache.generation(study) if self.cache is not None else 0
        retrieval = (
            self.backend.retrieve_series(study, series)
            if series
            else self.backend.retrieve_study(study)
        )
        seen: list[Entry] = []
        got: set[str] = set()
        try:
            for data in retrieval:
                ds = header_of(data)
                filed = _entry(ds)
                if filed.study != study or (series and filed.series != series):
                    continue  # the PACS answered more than the UIDs asked for
                if self.cache is not None:
                    self.cache.put(filed.study, filed.series, filed.sop, data)
                    seen.append(filed)
                if self.admit(ds):
                    got.add(filed.sop)
                    yield filed, data
            outcome = retrieval.outcome
            self._check_complete(outcome, got, study, series, "")
            if (
                self.cache is not None
                and outcome is not None
                and outcome.category == "Success"
                and not outcome.failed
            ):
                self.cache.mark_complete(study, series, seen, generation)
        finally:
            retrieval.close()

    def instance(self, study: str, series: str, sop: str) -> bytes | None:
        """One instance of that study and series the caller may have, or None (the PACS has
        no such instance, or only another patient's)."""
        wanted = Entry(study, series, sop)
        if self.cache is not None:
            data = self.cache.get(study, series, sop)
            if data is not None:
                ds = header_of(data)
                if _entry(ds) == wanted and self.admit(ds):
                    return data
        found: bytes | None = None
        retrieval = self.backend.retrieve_instance(study, series, sop)
        try:
            for data in retrieval:
                ds = header_of(data)
                if _entry(ds) == wanted and self.admit(ds):
                    found = data
            if found is None:  # the PACS may have it but could not send it: not a 404
                self._check_complete(retrieval.outcome, set(), study, series, sop)
        finally:
            retrieval.close()
        if found is not None and self.cache is not None:
            self.cache.put(study, series, sop, found)
        return found
