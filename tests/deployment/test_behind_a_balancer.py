"""Behind a load balancer (FHIR_GATEWAY_PROXY_HOPS): the per-address limits count the client
the balancer saw, and a client cannot pick its address when no balancer is declared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.smart_auth.race import state_app

LIMIT = 3


@pytest.fixture(params=[0, 1], ids=["direct", "one-balancer"])
def results_app(request: pytest.FixtureRequest, sqlite_his: str, tmp_path: Path) -> Iterator[Flask]:
    app = state_app(
        sqlite_his,
        f"sqlite:///{tmp_path / 'state.sqlite'}",
        results_max_attempts=LIMIT,
        proxy_hops=request.param,
    )
    yield app
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


def _attempt(app: Flask, n: int, forwarded: str) -> int:
    answer = app.test_client().post(
        "/auth/result-access",
        data={"code": "000001", "national_id": f"{n:013d}"},
        headers={"X-Forwarded-For": forwarded},
        environ_base={"REMOTE_ADDR": "10.99.0.1"},  # the balancer, for every client
    )
    return answer.status_code


def test_the_address_limit_counts_the_client_the_balancer_saw(results_app: Flask) -> None:
    hops = results_app.config["SETTINGS"].proxy_hops
    codes = [_attempt(results_app, n, "192.0.2.7") for n in range(LIMIT)]
    assert codes == [400] * LIMIT  # wrong codes, judged
    assert _attempt(results_app, LIMIT, "192.0.2.7") == 429
    other_client = _attempt(results_app, LIMIT + 1, "198.51.100.9")
    if hops:
        assert other_client == 400  # another person behind the same balancer is not blocked
    else:
        assert other_client == 429  # without a declared balancer the header changes nothing
