"""Nothing is lost from the audit trail: a killed worker's records come back from its journal,
and a record the database refuses is set aside without stopping the others."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
import sqlalchemy as sa

from access import audit
from demo.orthanc import free_port
from smart_auth.audit import journal_dir
from smart_auth.audit.tables import audit_event, audit_patient
from smart_auth.audit.writer import DEAD_LETTER, AuditWriter
from smart_auth.state import create_state, make_state_engine
from tests.conftest import scratch_postgres
from tests.gunicorn_serving import wait_ready


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


def _record(n: int, **changes: object) -> audit.AuditRecord:
    fields: dict[str, object] = {
        "recorded": dt.datetime(2026, 11, 1, 8, 0),
        "subject": f"patient:{n}",
        "client_id": "app",
        "action": "read",
        "resource_type": "Observation",
        "outcome": "allowed",
        "ids": (str(n),),
        "count": 1,
        "patients": frozenset({4242}),
    }
    fields.update(changes)
    return audit.AuditRecord(**fields)  # type: ignore[arg-type]


def _flush(writer: AuditWriter) -> None:
    """Flush, failing (rather than hanging) when the writer is stuck."""
    done = threading.Thread(target=writer.flush, daemon=True)
    done.start()
    done.join(timeout=20)
    assert not done.is_alive(), "the audit writer is stuck: later records are never written"


def _rows(state: sa.Engine) -> list[sa.Row[tuple[str, str | None, str]]]:
    with state.connect() as conn:
        stmt = sa.select(audit_event.c.id, audit_event.c.subject, audit_event.c.entity_ids)
        return list(conn.execute(stmt.order_by(audit_event.c.entity_ids)).all())


def test_nul_and_control_characters_are_stripped_and_the_trail_goes_on(
    state: sa.Engine, tmp_path: Path
) -> None:
    writer = AuditWriter(state, journal_dir=tmp_path / "journal")
    writer.start()
    try:
        writer.append(_record(1, subject="patient:\x001", ids=("1\x00\x1b2",)))
        writer.append(_record(3))
        _flush(writer)
        writer.append(_record(4))
        _flush(writer)
    finally:
        writer.close()
    assert [(r.subject, r.entity_ids) for r in _rows(state)] == [
        ("patient:1", "12"),
        ("patient:3", "3"),
        ("patient:4", "4"),
    ]
    assert not (tmp_path / "journal" / DEAD_LETTER).exists()


def test_a_poison_record_is_set_aside_and_reported_without_patient_data(
    state: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = AuditWriter(state, journal_dir=tmp_path / "journal", linger_s=1.0)
    writer.start()
    try:
        with caplog.at_level(logging.ERROR, logger="smart_auth.audit.writer"):
            writer.append(_record(1))
            writer.append(_record(2, count=2**70))  # no database column holds it
            writer.append(_record(3))
            _flush(writer)
            writer.append(_record(5))
            _flush(writer)
    finally:
        writer.close()
    assert [r.entity_ids for r in _rows(state)] == ["1", "3", "5"]
    with state.connect() as conn:
        linked = conn.execute(sa.select(sa.func.count()).select_from(audit_patient)).scalar()
    assert linked == 3
    (dead,) = (tmp_path / "journal" / DEAD_LETTER).read_bytes().splitlines()
    set_aside = json.loads(dead)
    assert set_aside["s"] == "patient:2"
    assert set_aside["n"] == 2**70
    lines = [r for r in caplog.records if "set aside" in r.getMessage()]
    assert len(lines) == 1
    assert getattr(lines[0], "event", None) == set_aside["k"]
    rendered = lines[0].getMessage() + repr(vars(lines[0]))
    assert "4242" not in rendered
    assert "patient:2" not in rendered


def test_the_database_down_keeps_the_batch_rather_than_setting_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    engine = make_state_engine(f"sqlite:///{path}")
    create_state(engine)
    writer = AuditWriter(engine, journal_dir=tmp_path / "journal", retry_s=0.05)
    engine.dispose()
    moved = tmp_path / "elsewhere.sqlite"
    path.rename(moved)
    path.mkdir()  # the database file is now a directory: no connection opens
    writer.start()
    try:
        writer.append(_record(1))
        time.sleep(0.5)
        assert not (tmp_path / "journal" / DEAD_LETTER).exists()
        path.rmdir()
        moved.rename(path)
        _flush(writer)
    finally:
        writer.close()
    assert [r.entity_ids for r in _rows(engine)] == ["1"]


def test_a_journal_whose_process_is_gone_is_drained_once(state: sa.Engine, tmp_path: Path) -> None:
    """A writer that never committed (its process killed) leaves its journal; the next writer
    inserts what is missing, skips what was committed, and removes the file."""
    journal = tmp_path / "journal"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sqlalchemy as sa, datetime as dt\n"
            "from access.audit import AuditRecord\n"
            "from smart_auth.audit.writer import AuditWriter\n"
            "from smart_auth.state import make_state_engine\n"
            f"w = AuditWriter(make_state_engine({str(state.url.render_as_string(False))!r}),"
            f" journal_dir={str(journal)!r}, linger_s=60)\n"
            "w.start()\n"
            "for n in range(40):\n"
            "    w.append(AuditRecord(dt.datetime(2026, 11, 1), f'patient:{n}', None, 'read',"
            " 'Patient', 'allowed', (str(n),), 1, frozenset({n})))\n"
            "w.write_keyed([next(iter(w._queue.queue))])\n"  # one of them committed already
            "os.kill(os.getpid(), 9)\n",
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    assert len(_rows(state)) == 1
    (left,) = journal.glob("*.journal")
    assert len(left.read_bytes().splitlines()) == 40
    writer = AuditWriter(state, journal_dir=journal)
    writer.start()
    writer.close()
    rows = _rows(state)
    assert sorted(int(r.entity_ids) for r in rows) == list(range(40))
    assert len({r.id for r in rows}) == 40
    assert not list(journal.glob("*.journal"))
    with state.connect() as conn:
        linked = conn.execute(sa.select(sa.func.count()).select_from(audit_patient)).scalar()
    assert linked == 40


def test_a_live_writers_journal_is_left_alone(tmp_path: Path) -> None:
    engine = make_state_engine(f"sqlite:///{tmp_path}/state.sqlite")
    create_state(engine)
    first = AuditWriter(engine, journal_dir=tmp_path / "journal", linger_s=60)
    first.start()
    try:
        first.append(_record(1))
        second = AuditWriter(engine, journal_dir=tmp_path / "journal")
        second.start()
        assert second.drain_orphans() == 0
        second.close()
        assert _rows(engine) == []
    finally:
        first.close()
    assert [r.entity_ids for r in _rows(engine)] == ["1"]
    assert not list((tmp_path / "journal").glob("*.journal"))


def _worker_pids(master: int) -> set[int]:
    return {c.pid for c in psutil.Process(master).children()}


def test_a_sigkilled_gunicorn_worker_loses_none_of_the_events_it_answered(
    sqlite_his: str, tmp_path: Path
) -> None:
    """The writer is held back (the state database locked by another connection) while a real
    worker answers N requests; the worker is then SIGKILLed with all N events still uncommitted.
    Once gunicorn has started the next worker, the N events are in the state database."""
    n = 25
    state_path = tmp_path / "state.sqlite"
    state_url = f"sqlite:///{state_path}"
    port = free_port()
    env = {
        **os.environ,
        "FHIR_GATEWAY_HIS_URL": sqlite_his,
        "FHIR_GATEWAY_STATE_URL": state_url,
        "FHIR_GATEWAY_PORT": str(port),
        "FHIR_GATEWAY_WORKERS": "1",
        "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
        "FHIR_GATEWAY_SECRET_KEY": "test-secret",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    cli = Path(sys.executable).parent / "fhir-gateway"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(cli), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, log_path)
            (worker,) = _worker_pids(proc.pid)
            blocker = sqlite3.connect(state_path, timeout=30, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                for i in range(n):
                    rsp = requests.get(f"http://127.0.0.1:{port}/fhir/Patient/{i + 1}", timeout=10)
                    assert rsp.status_code == 200, rsp.text
                os.kill(worker, signal.SIGKILL)
                deadline = time.monotonic() + 30
                while psutil.pid_exists(worker) and psutil.Process(worker).status() != "zombie":
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                assert blocker.execute("SELECT count(*) FROM audit_event").fetchone() == (0,)
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            wait_ready(port, log_path)  # gunicorn started the next worker, which drained
            engine = sa.create_engine(state_url)
            deadline = time.monotonic() + 30
            while True:
                with engine.connect() as conn:
                    reads = (
                        conn.execute(
                            sa.select(audit_event.c.entity_ids).where(
                                audit_event.c.resource_type == "Patient",
                                audit_event.c.action == "read",
                            )
                        )
                        .scalars()
                        .all()
                    )
                if len(reads) >= n or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            engine.dispose()
            assert sorted(reads, key=int) == [str(i + 1) for i in range(n)]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_the_journal_lives_per_state_database(tmp_path: Path) -> None:
    one = journal_dir(f"sqlite:///{tmp_path}/a.sqlite")
    two = journal_dir(f"sqlite:///{tmp_path}/b.sqlite")
    assert one is not None
    assert two is not None
    assert one != two
    assert str(one).startswith(f"{tmp_path}/a.sqlite.audit-journal/")
    assert journal_dir("sqlite://") is None
    pg = journal_dir("postgresql+psycopg://gw:secret@db/state")
    assert pg is not None
    assert "secret" not in str(pg)
