"""A HIS that hangs or goes away, on PostgreSQL and MariaDB behind the fault proxy: every
request that needs it answers 503 with Retry-After within the configured bound, on
connections the pool already holds (a stall mid-stream) as on new ones, and the gateway
recovers once the HIS answers again. SQLite: a locked file waits only the busy timeout."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.his.connector import HisUnreachable
from fhir_gateway.his.schema import lab_bulletin, patient
from fhir_gateway.his.sql import SqlConnector, make_engine
from gateway.app import create_app
from tests.conftest import TODAY, app_config, scratch_postgres
from tests.faults.proxy import FaultProxy
from tests.his.test_connector_contract import SYSTEMS, scratch_mariadb

TIMEOUT_S = 2
#: What a request may take against a hung HIS: the statement's client-side deadline, then at
#: most one connection attempt of the pool's retry, and some slack for a loaded machine.
BOUND_S = 2 * TIMEOUT_S + 3


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def his_server(request: pytest.FixtureRequest) -> Iterator[str]:
    scratch = scratch_postgres if request.param == "postgresql" else scratch_mariadb
    with scratch("his_stall") as url:
        engine = make_engine(url)
        generate(engine, patients=6, seed=3, today=TODAY)
        engine.dispose()
        yield url


@pytest.fixture
def proxied(his_server: str) -> Iterator[tuple[str, FaultProxy]]:
    real = sa.make_url(his_server)
    with FaultProxy(real.host or "127.0.0.1", real.port or 0, lifetime_s=300) as proxy:
        yield real.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy


def _coded(url: str) -> Any:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(lab_bulletin.c.id, lab_bulletin.c.access_code, patient.c.national_id)
                .join(patient, patient.c.id == lab_bulletin.c.patient_id)
                .where(lab_bulletin.c.access_code.is_not(None))
                .order_by(lab_bulletin.c.id)
                .limit(1)
            ).one()
    finally:
        engine.dispose()


def _timed(fn: Any, bound: float = BOUND_S) -> tuple[Any, float]:
    """``fn()`` and how long it took; fails (instead of hanging) if it takes over ``bound``."""
    result: list[Any] = []
    start = time.monotonic()
    worker = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    worker.start()
    worker.join(bound)
    took = time.monotonic() - start
    assert result, f"no answer within {bound} s"
    return result[0], took


def test_a_hung_his_answers_503_within_the_bound(
    his_server: str, proxied: tuple[str, FaultProxy]
) -> None:
    url, proxy = proxied
    coded = _coded(his_server)
    app = create_app(app_config(url, his_timeout_s=TIMEOUT_S, his_pool_size=2))
    client = app.test_client()
    pid = client.get("/fhir/Patient?_count=1").get_json()["entry"][0]["resource"]["id"]
    form = {"code": coded.access_code, "national_id": coded.national_id}
    requests = {
        "read": lambda: client.get(f"/fhir/Patient/{pid}"),
        "search": lambda: client.get("/fhir/Observation?_count=5"),
        "everything": lambda: client.get(f"/fhir/Patient/{pid}/$everything"),
        "ready": lambda: client.get("/health/ready"),
        "result-access": lambda: client.post("/auth/result-access", data=form),
    }
    # the pool holds open connections, as in a server that has been running
    for name, call in requests.items():
        assert call().status_code == 200, name
    try:
        for mode in ("stall", "close"):
            proxy.mode = mode
            for name, call in requests.items():
                answer, took = _timed(call)
                assert answer.status_code == 503, (mode, name, answer.get_data(as_text=True))
                assert int(answer.headers["Retry-After"]) > 0, (mode, name)
                assert took < BOUND_S, (mode, name, took)
        proxy.mode = "pass"
        for name, call in requests.items():
            if name != "result-access":  # the code has been redeemed: one grant is enough
                assert call().status_code == 200, ("after", name)
    finally:
        app.extensions["his"].engine.dispose()
        app.extensions["audit_writer"].close()


def test_a_statement_stalled_mid_stream_is_cut_at_the_deadline(
    proxied: tuple[str, FaultProxy],
) -> None:
    """The connector alone: a query already sent on a pooled connection never gets its answer
    (the server's statement timeout cannot help); the client-side deadline ends the wait."""
    url, proxy = proxied
    connector = SqlConnector.from_url(url, SYSTEMS, pool_size=1, timeout_s=1)
    try:
        connector.ping()
        proxy.mode = "stall"

        def ping() -> object:
            try:
                connector.ping()
            except HisUnreachable as exc:
                return exc
            return None

        answer, took = _timed(ping, bound=5)
        assert isinstance(answer, HisUnreachable)
        assert took < 5
    finally:
        connector.engine.dispose()


def test_a_runaway_sqlite_query_is_interrupted_at_the_deadline(tmp_path: Path) -> None:
    """SQLite has no server to time out: the client-side deadline interrupts the statement."""
    engine = make_engine(f"sqlite:///{tmp_path / 'his.sqlite'}", timeout_s=0.5)
    endless = sa.text(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    )

    def run() -> object:
        try:
            with engine.connect() as conn:
                return conn.execute(endless).scalar()
        except sa.exc.OperationalError as exc:
            return exc

    try:
        answer, took = _timed(run, bound=5)
        assert isinstance(answer, sa.exc.OperationalError)
        assert "interrupt" in str(answer)
        assert took < 3
        with engine.connect() as conn:  # the connection is usable again
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_a_locked_sqlite_state_database_waits_only_its_timeout(
    sqlite_his: str, tmp_path: Path
) -> None:
    """A wrong result code is counted in the state database; while another process holds
    its write lock, the request waits STATE_TIMEOUT_S (not a fixed half minute) and fails."""
    state = tmp_path / "state.sqlite"
    app = create_app(
        app_config(
            sqlite_his, dev_open_access=False, state_url=f"sqlite:///{state}", state_timeout_s=1
        )
    )
    client = app.test_client()
    form = {"code": "000000", "national_id": "1800101000000"}
    assert client.post("/auth/result-access", data=form).status_code == 400
    locker = sqlite3.connect(state, timeout=0)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        answer, took = _timed(lambda: client.post("/auth/result-access", data=form), bound=6)
        assert answer.status_code >= 500
        assert took < 4
    finally:
        locker.rollback()
        locker.close()
    try:
        assert client.post("/auth/result-access", data=form).status_code == 400
    finally:
        app.extensions["audit_writer"].close()


def test_an_answer_dripping_in_is_cut_at_the_deadline(proxied: tuple[str, FaultProxy]) -> None:
    """Each byte comes before any socket read timeout fires (PyMySQL's read_timeout is per
    read), yet the statement as a whole outlives its deadline: it is cut there."""
    url, proxy = proxied
    engine = make_engine(url, pool_size=1, timeout_s=2)
    every_result = sa.text("SELECT * FROM lab_result")
    try:
        with engine.connect() as conn:
            assert conn.execute(every_result).all()
        proxy.slow_bytes_per_s = 64
        proxy.mode = "slow"

        def run() -> object:
            try:
                with engine.connect() as conn:
                    return conn.execute(every_result).all()
            except sa.exc.DBAPIError as exc:
                return exc

        answer, took = _timed(run, bound=8)
        assert isinstance(answer, sa.exc.DBAPIError)
        assert took < 5
    finally:
        proxy.mode = "close"
        engine.dispose()


def test_no_free_pooled_connection_is_unreachable_not_an_error(
    proxied: tuple[str, FaultProxy],
) -> None:
    """Every pooled connection taken (by requests a slow HIS holds): the next one waits the
    pool's timeout and is told the HIS is unreachable (503), not a server error."""
    url, _proxy = proxied
    connector = SqlConnector.from_url(url, SYSTEMS, pool_size=1, timeout_s=1)
    held = [connector.engine.connect() for _ in range(2)]  # pool_size + max_overflow
    try:

        def ping() -> object:
            try:
                connector.ping()
            except Exception as exc:
                return exc
            return None

        answer, took = _timed(ping, bound=5)
        assert isinstance(answer, HisUnreachable)
        assert took < 3
    finally:
        for conn in held:
            conn.close()
        connector.engine.dispose()
