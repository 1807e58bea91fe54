"""Workers starting together on a new state database all come up: the one that loses the race
for a table looks again instead of failing to boot (gunicorn then stops the whole server)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import sqlalchemy as sa

from smart_auth.state import import_tables, metadata

WORKERS = 6


def _worker(url: str, start: object, done: object) -> None:
    from smart_auth.state import create_state, make_state_engine

    engine = make_state_engine(url)
    start.wait()  # type: ignore[attr-defined]
    try:
        create_state(engine)
        done.put("ok")  # type: ignore[attr-defined]
    except Exception as exc:  # reported to the test, which fails on it
        done.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_workers_creating_a_new_state_database_together_all_succeed(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(3):  # the race is timing-dependent: several fresh databases
        url = f"sqlite:///{tmp_path / f'state-{round_}.sqlite'}"
        start, done = ctx.Barrier(WORKERS), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(url, start, done)) for _ in range(WORKERS)]
        for proc in procs:
            proc.start()
        outcomes = [done.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(30)
        assert outcomes == ["ok"] * WORKERS
        import_tables()
        engine = sa.create_engine(url)
        assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
        engine.dispose()
