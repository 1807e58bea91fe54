"""Two requests presenting one refresh token at the same moment (RFC 9700 §4.14.2).

At most one gets new tokens; the other is reuse, which revokes the whole family, including
what was just issued to the winner, at once. Each round races two threads through the app's
test client behind a barrier, on SQLite and on PostgreSQL, over many rounds.

The per-worker token memory (``oauth_token_cache_s``) is left at its default: the revoking
worker forgets at once (both threads share one app here, as two threads of one worker do);
another worker would honour the revocation within ``oauth_token_cache_s`` as documented.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import scratch_postgres
from tests.smart_auth.race import state_app, together
from tests.smart_auth.test_oauth_fixtures import launch

ROUNDS = 25


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def race_app(request: pytest.FixtureRequest, sqlite_his: str, tmp_path: Path) -> Iterator[Flask]:
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
        if request.param == "postgresql":
            url = stack.enter_context(scratch_postgres("refresh_race"))
        app = state_app(sqlite_his, url)
        yield app
        app.extensions["audit_writer"].close()
        app.extensions["state_engine"].dispose()


def _race(app: Flask, client_id: str, refresh_token: str) -> list[Any]:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    clients = [app.test_client() for _ in range(2)]
    return together(2, lambda i: clients[i].post("/oauth/token", data=form))


def test_simultaneous_refreshes_leave_no_token_of_the_family_working(race_app: Flask) -> None:
    for round_ in range(ROUNDS):
        done = launch(race_app)
        client = done["client"]
        first = done["token"]
        answers = _race(race_app, done["client_id"], first["refresh_token"])
        codes = sorted(a.status_code for a in answers)
        assert codes in ([200, 400], [400, 400]), (round_, codes)
        for answer in answers:
            if answer.status_code == 400:
                assert answer.get_json()["error"] == "invalid_grant"
        winners = [a.get_json() for a in answers if a.status_code == 200]
        tokens = [first["access_token"]] + [w["access_token"] for w in winners]
        for token in tokens:
            read = client.get("/fhir/Patient/3", headers={"Authorization": f"Bearer {token}"})
            assert read.status_code == 401, (round_, "an access token of the family still works")
        for refresh in [w["refresh_token"] for w in winners]:
            again = client.post(
                "/oauth/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh,
                    "client_id": done["client_id"],
                },
            )
            assert again.status_code == 400, (round_, "the winner's refresh token still works")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_hosts(request: pytest.FixtureRequest, sqlite_his: str, tmp_path: Path) -> Iterator[Any]:
    """Two apps over one state database (two hosts). Their token memory is off: a revocation
    made by one host reaches the other's memory only after ``oauth_token_cache_s``, as
    documented, and this test asks for it at once."""
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
        if request.param == "postgresql":
            url = stack.enter_context(scratch_postgres("refresh_hosts"))
        apps = [state_app(sqlite_his, url, oauth_token_cache_s=0) for _ in range(2)]
        yield apps
        for app in apps:
            app.extensions["audit_writer"].close()
            app.extensions["state_engine"].dispose()


def test_simultaneous_refreshes_on_two_hosts_leave_no_token_working(two_hosts: list[Any]) -> None:
    for round_ in range(ROUNDS):
        done = launch(two_hosts[0])
        form = {
            "grant_type": "refresh_token",
            "refresh_token": done["token"]["refresh_token"],
            "client_id": done["client_id"],
        }
        clients = [app.test_client() for app in two_hosts]
        answers = together(2, lambda i, c=clients, f=form: c[i].post("/oauth/token", data=f))
        codes = sorted(a.status_code for a in answers)
        assert codes in ([200, 400], [400, 400]), (round_, codes)
        tokens = [done["token"]["access_token"]]
        tokens += [a.get_json()["access_token"] for a in answers if a.status_code == 200]
        for client in clients:
            for token in tokens:
                read = client.get("/fhir/Patient/3", headers={"Authorization": f"Bearer {token}"})
                assert read.status_code == 401, (round_, "a token of the family still works")
