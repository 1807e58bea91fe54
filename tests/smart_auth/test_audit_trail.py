"""The append-only audit trail: triggers refuse changes, the writer loses nothing."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from access import audit
from access.policy import Grant
from smart_auth.audit.tables import audit_event, audit_patient
from smart_auth.audit.writer import AuditWriter
from smart_auth.state import create_state, make_state_engine
from tests.conftest import scratch_postgres

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = make_state_engine(f"sqlite:///{tmp_path}/state.sqlite")
        create_state(engine)
        yield engine
        engine.dispose()
        return
    with scratch_postgres("state_test") as url:
        engine = make_state_engine(url)
        create_state(engine)
        yield engine
        engine.dispose()


def _record(n: int, patient: int = 7) -> audit.AuditRecord:
    return audit.AuditRecord(
        recorded=dt.datetime(2026, 11, 1, 8, 0),
        subject=f"patient:{n}",
        client_id="app",
        action="read",
        resource_type="Observation",
        outcome="allowed",
        ids=(str(n),),
        count=1,
        patients=frozenset({patient}),
    )


def test_rows_cannot_be_updated_or_deleted(state: sa.Engine) -> None:
    AuditWriter(state).write([_record(1)])
    for statement in (
        sa.update(audit_event).values(outcome="denied"),
        sa.delete(audit_event),
        sa.update(audit_patient).values(his_patient_id=8),
        sa.delete(audit_patient),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), state.begin() as conn:
            conn.execute(statement)
    with state.connect() as conn:
        assert conn.execute(sa.select(audit_event.c.outcome)).scalars().all() == ["allowed"]
        assert conn.execute(sa.select(audit_patient.c.his_patient_id)).scalars().all() == [7]


def test_truncate_is_refused_on_postgresql(state: sa.Engine) -> None:
    if state.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    AuditWriter(state).write([_record(1)])
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), state.begin() as conn:
        conn.execute(sa.text("TRUNCATE audit_patient, audit_event"))


def test_concurrent_appends_from_many_threads_are_all_kept(state: sa.Engine) -> None:
    writer = AuditWriter(state, max_queue=64, batch=50)
    writer.start()
    threads = [
        threading.Thread(
            target=lambda t=t: [writer.append(_record(t * 1000 + i)) for i in range(300)]
        )
        for t in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush()
    with state.connect() as conn:
        ids = conn.execute(sa.select(audit_event.c.entity_ids)).scalars().all()
    assert sorted(ids) == sorted(str(t * 1000 + i) for t in range(6) for i in range(300))
    writer.close()


def test_close_writes_what_is_still_queued(state: sa.Engine) -> None:
    writer = AuditWriter(state)
    writer.start()
    for i in range(120):
        writer.append(_record(i))
    writer.close()
    with state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_event)).scalar() == 120


def test_records_of_one_linger_share_a_transaction_and_flush_cuts_it_short(
    state: sa.Engine,
) -> None:
    commits: list[int] = []
    sa.event.listen(state, "commit", lambda conn: commits.append(1))
    writer = AuditWriter(state, linger_s=30.0)
    writer.start()
    try:
        for i in range(5):
            writer.append(_record(i))
        flushed = threading.Thread(target=writer.flush)
        flushed.start()
        flushed.join(timeout=10)  # far below the linger: the flush marker ends it
        assert not flushed.is_alive()
        assert len(commits) == 1
        with state.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(audit_event)).scalar()
        assert count == 5
    finally:
        writer.close()


def test_record_goes_to_the_sink_with_its_patients(state: sa.Engine) -> None:
    writer = AuditWriter(state)
    token = audit.use(writer)
    try:
        grant = Grant(subject="patient:3", client_id="app", patients=frozenset({12}))
        audit.record(grant, "search", "Observation", outcome="allowed", ids=["1", "2"])
        audit.record(grant, "read", "Patient", outcome="denied", patients=[12, 13])
    finally:
        audit.reset(token)
    with state.connect() as conn:
        rows = conn.execute(
            sa.select(
                audit_event.c.id,
                audit_event.c.action,
                audit_event.c.outcome,
                audit_event.c.subject,
                audit_event.c.client_id,
                audit_event.c.entity_ids,
            )
        ).all()
        links = conn.execute(sa.select(audit_patient)).all()
    by_action = {r.action: r for r in rows}
    assert by_action["search"].entity_ids == "1,2"
    assert by_action["search"].subject == "patient:3"
    assert by_action["read"].outcome == "denied"
    assert sorted(p for e, p in links if e == by_action["read"].id) == [12, 13]
    assert [p for e, p in links if e == by_action["search"].id] == [12]


def test_no_code_path_updates_or_deletes_audit_rows() -> None:
    source = "\n".join(
        p.read_text() for p in (REPO / "smart_auth").rglob("*.py") if "tables.py" not in p.name
    )
    for table in ("audit_event", "audit_patient"):
        for forbidden in (f"update({table}", f"delete({table}", f"UPDATE {table}"):
            assert forbidden not in source
        assert f"DELETE FROM {table}" not in source
