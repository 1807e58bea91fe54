"""The rules of patients' uploads (F17), free of any web framework.

Receiving a file (``receive``): the per-file limit is checked against the announced length
before anything is stored; then, with the patient's ``upload_account`` row locked, the quota:
what is stored and what uploads in progress hold (their reservations, while their lease runs)
plus this upload's reservation may not pass it. So two uploads racing for the last bytes are
decided one after the other, and the stored total never passes the quota. The bytes are
streamed to the store a chunk at a time (memory does not grow with the file), the type is
decided from them (``detect``), and only then does the file become an object and its row
``stored``. A refusal or a failure at any point removes what was written; a worker that dies
leaves a reservation whose lease runs out and a partial file ``sweep`` removes.

A document (``create_document``) points at one stored file of the same patient; it is written
to the state database first, then handed to the HIS (``HisConnector.submit_patient_document``,
idempotent), and a hand-off the HIS could not take is retried by ``sweep``. Deleting a
document removes its row, then its bytes; a crash between the two leaves a ``removing`` file
``sweep`` finishes, counted against nobody's quota.

Other parts of the gateway (questionnaire answers, shares) ask ``uploads_of`` and
``is_upload``; they never read these tables themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import IO, Any, BinaryIO

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from fhir_gateway.his.connector import HisConnector, HisUnreachable, IncomingDocument

from . import detect as detection
from .storage import UploadStore
from .tables import upload_account, upload_binary, upload_document

log = logging.getLogger(__name__)

#: Bytes read from the request at a time.
CHUNK = 1024 * 1024
#: The prefix of the FHIR ids of uploads (``Binary/upload-<hex>``, ``DocumentReference/...``):
#: never the shape of a HIS-backed id, so the two never meet.
ID_PREFIX = "upload-"
_ID = re.compile(r"upload-([0-9a-f]{32})")

#: The document types a patient picks from (code -> display).
TYPES: dict[str, str] = {
    "external-lab-result": "Lab result from another laboratory",
    "other-clinic-letter": "Letter from another clinic",
    "image": "Image",
    "other": "Other document",
}

#: A hand-off younger than this is left to the request that makes it.
_HANDOFF_GRACE_S = 30
#: How often one worker sweeps at most.
_SWEEP_EVERY_S = 30


class UploadRefused(Exception):
    """An upload or change refused; ``kind`` says which answer it is."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        #: too-large | unsupported-type | invalid | conflict | not-found | not-author | timeout
        #: | unavailable
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class Usage:
    """A patient's upload usage in bytes."""

    used: int
    quota: int
    max_file: int

    @property
    def left(self) -> int:
        return max(0, self.quota - self.used)

    def display(self) -> str:
        """What the portal shows: ``1.29 MB / 200 MB (198.71 MB left)`` (1 MB = 10^6 bytes);
        what is used is rounded up and what is left down, so a few kB used is not "0 MB" and
        room that is not there is never promised."""
        used, left = megabytes(self.used, ROUND_CEILING), megabytes(self.left, ROUND_FLOOR)
        return f"{used} / {megabytes(self.quota)} ({left} left)"


def megabytes(size: int, rounding: str = ROUND_HALF_EVEN) -> str:
    value = (Decimal(size) / 1_000_000).quantize(Decimal("0.01"), rounding=rounding)
    return f"{value.normalize():f} MB"


@dataclass(frozen=True, slots=True)
class UploadRef:
    """One upload of a patient, as other parts of the gateway see it."""

    document: str  # "DocumentReference/upload-<hex>"
    binary: str  # "Binary/upload-<hex>"
    patient: int
    content_type: str
    size: int
    title: str | None
    created: dt.datetime


def fhir_id(key: str) -> str:
    return ID_PREFIX + key


def key_of(fhir_id_: str) -> str | None:
    """The store key of an upload's FHIR id; None for any other id."""
    found = _ID.fullmatch(fhir_id_)
    return found.group(1) if found else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class UploadService:
    def __init__(
        self,
        engine: Engine,
        store: UploadStore,
        his: HisConnector,
        *,
        base_url: str,
        max_file_bytes: int,
        quota_bytes: int,
        lease_s: float = 60,
        max_seconds: float = 1800,
        unattached_s: float = 86400,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.engine = engine
        self.store = store
        self.his = his
        self.base_url = base_url.rstrip("/")
        self.max_file_bytes = max_file_bytes
        self.quota_bytes = quota_bytes
        self.lease_s = lease_s
        self.max_seconds = max_seconds
        self.unattached_s = unattached_s
        self.clock = clock
        #: called with (patient, the file opened) for each DICOM file before it is stored: the
        #: PACS hand-off (``gateway.app`` wires DICOMweb's, the checks of STOW-RS); it raises
        #: UploadRefused when the PACS does not take the file
        self.dicom_sink: Callable[[int, BinaryIO], None] | None = None
        self._swept = 0.0
        self._sweep_lock = threading.Lock()

    # --- usage --------------------------------------------------------------------------------

    def _used(self, conn: Any, patient: int, now: dt.datetime) -> int:
        b = upload_binary.c
        held = or_(b.state == "stored", and_(b.state == "receiving", b.lease_until > now))
        return int(
            conn.execute(
                select(func.coalesce(func.sum(b.size), 0)).where(b.his_patient_id == patient, held)
            ).scalar_one()
        )

    def usage(self, patient: int) -> Usage:
        with self.engine.connect() as conn:
            used = self._used(conn, patient, self.clock())
        return Usage(used, self.quota_bytes, self.max_file_bytes)

    def _ensure_account(self, patient: int) -> None:
        try:
            with self.engine.begin() as conn:
                found = conn.execute(
                    select(upload_account.c.his_patient_id).where(
                        upload_account.c.his_patient_id == patient
                    )
                ).first()
                if found is None:
                    conn.execute(
                        insert(upload_account).values(his_patient_id=patient, touched_at=_now())
                    )
        except IntegrityError:
            pass  # made at the same moment by another upload of the same patient

    @staticmethod
    def _lock(conn: Any, patient: int, now: dt.datetime) -> None:
        """Take the patient's upload lock for the rest of the transaction: a row lock on
        PostgreSQL, the database's write lock on SQLite (the statement is a write)."""
        conn.execute(
            update(upload_account)
            .where(upload_account.c.his_patient_id == patient)
            .values(touched_at=now)
        )

    def _too_large(self, limit: str, usage: Usage, size: int | None) -> UploadRefused:
        what = f"{size} bytes" if size is not None else "This upload"
        if limit == "file":
            return UploadRefused(
                "too-large",
                f"{what} is more than the {megabytes(self.max_file_bytes)} a file may have "
                f"(limit {self.max_file_bytes} bytes; used {usage.display()})",
            )
        return UploadRefused(
            "too-large",
            f"{what} would pass the upload quota: used {usage.display()}; "
            f"quota {usage.quota} bytes, used {usage.used} bytes, left {usage.left} bytes",
        )

    # --- receiving a file ---------------------------------------------------------------------

    def receive(
        self,
        patient: int,
        uploader: str,
        stream: IO[bytes],
        length: int | None,
        declared: str | None,
    ) -> dict[str, Any]:
        """Store one file for ``patient``; its ``upload_binary`` row once stored."""
        self.sweep()
        if length is not None and length > self.max_file_bytes:
            raise self._too_large("file", self.usage(patient), length)
        key = secrets.token_hex(16)
        reserved, limit = self._reserve(patient, uploader, key, length)
        receiver = None
        try:
            receiver = self.store.receive(key)
            total, sha1 = self._pump(key, stream, receiver, reserved, limit, patient)
            assert receiver.path is not None, "detection needs a local partial file"
            found = detection.detect(receiver.path)
            if not found.accepted:
                raise UploadRefused(
                    "unsupported-type",
                    f"The file's bytes are {found.seen} ({found.mime}), which cannot be "
                    f"uploaded here; accepted: {', '.join(sorted(detection.ACCEPTED.values()))}",
                )
            wanted = detection.canonical(declared or "")
            if wanted not in detection.UNDECLARED and wanted != found.mime:
                raise UploadRefused(
                    "unsupported-type",
                    f"The request says {wanted[:80]}, but the file's bytes are "
                    f"{found.seen} ({found.mime})",
                )
            if found.mime == detection.DICOM and self.dicom_sink is not None:
                # into the PACS before the upload counts as stored: refused there, refused here
                # (its own waits are bounded: the PACS's DIMSE timeout, under a fresh lease)
                self._renew(key)
                with receiver.path.open("rb") as f:
                    self.dicom_sink(patient, f)
            receiver.commit()
            stored = self._stored(key, total, found.mime, sha1)
        except BaseException:
            if receiver is not None:
                receiver.abort()
            self._forget(key)
            raise
        return stored

    def _reserve(
        self, patient: int, uploader: str, key: str, length: int | None
    ) -> tuple[int, str]:
        """Hold ``length`` bytes of the quota (unknown: what is left of it, at most the per-file
        limit) for a new upload; (bytes held, which limit they stop at)."""
        self._ensure_account(patient)
        now = self.clock()
        with self.engine.begin() as conn:
            self._lock(conn, patient, now)
            used = self._used(conn, patient, now)
            left = self.quota_bytes - used
            usage = Usage(used, self.quota_bytes, self.max_file_bytes)
            if length is not None:
                if length > left:
                    raise self._too_large("quota", usage, length)
                wanted, limit = length, "length"
            elif left <= 0:
                raise self._too_large("quota", usage, None)
            elif left < self.max_file_bytes:
                wanted, limit = left, "quota"
            else:
                wanted, limit = self.max_file_bytes, "file"
            conn.execute(
                insert(upload_binary).values(
                    id=key,
                    his_patient_id=patient,
                    uploader=uploader[:128],
                    state="receiving",
                    size=wanted,
                    created=now,
                    lease_until=now + dt.timedelta(seconds=self.lease_s),
                )
            )
        return wanted, limit

    def _pump(
        self, key: str, stream: IO[bytes], receiver: Any, reserved: int, limit: str, patient: int
    ) -> tuple[int, str]:
        total = 0
        digest = _Digest()
        started = time.monotonic()
        renewed = started
        try:
            while True:
                data = stream.read(CHUNK)
                if not data:
                    return total, digest.hexdigest()
                total += len(data)
                if total > reserved:
                    if limit == "length":
                        raise UploadRefused("invalid", "The body is longer than its Content-Length")
                    raise self._too_large(limit, self.usage(patient), None)
                receiver.write(data)
                digest.update(data)
                now = time.monotonic()
                if now - started > self.max_seconds:
                    raise UploadRefused("timeout", "The upload took too long to arrive")
                if now - renewed > self.lease_s / 3:
                    self._renew(key)
                    renewed = now
        finally:
            digest.close()

    def _renew(self, key: str) -> None:
        b = upload_binary.c
        with self.engine.begin() as conn:
            kept = conn.execute(
                update(upload_binary)
                .where(b.id == key, b.state == "receiving")
                .values(lease_until=self.clock() + dt.timedelta(seconds=self.lease_s))
            ).rowcount
        if not kept:
            raise UploadRefused("unavailable", "The upload's reservation was lost; try again")

    def _stored(self, key: str, size: int, mime: str, sha1: str) -> dict[str, Any]:
        b = upload_binary.c
        now = self.clock()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(upload_binary)
                .where(b.id == key, b.state == "receiving", b.lease_until > now)
                .values(state="stored", size=size, content_type=mime, sha1=sha1, lease_until=None)
            ).rowcount
            if not done:
                raise UploadRefused("unavailable", "The upload's reservation ran out; try again")
            row = conn.execute(select(upload_binary).where(b.id == key)).mappings().one()
        return dict(row)

    def _forget(self, key: str) -> None:
        """Remove a failed upload: its bytes first, then its row (a crash between the two
        leaves a reservation whose lease runs out)."""
        try:
            self.store.delete(key)
            with self.engine.begin() as conn:
                conn.execute(
                    delete(upload_binary).where(
                        upload_binary.c.id == key, upload_binary.c.state == "receiving"
                    )
                )
        except Exception:  # the sweep removes it later; the caller's error is the one to tell
            log.warning("a failed upload is left for the sweep")

    # --- reading files ------------------------------------------------------------------------

    def binary(self, key: str, patients: frozenset[int] | None) -> dict[str, Any] | None:
        b = upload_binary.c
        stmt = select(upload_binary).where(b.id == key, b.state == "stored")
        if patients is not None:
            stmt = stmt.where(b.his_patient_id.in_(sorted(patients)))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return dict(row) if row is not None else None

    def document_of_binary(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(upload_document.c.id).where(upload_document.c.binary_id == key)
            ).scalar()
        return str(found) if found is not None else None

    def open(self, key: str) -> BinaryIO:
        return self.store.open(key)

    # --- documents ----------------------------------------------------------------------------

    def create_document(
        self,
        patient: int,
        subject: str,
        author_reference: str,
        binary_key: str,
        type_code: str,
        title: str | None,
        description: str | None,
    ) -> dict[str, Any]:
        (row,) = self.create_documents(
            patient, subject, author_reference, [(binary_key, type_code, title, description)]
        )
        return row

    def create_documents(
        self,
        patient: int,
        subject: str,
        author_reference: str,
        items: list[tuple[str, str, str | None, str | None]],
    ) -> list[dict[str, Any]]:
        """Documents for stored files of ``patient``, each item (Binary key, type code, title,
        description): all in one transaction, so all of them exist or none (an ITI-65
        transaction). Then each is handed to the HIS."""
        for _, type_code, _, _ in items:
            if type_code not in TYPES:
                raise UploadRefused(
                    "invalid", "The document type is not one of: " + ", ".join(TYPES)
                )
        if len({item[0] for item in items}) != len(items):
            raise UploadRefused("invalid", "Each document needs a file of its own")
        self._ensure_account(patient)
        now = self.clock()
        b, d = upload_binary.c, upload_document.c
        keys = []
        with self.engine.begin() as conn:
            self._lock(conn, patient, now)
            for binary_key, type_code, title, description in items:
                found = conn.execute(
                    select(b.id, b.state).where(b.id == binary_key, b.his_patient_id == patient)
                ).first()
                if found is None or found.state != "stored" or not self.store.exists(binary_key):
                    raise UploadRefused(
                        "invalid",
                        "content.attachment.url must name a Binary this patient uploaded",
                    )
                taken = conn.execute(select(d.id).where(d.binary_id == binary_key)).first()
                if taken is not None:
                    raise UploadRefused(
                        "conflict",
                        "That Binary is already the content of another DocumentReference",
                    )
                doc_key = secrets.token_hex(16)
                keys.append(doc_key)
                conn.execute(
                    insert(upload_document).values(
                        id=doc_key,
                        binary_id=binary_key,
                        his_patient_id=patient,
                        author_subject=subject[:128],
                        author_reference=author_reference[:160],
                        type_code=type_code,
                        title=(title or "")[:255] or None,
                        description=description,
                        created=now,
                        updated=now,
                        version=1,
                    )
                )
        rows = []
        for doc_key in keys:
            self._hand_over(doc_key)
            row = self.document(doc_key, frozenset({patient}))
            assert row is not None
            rows.append(row)
        return rows

    def discard(self, binary_key: str) -> None:
        """Remove a stored file no document points at (a transaction that failed later)."""
        b, d = upload_binary.c, upload_document.c
        with self.engine.begin() as conn:
            if conn.execute(select(d.id).where(d.binary_id == binary_key)).first() is not None:
                return
            conn.execute(
                update(upload_binary)
                .where(b.id == binary_key, b.state == "stored")
                .values(state="removing")
            )
        self._remove(binary_key)

    def _joined(self) -> Any:
        d, b = upload_document, upload_binary
        return select(
            d,
            b.c.content_type,
            b.c.size,
            b.c.sha1,
        ).join(b, b.c.id == d.c.binary_id)

    def document(self, key: str, patients: frozenset[int] | None) -> dict[str, Any] | None:
        d = upload_document.c
        stmt = self._joined().where(d.id == key)
        if patients is not None:
            stmt = stmt.where(d.his_patient_id.in_(sorted(patients)))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return dict(row) if row is not None else None

    def documents(self, patients: frozenset[int] | None) -> list[dict[str, Any]]:
        d = upload_document.c
        stmt = self._joined().order_by(d.created.desc(), d.id)
        if patients is not None:
            stmt = stmt.where(d.his_patient_id.in_(sorted(patients)))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def _authored(self, key: str, patients: frozenset[int] | None, subject: str) -> dict[str, Any]:
        row = self.document(key, patients)
        if row is None:
            raise UploadRefused("not-found", "DocumentReference is not known")
        if row["author_subject"] != subject:
            raise UploadRefused(
                "not-author", "Only the person who uploaded a document may change or delete it"
            )
        return row

    def describe(
        self,
        key: str,
        patients: frozenset[int] | None,
        subject: str,
        description: str | None,
        version: int | None = None,
    ) -> dict[str, Any]:
        row = self._authored(key, patients, subject)
        d = upload_document.c
        with self.engine.begin() as conn:
            stmt = update(upload_document).where(d.id == key)
            if version is not None:
                stmt = stmt.where(d.version == version)
            changed = conn.execute(
                stmt.values(description=description, updated=self.clock(), version=d.version + 1)
            ).rowcount
        if not changed:
            raise UploadRefused("conflict", "The document changed since that version was read")
        if row["his_handed_at"] is not None:
            try:
                self.his.update_patient_document(fhir_id(key), description)
            except HisUnreachable:
                log.warning("the HIS did not take a changed description now")
        found = self.document(key, patients)
        assert found is not None
        return found

    def delete(self, key: str, patients: frozenset[int] | None, subject: str) -> None:
        row = self._authored(key, patients, subject)
        binary_key = row["binary_id"]
        b, d = upload_binary.c, upload_document.c
        with self.engine.begin() as conn:
            conn.execute(delete(upload_document).where(d.id == key))
            conn.execute(update(upload_binary).where(b.id == binary_key).values(state="removing"))
        self._remove(binary_key)
        try:
            self.his.withdraw_patient_document(fhir_id(key), self.clock())
        except HisUnreachable:
            log.warning("the HIS did not take a withdrawal now")

    def _remove(self, binary_key: str) -> None:
        self.store.delete(binary_key)
        with self.engine.begin() as conn:
            conn.execute(
                delete(upload_binary).where(
                    upload_binary.c.id == binary_key, upload_binary.c.state == "removing"
                )
            )

    # --- the HIS ------------------------------------------------------------------------------

    def _hand_over(self, doc_key: str) -> bool:
        row = self.document(doc_key, None)
        if row is None or row["his_handed_at"] is not None:
            return False
        try:
            self.his.submit_patient_document(
                IncomingDocument(
                    upload_id=fhir_id(doc_key),
                    patient_id=int(row["his_patient_id"]),
                    type_code=row["type_code"],
                    title=row["title"],
                    description=row["description"],
                    author_reference=row["author_reference"],
                    content_type=row["content_type"],
                    size=int(row["size"]),
                    sha1=row["sha1"],
                    content_url=f"{self.base_url}/Binary/{fhir_id(row['binary_id'])}",
                    received_at=row["created"],
                )
            )
        except HisUnreachable:
            log.warning("the HIS did not take an uploaded document now; it is retried")
            return False
        with self.engine.begin() as conn:
            conn.execute(
                update(upload_document)
                .where(upload_document.c.id == doc_key)
                .values(his_handed_at=self.clock())
            )
        return True

    # --- clean-up -----------------------------------------------------------------------------

    def sweep(self, *, force: bool = False) -> None:
        """Finish what dead workers left: reservations whose lease ran out and their partial
        files, deletions half done, files no document took, hand-offs the HIS did not take.
        Every worker runs it now and then (at most every 30 s) before an upload."""
        with self._sweep_lock:
            if not force and time.monotonic() - self._swept < _SWEEP_EVERY_S:
                return
            self._swept = time.monotonic()
        b, d = upload_binary.c, upload_document.c
        now = self.clock()
        with self.engine.connect() as conn:
            expired = (
                conn.execute(select(b.id).where(b.state == "receiving", b.lease_until <= now))
                .scalars()
                .all()
            )
            removing = conn.execute(select(b.id).where(b.state == "removing")).scalars().all()
            unattached = (
                conn.execute(
                    select(b.id)
                    .outerjoin(upload_document, d.binary_id == b.id)
                    .where(
                        b.state == "stored",
                        d.id.is_(None),
                        b.created < now - dt.timedelta(seconds=self.unattached_s),
                    )
                )
                .scalars()
                .all()
            )
            unhanded = (
                conn.execute(
                    select(d.id).where(
                        d.his_handed_at.is_(None),
                        d.created < now - dt.timedelta(seconds=_HANDOFF_GRACE_S),
                    )
                )
                .scalars()
                .all()
            )
            alive = set(
                conn.execute(
                    select(b.id).where(b.state == "receiving", b.lease_until > now)
                ).scalars()
            )
        for key in expired:
            self.store.delete(key)
            with self.engine.begin() as conn:
                conn.execute(
                    delete(upload_binary).where(
                        b.id == key, b.state == "receiving", b.lease_until <= now
                    )
                )
        for key in unattached:
            with self.engine.begin() as conn:
                taken = conn.execute(select(d.id).where(d.binary_id == key)).first()
                if taken is None:
                    conn.execute(update(upload_binary).where(b.id == key).values(state="removing"))
                    removing = [*removing, key]
        for key in removing:
            self._remove(key)
        for key in self.store.stale_partials(self.lease_s):
            if key not in alive:
                self.store.delete_partial(key)
        for key in unhanded:
            self._hand_over(key)

    # --- for other parts of the gateway -------------------------------------------------------

    def uploads_of(self, patient: int) -> list[UploadRef]:
        """The documents patient ``patient`` (or a guardian for them) uploaded, newest first."""
        return [
            UploadRef(
                document=f"DocumentReference/{fhir_id(r['id'])}",
                binary=f"Binary/{fhir_id(r['binary_id'])}",
                patient=int(r["his_patient_id"]),
                content_type=r["content_type"],
                size=int(r["size"]),
                title=r["title"],
                created=r["created"],
            )
            for r in self.documents(frozenset({patient}))
        ]

    def is_upload(self, reference: str, patient: int) -> bool:
        """Whether ``reference`` ("DocumentReference/upload-..." or "Binary/upload-...") is an
        upload of ``patient`` (a Binary: stored, whether a document points at it or not)."""
        kind, _, rid = reference.rpartition("/")
        kind = kind.rsplit("/", 1)[-1]
        key = key_of(rid)
        if key is None:
            return False
        if kind == "DocumentReference":
            return self.document(key, frozenset({patient})) is not None
        if kind == "Binary":
            return self.binary(key, frozenset({patient})) is not None
        return False


class _Digest:
    """SHA-1 of the bytes as they arrive, computed on a thread of its own: hashlib lets go of
    the GIL while it hashes, so hashing overlaps receiving and writing instead of adding to
    them. At most one chunk waits for it (memory stays flat)."""

    def __init__(self) -> None:
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name="upload-sha1", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self._sha1.update(data)

    def update(self, data: bytes) -> None:
        self._queue.put(data, timeout=60)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None, timeout=60)
            self._thread.join(timeout=60)

    def hexdigest(self) -> str:
        self.close()
        return self._sha1.hexdigest()


def iter_chunks(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    with stream:
        while True:
            data = stream.read(size)
            if not data:
                return
            yield data
