"""State schema migrations (``smart_auth/migrations``): a database of the previous release, with
data in it, is stamped and upgraded at start-up without losing a row or the audit trail's
triggers; an empty one is built; both end exactly at the current metadata."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from smart_auth.state import (
    BASELINE,
    create_state,
    current_revision,
    head_revision,
    import_tables,
    make_state_engine,
    metadata,
    upgrade_state,
)
from tests.conftest import scratch_postgres

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state.sqlite"
        return
    with scratch_postgres("state_migration") as url:
        yield url


def _differences(engine: sa.Engine) -> list[object]:
    import_tables()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def _previous_release(engine: sa.Engine) -> None:
    """The tables as the release before migrations made them (no ``alembic_version``), with
    accounts, a client, tokens, shares and audit rows."""
    upgrade_state(engine, BASELINE)
    rows = [
        "DROP TABLE alembic_version",
        "INSERT INTO account (id, username, email, full_name, active, created_at, failed_logins,"
        " email_code_on, must_change_password) VALUES (1, 'ana', 'ana@example.org', 'Ana',"
        " true, '2026-01-02 03:04:05', 0, false, false)",
        "INSERT INTO account (id, username, email, full_name, active, created_at, failed_logins,"
        " email_code_on, must_change_password) VALUES (2, 'ben', 'ben@example.org', 'Ben',"
        " true, '2026-01-02 03:04:05', 2, false, false)",
        "INSERT INTO identity (account_id, his_patient_id, relation, verified_at)"
        " VALUES (1, 4, 'self', '2026-01-02 03:04:05')",
        "INSERT INTO oauth_client (client_id, name, kind, auth_method, redirect_uris, scope,"
        " origins, launch_uri, active, created_at) VALUES ('clinic-a', 'Clinic A', 'partner',"
        " 'private_key_jwt', '', 'system/*.rs', '', '', true, 1700000000)",
        "INSERT INTO oauth_token (access_hash, family, client_id, scope, issued_at, expires_at,"
        " rotated, revoked) VALUES ('a1', 'f1', 'clinic-a', 'system/*.rs', 1700000000,"
        " 1700003600, false, false)",
        "INSERT INTO share (client_id, his_patient_id, active, created)"
        " VALUES ('clinic-a', 4, true, '2026-01-01 00:00:00')",
        "INSERT INTO result_attempt (key, failures, window_start)"
        " VALUES ('nid:x', 1, '2026-01-01 00:00:00')",
        "INSERT INTO audit_event (id, recorded, action, resource_type, outcome, subject,"
        " client_id, entity_ids, count) VALUES ('e1', '2026-01-01 00:00:00', 'read', 'Patient',"
        " 'allowed', 'system:clinic-a', 'clinic-a', '4', 1)",
        "INSERT INTO audit_patient (event_id, his_patient_id) VALUES ('e1', 4)",
    ]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(sa.text(row))


def test_a_previous_release_database_with_data_is_upgraded(state_url: str) -> None:
    engine = make_state_engine(state_url)
    try:
        _previous_release(engine)
        assert current_revision(engine) is None
        create_state(engine)  # what every worker does at start-up
        assert current_revision(engine) == head_revision()
        assert _differences(engine) == []
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT username FROM account ORDER BY id")).all() == [
                ("ana",),
                ("ben",),
            ]
            assert (
                conn.execute(sa.text("SELECT failed_logins FROM account WHERE id = 2")).scalar()
                == 2
            )
            assert conn.execute(sa.text("SELECT his_patient_id FROM identity")).scalar() == 4
            assert conn.execute(sa.text("SELECT name FROM oauth_client")).scalar() == "Clinic A"
            assert conn.execute(sa.text("SELECT family FROM oauth_token")).scalar() == "f1"
            assert conn.execute(
                sa.text("SELECT his_patient_id, period_start, classes FROM share")
            ).all() == [(4, None, None)]
            assert conn.execute(sa.text("SELECT count(*) FROM audit_patient")).scalar() == 1
        for statement in (
            "UPDATE audit_event SET outcome = 'denied'",
            "DELETE FROM audit_event",
            "UPDATE audit_patient SET his_patient_id = 5",
            "DELETE FROM audit_patient",
        ):
            with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
                conn.execute(sa.text(statement))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT outcome FROM audit_event")).scalar() == "allowed"
        create_state(engine)  # a restart: nothing left to do
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_an_empty_database_is_built_to_the_current_metadata(state_url: str) -> None:
    engine = make_state_engine(state_url)
    try:
        create_state(engine)
        assert current_revision(engine) == head_revision()
        assert _differences(engine) == []
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO audit_event (id, recorded, action, resource_type, outcome,"
                    " entity_ids, count) VALUES ('e', '2026-01-01 00:00:00', 'read', 'P',"
                    " 'allowed', '', 0)"
                )
            )
        with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text("DELETE FROM audit_event"))
    finally:
        engine.dispose()


_START = """
import sys
from smart_auth.state import create_state, make_state_engine
engine = make_state_engine(sys.argv[1])
create_state(engine, attempts=1)
engine.dispose()
"""


def test_workers_starting_together_on_a_new_database_all_succeed(state_url: str) -> None:
    """Workers of one host (SQLite) or several (PostgreSQL) upgrading one new database at
    once: each waits for the lock, then finds nothing left to do."""
    url = state_url
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _START, url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for worker in workers:
        _out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    engine = make_state_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_the_state_commands_upgrade_and_tell_the_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gateway.cli import main

    monkeypatch.setenv("FHIR_GATEWAY_STATE_URL", f"sqlite:///{tmp_path}/cli.sqlite")
    runner = CliRunner()
    before = runner.invoke(main, ["state", "current"])
    assert before.exit_code == 0, before.output
    assert "current: unversioned" in before.output
    done = runner.invoke(main, ["state", "upgrade"])
    assert done.exit_code == 0, done.output
    after = runner.invoke(main, ["state", "current"])
    assert f"current: {head_revision()}" in after.output
