"""Per-address request rates on the credential endpoints hold when requests arrive together.

N requests from one address released at the same moment (a barrier, one thread each, through
the app's test client) at a limit of 5: exactly 5 reach the endpoint, the others are refused
429 with Retry-After, with the counters in SQLite, in PostgreSQL and in Redis (each skipped
with a reason when it does not answer), over several rounds (a new address each round).
Two apps over one state database or one Redis (two hosts) share the count.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import scratch_postgres
from tests.smart_auth.race import state_app, together

LIMIT = 5
N = 12
ROUNDS = 5
REDIS_URL = "redis://127.0.0.1:6379/0"
ENDPOINTS = {
    "/oauth/token": {"grant_type": "refresh_token", "refresh_token": "x" * 43},
    "/auth/result-access": {"code": "123456"},
}


def _form(path: str) -> dict[str, str]:
    """The endpoint's form; result codes for a new national ID each time, so that only the
    address is limited here (the attempt limits have their own tests)."""
    form = dict(ENDPOINTS[path])
    if path == "/auth/result-access":
        form["national_id"] = f"{secrets.randbelow(10**13):013d}"
    return form


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_reason() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # any failure means: no Redis here
        return f"Redis does not answer at {REDIS_URL}: {exc}"
    return None


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        "redis",
        "redis-down",
    ]
)
def two_hosts(request: pytest.FixtureRequest, sqlite_his: str, tmp_path: Path) -> Iterator[Any]:
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
        extra: dict[str, Any] = {"auth_rate_limit": LIMIT, "auth_rate_window_s": 300}
        if request.param == "postgresql":
            url = stack.enter_context(scratch_postgres("rate_race"))
        if request.param == "redis":
            reason = _redis_reason()
            if reason:
                pytest.skip(reason)
            extra["redis_url"] = REDIS_URL
        if request.param == "redis-down":  # nothing listens there: the state database counts
            extra["redis_url"] = f"redis://127.0.0.1:{_closed_port()}/0"
        apps = [state_app(sqlite_his, url, **extra) for _ in range(2)]
        yield apps
        for app in apps:
            app.extensions["audit_writer"].close()
            app.extensions["state_engine"].dispose()


def test_requests_together_from_one_address_pass_exactly_the_limit(
    two_hosts: list[Flask],
) -> None:
    for round_ in range(ROUNDS):
        for path in ENDPOINTS:
            address = f"10.{round_}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
            clients = [two_hosts[i % 2].test_client() for i in range(N)]
            answers = together(
                N,
                lambda i, c=clients, p=path, a=address: c[i].post(
                    p, data=_form(p), environ_base={"REMOTE_ADDR": a}
                ),
            )
            codes = [a.status_code for a in answers]
            assert codes.count(429) == N - LIMIT, (round_, path, codes)
            for answer in answers:
                if answer.status_code == 429:
                    assert 1 <= int(answer.headers["Retry-After"]) <= 301
                    assert answer.get_json()["error"] == "slow_down"
            # another address is not held back by this one
            elsewhere = f"10.255.{round_}.{secrets.randbelow(250)}"
            other = clients[0].post(path, data=_form(path), environ_base={"REMOTE_ADDR": elsewhere})
            assert other.status_code != 429, (round_, path)
