"""Alembic environment of the state database: the revisions in ``versions`` bring a database
to ``smart_auth.state.metadata``. Run through ``smart_auth.state.upgrade_state`` (start-up and
``fhir-gateway state upgrade``), which hands over its connection in
``config.attributes["connection"]``; otherwise the URL is ``sqlalchemy.url`` of the config or
FHIR_GATEWAY_STATE_URL. SQLite alters tables in batches (copy and move), having few ALTERs.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from smart_auth.state import import_tables, make_state_engine, metadata

import_tables()
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("FHIR_GATEWAY_STATE_URL")
    if not url:
        # no guess from the working directory: `fhir-gateway state upgrade` knows the
        # gateway's own default (within its data directory)
        raise SystemExit(
            "set sqlalchemy.url or FHIR_GATEWAY_STATE_URL, or run `fhir-gateway state upgrade`"
        )
    engine = make_state_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the state migrations run online only")
run()
