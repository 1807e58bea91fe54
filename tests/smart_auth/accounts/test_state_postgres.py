"""The state database on PostgreSQL, as a deployment of several hosts runs it: accounts, lockout,
OAuth codes and tokens, refresh rotation and sharing, each seen alike by two apps (two hosts)
over one database. Skipped where PostgreSQL is not reachable (CI has it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from gateway.app import create_app
from smart_auth.session import sign_in
from tests.conftest import app_config, scratch_postgres
from tests.smart_auth.test_oauth_fixtures import launch

from .conftest import Inbox
from .test_service import PASSWORD, registered, service

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_state() -> Iterator[str]:
    with scratch_postgres("state_test") as url:
        yield url


@pytest.fixture
def make_app(sqlite_his: str, smtp: tuple[Inbox, int], pg_state: str) -> Iterator[Any]:
    """Apps over the PostgreSQL state database (the accounts tests' own fixture, moved)."""
    apps: list[Flask] = []

    def build(**extra: object) -> Flask:
        app = create_app(
            app_config(
                sqlite_his,
                dev_open_access=False,
                state_url=pg_state,
                smtp_host="127.0.0.1",
                smtp_port=smtp[1],
                **extra,
            )
        )

        @app.get("/_test/sign-in/<int:account_id>")
        def _sign_in(account_id: int) -> str:  # test-only: the accounts pages do this
            sign_in(account_id)
            return "ok"

        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["audit_writer"].close()
        app.extensions["state_engine"].dispose()


def test_the_state_database_is_postgresql(make_app: Any) -> None:
    assert make_app().extensions["state_engine"].dialect.name == "postgresql"


def test_lockout_holds_across_hosts(make_app: Any, inbox: Inbox, adults: list[Any]) -> None:
    svc, clock = service(make_app)
    registered(svc, inbox, adults[1])
    mine = adults[1].email
    for attempt in range(5):
        clock.advance(hours=2)
        outcome = svc.login(mine, "wrong password!", f"10.0.0.{attempt}")
        assert outcome.status == ("locked" if attempt == 4 else "bad")
    other, other_clock = service(make_app)
    other_clock.now = clock.now
    assert other.login(mine, PASSWORD, "10.0.1.2").status == "locked"
    assert other.unlock(mine)
    assert svc.login(mine, PASSWORD, "10.0.1.3").status == "ok"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refresh(client: Any, refresh_token: str, client_id: str) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return client.post("/oauth/token", data=form)


def test_tokens_refresh_and_reuse_detection_across_hosts(make_app: Any) -> None:
    first = make_app()
    second = make_app(oauth_token_cache_s=0)  # sees the first host's revocation at once
    done = launch(first)
    token, client_id = done["token"], done["client_id"]
    other = second.test_client()
    assert other.get("/fhir/Patient/3", headers=_auth(token["access_token"])).status_code == 200
    refreshed = _refresh(other, token["refresh_token"], client_id)
    assert refreshed.status_code == 200
    new = refreshed.get_json()
    assert other.get("/fhir/Patient/3", headers=_auth(new["access_token"])).status_code == 200
    # the old refresh token, replayed on the first host: the whole family is revoked
    replay = _refresh(done["client"], token["refresh_token"], client_id)
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    assert other.get("/fhir/Patient/3", headers=_auth(new["access_token"])).status_code == 401


def test_a_code_works_once_whichever_host_gets_it(make_app: Any) -> None:
    from tests.smart_auth.test_oauth_fixtures import (
        add_account,
        add_app,
        authorize_params,
        exchange,
        get_code,
        pkce,
    )

    first, second = make_app(), make_app()
    browser = first.test_client()
    account_id = add_account(first, (3, "self"))
    browser.get(f"/_test/sign-in/{account_id}")
    client_id, _ = add_app(first)
    verifier, challenge = pkce()
    query = get_code(browser, authorize_params(client_id, challenge, "launch/patient patient/*.rs"))
    code = query["code"][0]
    assert exchange(second.test_client(), client_id, code, verifier).status_code == 200
    again = exchange(first.test_client(), client_id, code, verifier)
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"
