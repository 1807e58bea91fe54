"""The default HIS connector: a relational HIS database read through SQLAlchemy Core.

SQLite (embedded default), PostgreSQL (psycopg) and MySQL/MariaDB (PyMySQL,
``mysql+pymysql://``) are supported; ``tests/his/test_connector_contract.py`` runs on all
three. Searches are keyset-paged: every source of a resource type is queried with
``WHERE key > cursor ORDER BY key LIMIT n`` on an indexed sort column, and the sources are
merged, so page 200 costs what page 1 costs and links stay stable while the HIS changes
(http://hl7.org/fhir/R4/http.html#paging).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Engine,
    and_,
    bindparam,
    create_engine,
    event,
    false,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql.elements import ColumnElement

from ..fhir.query import SearchQuery
from . import schema
from .connector import (
    CHANGE_SOURCES,
    AnswerWrite,
    AppointmentChange,
    AppointmentUnchangeable,
    Assignment,
    AssignmentCursor,
    Change,
    ChangePosition,
    CodedBulletin,
    Contacts,
    GuardianLink,
    HisUnreachable,
    Hit,
    IncomingDocument,
    Key,
    PatientMatch,
    Patients,
    SlotUnavailable,
)
from .deadline import bound_waits, client_bound, server_connect_args
from .sources import Source, build_sources

log = logging.getLogger(__name__)

#: The language a patient is written to in, by the country the HIS holds for them.
_LANGUAGE_OF_COUNTRY = {"RO": "ro", "MD": "ro", "PL": "pl"}


def make_engine(url: str, *, pool_size: int = 5, timeout_s: float = 10) -> Engine:
    """An engine for the HIS database with pre-ping (recovers after the HIS comes back) and
    every wait bounded on the gateway's side by about ``timeout_s``.

    - connecting: ``connect_timeout`` (libpq, PyMySQL); waiting for a pooled connection:
      ``pool_timeout``; a locked SQLite file: the busy timeout;
    - each statement: the server's own ``statement_timeout`` (PostgreSQL) or ``read_timeout``
      and ``write_timeout`` on the socket (PyMySQL), and, for a server that stops answering
      altogether, a client-side deadline a little later (``deadline.bound_waits``) that cuts
      the connection, including during the pre-ping;
    - a link that dies silently: TCP keepalive and ``tcp_user_timeout`` (PostgreSQL).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": timeout_s}, pool_pre_ping=True)
        event.listen(engine, "connect", _sqlite_on_connect)
        return bound_waits(engine, client_bound(timeout_s))
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=timeout_s,
        connect_args=server_connect_args(url, timeout_s),
    )
    return bound_waits(engine, client_bound(timeout_s))


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # SQLite's lower() folds ASCII only; names here carry Romanian and Polish diacritics.
    dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class SqlConnector:
    """``HisConnector`` over the default HIS schema (``fhir_gateway.his.schema``)."""

    def __init__(self, engine: Engine, sources: Sequence[Source]) -> None:
        self.engine = engine
        self._by_type: dict[str, list[Source]] = {}
        self._by_kind: dict[tuple[str, str], Source] = {}
        for src in sorted(sources, key=lambda s: s.rank):
            self._by_type.setdefault(src.resource_type, []).append(src)
            self._by_kind[(src.resource_type, src.kind)] = src
        self._read_stmts: dict[tuple[str, str, bool, bool], Any] = {}

    @classmethod
    def from_url(cls, url: str, systems: Any, **engine_args: Any) -> SqlConnector:
        return cls(make_engine(url, **engine_args), build_sources(systems))

    def sources(self, resource_type: str) -> list[Source]:
        return self._by_type.get(resource_type, [])

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
        except (OperationalError, InterfaceError) as exc:
            log.warning("HIS unreachable: %s", type(exc.orig).__name__ if exc.orig else "error")
            raise HisUnreachable() from exc
        except PoolTimeout as exc:
            # every pooled connection is busy (with a HIS that is slow to answer them)
            log.warning("HIS unreachable: no pooled connection within the timeout")
            raise HisUnreachable() from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise HisUnreachable() from exc
            raise

    # --- reads --------------------------------------------------------------------------------

    def read(
        self, resource_type: str, kind: str, his_id: int, patients: Patients
    ) -> Mapping[str, Any] | None:
        found = self.read_many(resource_type, [(kind, his_id)], patients)
        return found[0][1] if found else None

    def read_many(
        self, resource_type: str, ids: Sequence[tuple[str, int]], patients: Patients
    ) -> list[tuple[str, Mapping[str, Any]]]:
        by_kind: dict[str, list[int]] = {}
        for kind, his_id in ids:
            by_kind.setdefault(kind, []).append(his_id)
        out: list[tuple[str, Mapping[str, Any]]] = []
        with self._connect() as conn:
            for kind, his_ids in by_kind.items():
                src = self._by_kind.get((resource_type, kind))
                if src is None:
                    continue
                narrowed = patients is not None and src.patient_col is not None
                if narrowed and not patients:
                    continue  # a grant of no patients: nothing of a patient's to read
                many = len(his_ids) > 1 or (narrowed and len(patients or ()) > 1)
                params: dict[str, Any] = {"read_ids": his_ids} if many else {"read_id": his_ids[0]}
                if narrowed:
                    wanted = sorted(patients or ())
                    if many:
                        params["read_patients"] = wanted
                    else:
                        params["read_patient"] = wanted[0]
                stmt = self._read_stmt(src, narrowed, many)
                records = _records(conn.execute(stmt, params))
                if src.enrich and records:
                    src.enrich(conn, records)
                out.extend((kind, r) for r in records)
        return out

    def _read_stmt(self, src: Source, narrowed: bool, many: bool) -> Any:
        """The read statement of a source, built once: ids (and the grant's patients) are
        bound parameters. Building a statement costs more than SQLite takes to run it; lists
        are expanding parameters, single values plain ones (their SQL is rendered once)."""
        key = (src.resource_type, src.kind, narrowed, many)
        stmt = self._read_stmts.get(key)
        if stmt is None:
            if many:
                stmt = src.stmt.where(src.id_col.in_(bindparam("read_ids", expanding=True)))
            else:
                stmt = src.stmt.where(src.id_col == bindparam("read_id"))
            if src.where is not None:
                stmt = stmt.where(src.where)
            if narrowed:
                col = src.patient_col
                assert col is not None
                if many:
                    stmt = stmt.where(col.in_(bindparam("read_patients", expanding=True)))
                else:
                    stmt = stmt.where(col == bindparam("read_patient"))
            self._read_stmts[key] = stmt
        return stmt

    @staticmethod
    def _narrow(src: Source, stmt: Any, patients: Patients) -> Any:
        if src.where is not None:
            stmt = stmt.where(src.where)
        if patients is not None and src.patient_col is not None:
            stmt = stmt.where(src.patient_col.in_(sorted(patients)) if patients else false())
        return stmt

    # --- searches -----------------------------------------------------------------------------

    def _conditions(self, src: Source, query: SearchQuery) -> list[ColumnElement[bool]]:
        conds = [src.bindings[c.param.code].clause(c) for c in query.criteria]
        if query.scope_filters is not None:
            groups = [
                and_(true(), *(src.bindings[c.param.code].clause(c) for c in group))
                for group in query.scope_filters
            ]
            conds.append(or_(*groups) if groups else false())
        return conds

    def search(
        self,
        query: SearchQuery,
        patients: Patients,
        *,
        after: Key | None,
        before: Key | None,
        limit: int,
    ) -> list[Hit]:
        sort_code, desc = query.sort
        forward = before is None
        cursor = after if forward else before
        greater = (not desc) if forward else desc
        hits: list[Hit] = []
        with self._connect() as conn:
            for src in self.sources(query.resource_type):
                sort_col = src.sorts[sort_code]
                stmt = self._narrow(src, src.stmt.add_columns(sort_col.label("_sort")), patients)
                stmt = stmt.where(*self._conditions(src, query))
                if cursor is not None:
                    stmt = stmt.where(_beyond(src, sort_col, cursor, greater))
                order = (sort_col, src.id_col) if greater else (sort_col.desc(), src.id_col.desc())
                rows = _records(conn.execute(stmt.order_by(*order).limit(limit)))
                for r in rows:
                    hits.append(Hit(src.kind, r, (r.pop("_sort"), src.rank, r["id"])))
            hits.sort(key=lambda h: h.key, reverse=not greater)
            hits = hits[:limit]
            if not forward:
                hits.reverse()
            self._enrich(conn, hits, query.resource_type)
        return hits

    def _enrich(self, conn: Connection, hits: list[Hit], resource_type: str) -> None:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for h in hits:
            by_kind.setdefault(h.kind, []).append(h.record)  # type: ignore[arg-type]
        for kind, records in by_kind.items():
            src = self._by_kind[(resource_type, kind)]
            if src.enrich:
                src.enrich(conn, records)

    def count(self, query: SearchQuery, patients: Patients) -> int:
        total = 0
        with self._connect() as conn:
            for src in self.sources(query.resource_type):
                inner = self._narrow(src, src.stmt, patients).where(*self._conditions(src, query))
                stmt = select(func.count()).select_from(inner.subquery())
                total += conn.execute(stmt).scalar_one()
        return total

    def ping(self) -> None:
        with self._connect() as conn:
            conn.execute(text("SELECT 1"))

    # --- what the authorization server needs ----------------------------------------------

    def find_patient(self, national_id_kind: str, national_id: str) -> PatientMatch | None:
        p = schema.patient.c
        with self._connect() as conn:
            row = conn.execute(
                select(p.id, p.given, p.family, p.active, p.deceased_at).where(
                    p.national_id == national_id, p.national_id_kind == national_id_kind
                )
            ).first()
        if row is None:
            return None
        return PatientMatch(
            int(row.id), row.given, row.family, bool(row.active), row.deceased_at is not None
        )

    def contacts(self, patient_id: int) -> Contacts:
        p = schema.patient.c
        with self._connect() as conn:
            row = conn.execute(
                select(p.email, p.phone, p.country).where(p.id == patient_id)
            ).first()
        if row is None:
            return Contacts()
        language = _LANGUAGE_OF_COUNTRY.get((row.country or "").upper())
        return Contacts(email=row.email or None, mobile=row.phone or None, language=language)

    def guardian_links(self, guardian_id: int) -> list[GuardianLink]:
        g = schema.guardian_link.c
        with self._connect() as conn:
            rows = conn.execute(
                select(g.id, g.guardian_id, g.ward_id, g.relationship, g.valid_from, g.valid_to)
                .where(g.guardian_id == guardian_id)
                .order_by(g.id)
            ).all()
        return [
            GuardianLink(
                int(r.id),
                int(r.guardian_id),
                int(r.ward_id),
                r.relationship,
                r.valid_from,
                r.valid_to,
            )
            for r in rows
        ]

    def changes(self, source: str, after: ChangePosition | None, limit: int) -> list[Change]:
        if source not in CHANGE_SOURCES:
            raise ValueError(f"not a change source: {source}")
        table = schema.metadata.tables[source]
        stmt = _change_select(source)
        if after is not None:
            at, his_id = after
            stmt = stmt.where(
                or_(
                    table.c.updated_at > at,
                    and_(table.c.updated_at == at, table.c.id > his_id),
                )
            )
        stmt = stmt.order_by(table.c.updated_at, table.c.id).limit(limit)
        with self._connect() as conn:
            return [_change(source, row) for row in conn.execute(stmt)]

    def open_imaging_orders(self, ordered_since: dt.datetime, limit: int) -> list[Change]:
        o = schema.imaging_order.c
        stmt = (
            _change_select("imaging_order")
            .where(o.ordered_at >= ordered_since, o.status != "cancelled")
            .order_by(o.id)
            .limit(limit)
        )
        with self._connect() as conn:
            return [_change("imaging_order", row) for row in conn.execute(stmt)]

    def appointments_starting(
        self, start: dt.datetime, end: dt.datetime, limit: int
    ) -> list[Change]:
        a = schema.appointment.c
        stmt = (
            _change_select("appointment")
            .where(a.start_at >= start, a.start_at < end, a.status == "booked")
            .order_by(a.start_at, a.id)
            .limit(limit)
        )
        with self._connect() as conn:
            return [_change("appointment", row) for row in conn.execute(stmt)]

    def coded_bulletins(self, national_id: str) -> list[CodedBulletin]:
        b, p = schema.lab_bulletin, schema.patient
        with self._connect() as conn:
            rows = conn.execute(
                select(b.c.id, b.c.patient_id, b.c.document_id, b.c.access_code)
                .join(p, p.c.id == b.c.patient_id)
                .where(
                    p.c.national_id == national_id,
                    b.c.status == "validated",
                    b.c.access_code.is_not(None),
                )
                .order_by(b.c.id)
            ).all()
        return [
            CodedBulletin(
                int(r.id),
                int(r.patient_id),
                int(r.document_id) if r.document_id is not None else None,
                r.access_code,
            )
            for r in rows
        ]

    # --- questionnaires (F18) ---------------------------------------------------------------

    def assignments_after(self, after: AssignmentCursor | None, limit: int) -> list[Assignment]:
        qa = schema.questionnaire_assignment.c
        stmt = select(qa.id, qa.patient_id, qa.questionnaire_id, qa.sent_at, qa.status)
        if after is not None:
            sent_at, his_id = after
            # the first conjunct bounds a range scan of ix_questionnaire_assignment_sent
            stmt = stmt.where(qa.sent_at >= sent_at, or_(qa.sent_at > sent_at, qa.id > his_id))
        with self._connect() as conn:
            rows = conn.execute(stmt.order_by(qa.sent_at, qa.id).limit(limit)).all()
        return [
            Assignment(int(r.id), int(r.patient_id), int(r.questionnaire_id), r.sent_at, r.status)
            for r in rows
        ]

    def write_answers(
        self,
        assignment_id: int,
        patient_id: int,
        version: int,
        answers: Mapping[str, Any],
        *,
        submitted_at: dt.datetime | None,
    ) -> AnswerWrite:
        qa = schema.questionnaire_assignment
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        values: dict[str, Any] = {
            "answers": dict(answers),
            "status": "submitted" if submitted_at is not None else "in-progress",
            "submitted_at": submitted_at,
            "updated_at": now,
            "version": qa.c.version + 1,
        }
        mine = and_(qa.c.id == assignment_id, qa.c.patient_id == patient_id)
        with self._connect() as conn:
            # one conditional UPDATE: of two writers that read the same version, one changes
            # the row and the other changes nothing (the database serialises the two)
            changed = conn.execute(
                update(qa)
                .where(mine, qa.c.version == version, qa.c.status != "submitted")
                .values(**values)
            ).rowcount
            conn.commit()
            if changed == 1:
                return "saved"
            row = conn.execute(select(qa.c.status).where(mine)).first()
        if row is None:
            return "missing"
        return "closed" if row.status == "submitted" else "stale"

    # --- writes: what patients bring ------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._connect() as conn, conn.begin():
            yield conn

    def submit_patient_document(self, document: IncomingDocument) -> None:
        d = schema.incoming_document
        try:
            with self._write() as conn:
                exists = conn.execute(
                    select(d.c.id).where(d.c.upload_id == document.upload_id)
                ).first()
                if exists is not None:
                    return
                conn.execute(
                    d.insert().values(
                        upload_id=document.upload_id,
                        patient_id=document.patient_id,
                        type_code=document.type_code,
                        title=document.title,
                        description=document.description,
                        author_reference=document.author_reference,
                        content_type=document.content_type,
                        size=document.size,
                        sha1=document.sha1,
                        content_url=document.content_url,
                        received_at=document.received_at,
                        updated_at=document.received_at,
                        version=1,
                    )
                )
        except IntegrityError:
            return  # the same upload handed at the same moment by another worker: it is there

    def update_patient_document(self, upload_id: str, description: str | None) -> None:
        d = schema.incoming_document
        with self._write() as conn:
            conn.execute(
                d.update()
                .where(d.c.upload_id == upload_id)
                .values(description=description, updated_at=_now(), version=d.c.version + 1)
            )

    def withdraw_patient_document(self, upload_id: str, at: dt.datetime) -> None:
        d = schema.incoming_document
        with self._write() as conn:
            conn.execute(
                d.update()
                .where(d.c.upload_id == upload_id, d.c.withdrawn_at.is_(None))
                .values(withdrawn_at=at, updated_at=at, version=d.c.version + 1)
            )

    # --- writes: booking (F19) -----------------------------------------------------------------
    #
    # One transaction each, and the first statement of each is a write: on PostgreSQL and
    # MariaDB the row it matches stays locked until the commit, so a concurrent writer waits and
    # then finds the row changed (its WHERE no longer matches); SQLite takes its one write lock
    # at once instead of upgrading a read transaction, which could fail without waiting. The
    # unique ``appointment.held_slot_id`` is the constraint behind it: whatever else writes
    # bookings, one slot is never held twice.

    def book_slot(
        self,
        slot_id: int,
        patient_id: int,
        *,
        at: dt.datetime,
        video_url: str | None = None,
        comment: str | None = None,
    ) -> int:
        ap = schema.appointment
        try:
            with self._connect(write=True) as conn:
                if not _claim(conn, slot_id, at):
                    raise SlotUnavailable()
                slot = _slot_facts(conn, slot_id)
                result = conn.execute(
                    insert(ap).values(
                        patient_id=patient_id,
                        slot_id=slot_id,
                        held_slot_id=slot_id,
                        service_id=slot.service_id,
                        doctor_id=slot.doctor_id,
                        department_id=slot.department_id,
                        start_at=slot.start_at,
                        end_at=slot.end_at,
                        status="booked",
                        telemedicine=bool(slot.telemedicine),
                        video_url=video_url if slot.telemedicine else None,
                        comment=comment,
                        booked_at=at,
                        updated_at=at,
                        version=1,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                return int(key[0])
        except IntegrityError as exc:  # the slot is held already (the constraint said so)
            log.info("a booking was refused by the HIS's one-appointment-per-slot constraint")
            raise SlotUnavailable() from exc

    def change_appointment(self, change: AppointmentChange) -> None:
        ap, sl = schema.appointment, schema.slot
        mine = and_(ap.c.id == change.appointment_id, ap.c.patient_id == change.patient_id)
        changeable = and_(mine, ap.c.status.in_(CHANGEABLE), ap.c.start_at > change.not_before)
        try:
            with self._connect(write=True) as conn:
                touched = conn.execute(
                    update(ap)
                    .where(changeable)
                    .values(version=ap.c.version + 1, updated_at=change.at)
                ).rowcount
                if touched != 1:
                    raise AppointmentUnchangeable(_why_not(conn, mine))
                current = conn.execute(select(ap.c.held_slot_id, ap.c.service_id).where(mine)).one()
                values: dict[str, Any] = {}
                if change.comment is not None:
                    values["comment"] = change.comment
                if change.cancel:
                    values.update(status="cancelled", held_slot_id=None)
                else:
                    assert change.new_slot_id is not None
                    if not _claim(conn, change.new_slot_id, change.at):
                        raise SlotUnavailable()
                    slot = _slot_facts(conn, change.new_slot_id)
                    if slot.service_id != current.service_id:
                        raise AppointmentUnchangeable("other-service")
                    # the old slot is let go first: the constraint holds at every statement
                    conn.execute(update(ap).where(mine).values(held_slot_id=None))
                    values.update(
                        status="booked",
                        slot_id=change.new_slot_id,
                        held_slot_id=change.new_slot_id,
                        doctor_id=slot.doctor_id,
                        department_id=slot.department_id,
                        start_at=slot.start_at,
                        end_at=slot.end_at,
                        telemedicine=bool(slot.telemedicine),
                        video_url=change.video_url if slot.telemedicine else None,
                    )
                conn.execute(update(ap).where(mine).values(**values))
                if current.held_slot_id is not None:
                    conn.execute(
                        update(sl)
                        .where(sl.c.id == current.held_slot_id, sl.c.status == "busy")
                        .values(status="free", version=sl.c.version + 1, updated_at=change.at)
                    )
        except IntegrityError as exc:
            raise SlotUnavailable() from exc


#: Appointment statuses (HIS codes) a patient may still cancel or move: FHIR ``proposed``,
#: ``pending`` and ``booked`` may become ``cancelled``; ``arrived``, ``fulfilled``, ``noshow``
#: and ``cancelled`` are final for the patient (appointment.html#statuses).


CHANGEABLE = ("requested", "booked")


def _claim(conn: Connection, slot_id: int, at: dt.datetime) -> bool:
    """Take a free slot that has not begun: true when this transaction took it."""
    sl = schema.slot
    taken = conn.execute(
        update(sl)
        .where(sl.c.id == slot_id, sl.c.status == "free", sl.c.start_at > at)
        .values(status="busy", version=sl.c.version + 1, updated_at=at)
    ).rowcount
    return bool(taken == 1)


def _slot_facts(conn: Connection, slot_id: int) -> Any:
    sl, sc = schema.slot, schema.schedule
    return conn.execute(
        select(
            sl.c.start_at,
            sl.c.end_at,
            sl.c.telemedicine,
            sc.c.service_id,
            sc.c.doctor_id,
            sc.c.department_id,
        )
        .join(sc, sc.c.id == sl.c.schedule_id)
        .where(sl.c.id == slot_id)
    ).one()


def _why_not(conn: Connection, mine: Any) -> str:
    ap = schema.appointment
    row = conn.execute(select(ap.c.status).where(mine)).first()
    if row is None:
        return "unknown"
    if row.status not in CHANGEABLE:
        return "status"
    return "too-late"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


#: Per change source: its table and the extra columns an event needs (``Change.detail``).
_CHANGE_DETAIL: dict[str, tuple[str, ...]] = {
    "lab_bulletin": (),
    "paraclinical_test": (),
    "imaging_order": ("accession_number", "study_uid"),
    "document": (),
    "questionnaire_assignment": ("questionnaire_id",),
    "appointment": ("start_at", "telemedicine"),
}


def _change_select(source: str) -> Any:
    table = schema.metadata.tables[source]
    extra = [table.c[name] for name in _CHANGE_DETAIL[source]]
    return select(
        table.c.id, table.c.patient_id, table.c.status, table.c.updated_at, table.c.version, *extra
    )


def _change(source: str, row: Any) -> Change:
    return Change(
        source=source,
        id=int(row.id),
        patient_id=int(row.patient_id),
        status=str(row.status),
        changed_at=row.updated_at,
        version=int(row.version),
        detail={name: getattr(row, name) for name in _CHANGE_DETAIL[source]},
    )


def _records(result: Any) -> list[dict[str, Any]]:
    """Rows as plain dicts (several times cheaper than converting RowMapping objects)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]


def _beyond(src: Source, sort_col: Any, key: Key, greater: bool) -> ColumnElement[bool]:
    """Rows whose (sort value, rank, id) lies beyond ``key`` in the given direction."""
    value, rank, his_id = key
    if greater:
        if src.rank > rank:
            return sort_col >= value
        if src.rank < rank:
            return sort_col > value
        # the first conjunct bounds an index range scan; the second breaks ties by id
        return and_(sort_col >= value, or_(sort_col > value, src.id_col > his_id))
    if src.rank < rank:
        return sort_col <= value
    if src.rank > rank:
        return sort_col < value
    return and_(sort_col <= value, or_(sort_col < value, src.id_col < his_id))
