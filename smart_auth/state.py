"""The gateway's own state database (ARCHITECTURE boundary 5).

Accounts, OAuth clients, codes and tokens, shares, one-time codes, lockout counters and the
audit trail live here, never in process memory: every worker and host sees the same state.
SQLite by default (``FHIR_GATEWAY_STATE_URL``), PostgreSQL in production. Each part of
``smart_auth`` declares its tables on the one ``metadata`` below, in its own ``tables`` module.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from fhir_gateway.his.deadline import bound_waits, client_bound, server_connect_args

if TYPE_CHECKING:
    from alembic.config import Config

metadata = MetaData()


def make_state_engine(url: str, *, pool_size: int = 5, timeout_s: float = 10.0) -> Engine:
    """An engine for the state database; SQLite files get WAL and a busy timeout so several
    workers can write. Every wait is bounded by about ``timeout_s``: connecting, a pooled
    connection, a locked SQLite file, and each statement (the server's statement timeout and
    a client-side deadline, as for the HIS: ``fhir_gateway.his.deadline``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": timeout_s, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_on_connect)
        return bound_waits(engine, client_bound(timeout_s))
    engine = create_engine(
        url,
        pool_size=pool_size,
        pool_pre_ping=True,
        pool_timeout=timeout_s,
        connect_args=server_connect_args(url, timeout_s),
    )
    return bound_waits(engine, client_bound(timeout_s))


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def create_state(engine: Engine, *, attempts: int = 5) -> None:
    """Bring the state database to the current schema: ``upgrade_state`` (Alembic revisions in
    ``smart_auth/migrations``), run by every worker at start-up.

    Several workers starting together are serialized (``_upgrade_lock``); should one still
    fail on a race the lock cannot see (a SQLite file being created), it looks again."""
    for attempt in range(1, attempts + 1):
        try:
            upgrade_state(engine)
            return
        except DBAPIError:
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)


#: The revision that describes the tables of the release before migrations (0.1.0).
BASELINE = "0001_baseline"
#: Key of the PostgreSQL advisory lock held while the state schema is upgraded.
_LOCK_KEY = 0x5F47_5354  # "_GST"


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of the state database (no ini file: the scripts are package
    data); ``connection`` is the one the revisions run on."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "smart_auth:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_state(engine: Engine, revision: str = "head") -> None:
    """Upgrade the state database to ``revision``, under ``_upgrade_lock``. A database made by
    the release before migrations (its tables, no ``alembic_version``) is first stamped with
    the baseline it matches; an empty one is built from the first revision."""
    from alembic import command

    import_tables()
    with _upgrade_lock(engine) as conn:
        config = alembic_config(conn)
        if _unversioned_previous_release(conn):
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)
        conn.commit()


def current_revision(engine: Engine) -> str | None:
    """The revision the state database is at (None: not versioned)."""
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _unversioned_previous_release(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    return "alembic_version" not in tables and "account" in tables


@contextmanager
def _upgrade_lock(engine: Engine) -> Iterator[Connection]:
    """A connection holding the state database's upgrade lock until the block ends: on
    PostgreSQL a session advisory lock (the others wait for it, then find the schema current);
    on SQLite the file's write lock (``BEGIN IMMEDIATE``), which the busy timeout waits for."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                conn.commit()
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
        else:
            yield conn


def import_tables() -> None:
    """Import every module that declares state tables, so ``metadata`` knows them all."""
    import importlib
    import pkgutil

    import smart_auth

    for info in pkgutil.walk_packages(smart_auth.__path__, "smart_auth."):
        if info.name.endswith(".tables"):
            importlib.import_module(info.name)


def shared_engine(extensions: dict[str, Any], url: str) -> Engine:
    """The one state engine of an application (kept in its ``extensions``), created with its
    tables on first use: every part of ``smart_auth`` wired into the app asks here. Its waits
    are bounded by ``extensions["state_timeout_s"]`` (the STATE_TIMEOUT_S setting)."""
    engine: Engine | None = extensions.get("state_engine")
    if engine is None:
        engine = make_state_engine(url, timeout_s=extensions.get("state_timeout_s", 10.0))
        create_state(engine)
        extensions["state_engine"] = engine
    return engine
