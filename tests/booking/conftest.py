"""Fixtures of the booking tests: a HIS of their own (booking changes it), on SQLite and on
PostgreSQL; the helpers that add free slots in the real future are in ``tests.booking.his``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.booking.his import generated
from tests.conftest import scratch_postgres


@pytest.fixture(scope="module")
def booking_his(tmp_path_factory: pytest.TempPathFactory) -> str:
    return generated(f"sqlite:///{tmp_path_factory.mktemp('booking-his') / 'his.sqlite'}")


@pytest.fixture(scope="module")
def booking_pg_his() -> Iterator[str]:
    with scratch_postgres("his_booking") as url:
        yield generated(url)
