"""The gateway's own state database (ARCHITECTURE boundary 5).

Accounts, OAuth clients, codes and tokens, shares, one-time codes, lockout counters and the
audit trail live here, never in process memory: every worker and host sees the same state.
SQLite by default (``FHIR_GATEWAY_STATE_URL``), PostgreSQL in production. Each part of
``smart_auth`` declares its tables on the one ``metadata`` below, in its own ``tables`` module.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from fhir_gateway.his.deadline import bound_waits, client_bound, server_connect_args

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
    """Create every state table that does not exist yet (all ``tables`` modules imported).

    Several workers starting together on a new database race for the same tables: the one that
    looked before another created a table fails with "already exists" (SQLite) or a duplicate
    key in the catalogue (PostgreSQL). Looking again then finds it, so the creation is retried.
    """
    import_tables()
    for attempt in range(1, attempts + 1):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)


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
