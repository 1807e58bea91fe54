"""Periodic jobs run once per period whatever the number of workers and hosts: each worker's
ticker tries to insert (job, period) and only the one that succeeds enqueues the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifications.queue import Periodic
from smart_auth.state import create_state, make_state_engine
from tests.conftest import scratch_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.sqlite'}"
        return
    with scratch_postgres("notify_periodic") as url:
        yield url


def test_three_tickers_enqueue_each_period_once(state_url: str) -> None:
    engine = make_state_engine(state_url)
    create_state(engine)
    runs: list[tuple[str, int]] = []
    tickers = [
        Periodic(
            engine,
            [
                ("often", 10.0, lambda n=n: runs.append(("often", n))),
                ("rarely", 60.0, lambda n=n: runs.append(("rarely", n))),
            ],
        )
        for n in range(3)
    ]
    for second in range(0, 120):  # two minutes, every ticker ticking every second
        for ticker in tickers:
            ticker.tick(now=1_800_000_000.0 + second)
    assert sum(1 for name, _ in runs if name == "often") == 12
    assert sum(1 for name, _ in runs if name == "rarely") == 2
    engine.dispose()
