"""Bulk loading of HIS rows: the fastest path each database offers, same rows on every path.

* SQLite: the DBAPI cursor's ``executemany`` with SQLAlchemy's own bind processors, so dates,
  timestamps, booleans and JSON are stored exactly as SQLAlchemy stores and compares them.
* PostgreSQL (psycopg 3): ``COPY ... FROM STDIN``, then the id sequences are moved past the
  loaded ids so that the HIS can go on inserting.
* Any other dialect: SQLAlchemy Core ``executemany``.

Tables the loader creates get their secondary indexes only after the load (:meth:`finish`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import JSON, Connection, Index, Table, inspect, literal, select
from sqlalchemy.schema import CreateTable

from fhir_gateway.his import schema

Row = Mapping[str, Any]
Rows = dict[str, list[dict[str, Any]]]  # a batch of rows by table name

# Columns whose server default the loader fills in when a row leaves them out.
_DEFAULTS = {"version": 1, "active": True, "telemedicine": False}

# Parents before children, so that PostgreSQL's foreign keys hold statement by statement.
LOAD_ORDER: tuple[Table, ...] = (
    schema.department,
    schema.specialty,
    schema.doctor,
    schema.service,
    schema.schedule,
    schema.slot,
    schema.questionnaire,
    schema.patient,
    schema.guardian_link,
    schema.episode,
    schema.document,
    schema.document_file,
    schema.lab_bulletin,
    schema.lab_result,
    schema.paraclinical_test,
    schema.imaging_order,
    schema.appointment,
    schema.questionnaire_assignment,
)


class HisNotEmptyError(RuntimeError):
    """The target database already holds HIS rows; the generator only fills empty tables."""


def _memo_last(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its last argument: rows of a batch often share a timestamp."""
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return convert


@dataclass(frozen=True)
class _Plan:
    """How the rows of one table become DBAPI parameter lists."""

    columns: tuple[str, ...]
    defaults: tuple[Any, ...]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]

    def params(self, rows: Iterable[Row]) -> Iterable[list[Any]]:
        pairs = tuple(zip(self.columns, self.defaults, strict=True))
        for row in rows:
            values = [row.get(name, default) for name, default in pairs]
            for index, convert in self.converters:
                values[index] = convert(values[index])
            yield values


class BulkWriter:
    """Inserts batches of rows into the HIS tables through one open connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.counts: dict[str, int] = {table.name: 0 for table in LOAD_ORDER}
        self._plans: dict[str, _Plan] = {}
        self._deferred: list[Index] = []
        self._pragmas: dict[str, Any] = {}

    # --- before and after the load ------------------------------------------------------------

    def prepare(self) -> None:
        """Create missing tables (indexes deferred), refuse a HIS that has patients, tune SQLite."""
        existing = set(inspect(self.conn).get_table_names())
        for table in schema.metadata.sorted_tables:
            if table.name not in existing:
                self.conn.execute(CreateTable(table))
                self._deferred.extend(sorted(table.indexes, key=lambda index: str(index.name)))
        for table in LOAD_ORDER:
            if self.conn.scalar(select(literal(1)).select_from(table).limit(1)):
                raise HisNotEmptyError(f"the HIS table {table.name} has rows; use an empty HIS")
        if self.dialect == "sqlite":
            self._tune_sqlite()
        elif self.dialect == "postgresql":
            # COPY and CREATE INDEX on millions of rows outlast any statement timeout.
            self.conn.exec_driver_sql("SET statement_timeout = 0")
        self.conn.commit()

    def finish(self, progress: Callable[[str], None]) -> None:
        """Build deferred indexes, move PostgreSQL sequences, refresh planner statistics."""
        if self._deferred:
            progress(f"creating {len(self._deferred)} indexes")
        for index in self._deferred:
            index.create(self.conn)
        if self.dialect == "postgresql":
            self._reset_sequences()
        progress("analyzing")
        if self.dialect in {"mysql", "mariadb"}:
            names = ", ".join(table.name for table in LOAD_ORDER)
            self.conn.exec_driver_sql(f"ANALYZE TABLE {names}").fetchall()
        else:
            self.conn.exec_driver_sql("ANALYZE")
        if self.dialect == "postgresql":
            self.conn.exec_driver_sql("RESET statement_timeout")
        self.conn.commit()
        for name, value in self._pragmas.items():
            self.conn.exec_driver_sql(f"PRAGMA {name}={value}")
        self.conn.commit()

    def _tune_sqlite(self) -> None:
        self.conn.commit()  # journal_mode cannot change inside a transaction
        for name in ("synchronous", "cache_size"):
            self._pragmas[name] = self.conn.exec_driver_sql(f"PRAGMA {name}").scalar()
        self.conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        self.conn.exec_driver_sql("PRAGMA synchronous=OFF")
        self.conn.exec_driver_sql("PRAGMA cache_size=-131072")

    def _reset_sequences(self) -> None:
        for table in LOAD_ORDER:
            column = table.c.get("id")
            if column is None or column.foreign_keys:
                continue
            self.conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}"
            )

    # --- the load -----------------------------------------------------------------------------

    def write(self, rows: Rows) -> None:
        """Insert a batch (every table, in :data:`LOAD_ORDER`) and commit it."""
        for table in LOAD_ORDER:
            self.insert(table, rows[table.name])
            self.counts[table.name] += len(rows[table.name])
        self.conn.commit()

    def insert(self, table: Table, rows: Sequence[Row]) -> None:
        """Insert ``rows`` (mappings by column name; missing columns are NULL or defaulted)."""
        if not rows:
            return
        if self.dialect == "sqlite":
            self._insert_sqlite(table, rows)
        elif self.dialect == "postgresql" and self.conn.dialect.driver == "psycopg":
            self._copy_postgresql(table, rows)
        else:
            # every row with every column: an executemany needs one parameter set per statement
            defaults = {column.key: _DEFAULTS.get(column.key) for column in table.columns}
            self.conn.execute(table.insert(), [{**defaults, **row} for row in rows])

    def _plan(self, table: Table) -> _Plan:
        plan = self._plans.get(table.name)
        if plan is None:
            plan = self._plans[table.name] = self._make_plan(table)
        return plan

    def _make_plan(self, table: Table) -> _Plan:
        dialect = self.conn.dialect
        converters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(table.columns):
            process: Callable[[Any], Any] | None
            if self.dialect == "postgresql":
                process = json.dumps if isinstance(column.type, JSON) else None
            else:
                process = column.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                converters.append((index, _memo_last(process)))
        names = tuple(table.columns.keys())
        return _Plan(names, tuple(_DEFAULTS.get(name) for name in names), tuple(converters))

    def _insert_sqlite(self, table: Table, rows: Sequence[Row]) -> None:
        plan = self._plan(table)
        marks = ", ".join("?" * len(plan.columns))
        sql = f"INSERT INTO {table.name} ({', '.join(plan.columns)}) VALUES ({marks})"  # noqa: S608
        cursor = cast(sqlite3.Connection, self.conn.connection.dbapi_connection).cursor()
        try:
            cursor.executemany(sql, plan.params(rows))
        finally:
            cursor.close()

    def _copy_postgresql(self, table: Table, rows: Sequence[Row]) -> None:
        plan = self._plan(table)
        sql = f"COPY {table.name} ({', '.join(plan.columns)}) FROM STDIN"
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(sql) as copy:
                for values in plan.params(rows):
                    copy.write_row(values)
        finally:
            cursor.close()


class RowBuffer:
    """Rows generated for the current batch of patients, by table name."""

    def __init__(self) -> None:
        self.rows: Rows = _empty()

    def add(self, table: Table, row: dict[str, Any]) -> None:
        """Queue ``row`` for ``table``."""
        self.rows[table.name].append(row)

    def extend(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Queue several ``rows`` for ``table``."""
        self.rows[table.name].extend(rows)

    def take(self) -> Rows:
        """Every queued row, by table name; the buffer starts empty again."""
        rows, self.rows = self.rows, _empty()
        return rows


def _empty() -> Rows:
    return {table.name: [] for table in LOAD_ORDER}
