"""Shared fixtures: a generated HIS on SQLite and, where reachable, on PostgreSQL.

Every test that takes ``his_url`` (directly or through ``app``/``client``) runs once per
database. PostgreSQL is the one at 127.0.0.1:5432 (trust auth, database ``test``) that CI
provides; each test worker creates its own database there and drops it afterwards. Where no
PostgreSQL answers, those runs are skipped and the summary says why.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.his.sql import make_engine

TODAY = dt.date(2026, 11, 1)
PATIENTS = 40
SEED = 7
PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BASE = "http://gateway.test/fhir"
REPO = Path(__file__).resolve().parents[1]
SHARED_R4 = REPO.parent / "shared" / "fhir" / "r4"


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means: no PostgreSQL here
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({type(exc).__name__})"
    return None


@pytest.fixture(scope="session")
def sqlite_his(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("his") / "his.sqlite"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    generate(engine, patients=PATIENTS, seed=SEED, today=TODAY)
    engine.dispose()
    return url


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards; skips the test where
    PostgreSQL is not reachable."""
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_his() -> Iterator[str]:
    with scratch_postgres("his_test") as url:
        engine = make_engine(url)
        generate(engine, patients=PATIENTS, seed=SEED, today=TODAY)
        engine.dispose()
        yield url


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def his_url(request: pytest.FixtureRequest) -> str:
    """The test HIS, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_his" if request.param == "sqlite" else "postgres_his"
    return request.getfixturevalue(fixture)


#: Scratch space for the state databases, outboxes and caches of the apps tests build.
_SCRATCH = tempfile.TemporaryDirectory(prefix="gateway-tests-")
#: what a test leaves to the defaults lands in scratch space too, never in the home directory
os.environ["FHIR_GATEWAY_DATA_DIR"] = str(Path(_SCRATCH.name) / "data")
#: the proof of work (ALTCHA) on the account and result-code forms is off unless a test asks
os.environ.setdefault("FHIR_GATEWAY_ALTCHA_ENABLED", "false")


def app_config(his_url: str, **extra: object) -> dict[str, object]:
    """Settings of a test app: its own state database, outbox and DICOM cache, never
    ``instance/``; ``extra`` overrides (two apps sharing one state pass the same state_url)."""
    own = Path(tempfile.mkdtemp(dir=_SCRATCH.name))
    return {
        "state_url": f"sqlite:///{own / 'state.sqlite'}",
        "outbox_dir": str(own / "outbox"),
        "dicomweb_cache_dir": str(own / "dicomweb-cache"),
        "uploads_dir": str(own / "uploads"),
        # the viewer build of this checkout (scripts/install-ohif.sh), not one in a data dir
        "ohif_dir": str(REPO / "var" / "ohif" / "dist"),
        "his_url": his_url,
        "public_base_url": BASE,
        "dev_open_access": True,
        "secret_key": "test-secret",
        "log_json": True,
        **extra,
    }


@pytest.fixture(scope="session")
def app(his_url: str):  # type: ignore[no-untyped-def]
    from gateway.app import create_app

    return create_app(
        app_config(his_url),
    )


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture(scope="session")
def his_engine(his_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(his_url)
    yield engine
    engine.dispose()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright, one per test process: Playwright's sync
    API cannot run twice in one process while the first is open."""
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed: run make setup")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
