"""The audit journal against a power cut, and no decision left out of the trail.

* ``AUDIT_JOURNAL_SYNC=fdatasync``: an answer leaves only once its journal line is on the disk
  (``os.fdatasync`` of the journal file, here watched on a real file on a real filesystem: the
  real call is made and what the file held at that moment is read back), and concurrent
  answers share one call (group commit).
* A request answered without its surface recording the decision (the PACS failed after it) is
  in the trail all the same.
* An intent (a store announced before the PACS is asked) keeps the journal until its final
  record is written, and a drain takes the final record where there is one, else the intent.

(A worker killed in the middle of a PACS store: ``tests/dicomweb/web/test_stow_killed.py``.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from access import audit
from access.policy import Grant
from gateway.app import create_app
from smart_auth.audit.tables import audit_event
from smart_auth.audit.writer import AuditWriter
from smart_auth.state import create_state, make_state_engine
from tests.conftest import app_config


def _record(n: int) -> audit.AuditRecord:
    return audit.AuditRecord(
        recorded=dt.datetime(2026, 11, 1, 8, 0),
        subject=f"patient:{n}",
        client_id="app",
        action="read",
        resource_type="Observation",
        outcome="allowed",
        ids=(f"obs-{n}",),
        count=1,
        patients=frozenset({n}),
    )


class SyncWatch:
    """``os.fdatasync`` as it is, and, for each call, what the file held when it was made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, bytes]] = []
        real: Callable[[int], None] = os.fdatasync

        def watched(fd: int) -> None:
            held = Path(f"/proc/self/fd/{fd}").read_bytes()  # the file opened anew, to read
            real(fd)
            self.calls.append((os.readlink(f"/proc/self/fd/{fd}"), held))

        monkeypatch.setattr(os, "fdatasync", watched)

    def journal_calls(self, journal: Path) -> list[bytes]:
        return [held for path, held in self.calls if path.startswith(str(journal))]


@pytest.fixture
def state_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_state_engine(f"sqlite:///{tmp_path}/state.sqlite")
    create_state(engine)
    yield engine
    engine.dispose()


def test_with_fdatasync_each_append_returns_with_its_line_on_the_disk(
    state_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = SyncWatch(monkeypatch)
    journal = tmp_path / "journal"
    writer = AuditWriter(state_engine, journal_dir=journal, sync="fdatasync", linger_s=30)
    writer.start()
    try:
        for n in range(1, 6):
            writer.append(_record(n))
            synced = watch.journal_calls(journal)
            assert synced, "the append returned before any fdatasync of the journal"
            assert f'"i":["obs-{n}"]'.encode() in synced[-1]  # its line was in the synced file
        assert writer.syncs == 5
    finally:
        writer.close()


def test_without_sync_the_journal_is_never_synced(
    state_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = SyncWatch(monkeypatch)
    journal = tmp_path / "journal"
    writer = AuditWriter(state_engine, journal_dir=journal, sync="none", linger_s=30)
    writer.start()
    try:
        writer.append(_record(1))
        assert watch.journal_calls(journal) == []
        assert writer.syncs == 0
    finally:
        writer.close()
    with pytest.raises(ValueError, match="sync must be one of"):
        AuditWriter(state_engine, sync="sometimes")


def test_concurrent_appends_share_their_fdatasync(
    state_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: 8 threads appending together need fewer calls than lines, and every line
    is covered by a call made after it was written."""
    watch = SyncWatch(monkeypatch)
    journal = tmp_path / "journal"
    writer = AuditWriter(state_engine, journal_dir=journal, sync="fdatasync", linger_s=30)
    writer.start()
    threads, each = 8, 40
    start = threading.Barrier(threads)

    def run(t: int) -> None:
        start.wait()
        for i in range(each):
            writer.append(_record(t * 1000 + i))
            # returned: this line was in the file at some call made after it was written
            needle = f'"i":["obs-{t * 1000 + i}"]'.encode()
            assert any(needle in held for held in watch.journal_calls(journal))

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert not any(w.is_alive() for w in workers)
        assert 0 < writer.syncs < threads * each
        assert writer._synced == writer._written == threads * each
    finally:
        writer.close()


def test_the_setting_reaches_the_writer_and_a_served_answer_waits_for_the_disk(
    sqlite_his: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the app: by the time a read is answered, its audit line was fdatasync'ed (the
    default); with ``none`` the journal is never synced."""
    watch = SyncWatch(monkeypatch)
    for mode in ("fdatasync", "none"):
        journal = tmp_path / f"journal-{mode}"
        extra: dict[str, Any] = {"audit_journal_dir": str(journal)}
        if mode == "none":
            extra["audit_journal_sync"] = "none"
        app = create_app(app_config(sqlite_his, **extra))
        try:
            rsp = app.test_client().get("/fhir/Patient/3")
            assert rsp.status_code == 200
            synced = watch.journal_calls(journal)
            if mode == "none":
                assert synced == []
            else:
                assert any(b'"a":"read","t":"Patient"' in h and b'"i":["3"]' in h for h in synced)
        finally:
            app.extensions["audit_writer"].close()


def test_an_answer_without_a_record_of_its_surface_is_settled_before_it_leaves() -> None:
    """A decision taken and not recorded (the upstream failed after it) is recorded with the
    outcome its status means; one recorded by its surface is not recorded twice."""

    class Keep:
        def __init__(self) -> None:
            self.records: list[audit.AuditRecord] = []

        def append(self, record: audit.AuditRecord) -> None:
            self.records.append(record)

    from access.policy import AccessPolicy

    grant = Grant(subject="patient:1", client_id="app", patients=frozenset({1}))
    policy = AccessPolicy("test")
    for status, outcome in ((503, "failed"), (504, "failed"), (404, "not-found"), (200, "allowed")):
        sink = Keep()
        token = audit.use(sink)
        try:
            policy.decide(grant, "ImagingStudy", "search")
            assert audit.settle(status)
        finally:
            audit.reset(token)
        assert [(r.action, r.resource_type, r.outcome) for r in sink.records] == [
            ("search", "ImagingStudy", outcome)
        ]
    sink = Keep()
    token = audit.use(sink)
    try:
        policy.decide(grant, "Observation", "read")
        audit.record(grant, "read", "Observation", outcome="allowed", ids=["1"])
        assert not audit.settle(200)
    finally:
        audit.reset(token)
    assert len(sink.records) == 1


def test_an_open_intent_keeps_the_journal_and_its_final_record_replaces_it(
    state_engine: sa.Engine, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    writer = AuditWriter(state_engine, journal_dir=journal, linger_s=0.01)
    writer.start()
    try:
        key = writer.intend(dataclasses.replace(_record(1), outcome="unknown"))
        writer.append(_record(2))
        writer.flush()
        (path,) = journal.glob("*.journal")
        assert b'"x":1' in path.read_bytes()  # everything else committed, the intent kept
        writer.complete(key, dataclasses.replace(_record(1), outcome="partial"))
        writer.flush()
        assert path.read_bytes() == b""  # all committed: emptied
    finally:
        writer.close()
    with state_engine.connect() as conn:
        rows = dict(conn.execute(sa.select(audit_event.c.id, audit_event.c.outcome)).all())
    assert rows[key] == "partial"
    assert sorted(rows.values()) == ["allowed", "partial"]


def test_a_drain_keeps_an_intents_final_record_and_an_unfinished_intent_as_unknown(
    state_engine: sa.Engine, tmp_path: Path
) -> None:
    """A process killed with one store finished and one in its middle, nothing committed: the
    next writer inserts the finished one's final record and the other's intent."""
    journal = tmp_path / "journal"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, datetime as dt\n"
            "from access.audit import AuditRecord\n"
            "from smart_auth.audit.writer import AuditWriter\n"
            "from smart_auth.state import make_state_engine\n"
            f"w = AuditWriter(make_state_engine({str(state_engine.url.render_as_string(False))!r}),"
            f" journal_dir={str(journal)!r}, linger_s=60, sync='fdatasync')\n"
            "w.start()\n"
            "def rec(study, outcome):\n"
            "    return AuditRecord(dt.datetime(2026, 11, 1), 'patient:1', 'app', 'create',"
            " 'ImagingStudy', outcome, (study,), 0, frozenset({1}))\n"
            "done = w.intend(rec('1.2.3', 'unknown'))\n"
            "cut = w.intend(rec('1.2.4', 'unknown'))\n"
            "w.complete(done, rec('1.2.3', 'allowed'))\n"
            "print(done, cut, flush=True)\n"
            "os.kill(os.getpid(), 9)\n",
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    done, cut = child.stdout.decode().split()
    writer = AuditWriter(state_engine, journal_dir=journal)
    writer.start()
    writer.close()
    with state_engine.connect() as conn:
        rows = {
            r.id: (r.outcome, r.entity_ids)
            for r in conn.execute(
                sa.select(audit_event.c.id, audit_event.c.outcome, audit_event.c.entity_ids)
            )
        }
    assert rows == {done: ("allowed", "1.2.3"), cut: ("unknown", "1.2.4")}
    assert not list(journal.glob("*.journal"))
