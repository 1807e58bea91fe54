"""A worker's short memory of access tokens (FHIR_GATEWAY_OAUTH_TOKEN_CACHE_S): a revocation by
another worker is honoured within the cache time, one through this worker's store at once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from smart_auth.oauth.revocations import RedisRevocations
from smart_auth.oauth.store import OAuthStore
from tests.smart_auth.test_oauth_fixtures import launch, oauth_app

__all__ = ["oauth_app"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _worker(app: Flask, cache_s: float, clock: Clock) -> OAuthStore:
    """Another worker's store over the same state database."""
    return OAuthStore(app.extensions["state_engine"], token_cache_s=cache_s, clock=clock)


def _revoke_elsewhere(app: Flask, token: dict[str, Any]) -> None:
    """The patient revokes the app through yet another worker."""
    elsewhere = OAuthStore(app.extensions["state_engine"])
    row = elsewhere.by_access_token(token["access_token"])
    assert row is not None
    elsewhere.revoke_family(row.family)


def test_another_workers_revocation_is_honoured_within_the_cache_time(oauth_app: Flask) -> None:
    token = launch(oauth_app)["token"]
    clock = Clock()
    worker = _worker(oauth_app, 5.0, clock)
    assert worker.by_access_token(token["access_token"]) is not None
    _revoke_elsewhere(oauth_app, token)
    clock.now += 4.9
    assert worker.by_access_token(token["access_token"]) is not None  # still remembered
    clock.now += 0.2
    assert worker.by_access_token(token["access_token"]) is None  # looked up again: revoked
    clock.now += 60
    assert worker.by_access_token(token["access_token"]) is None  # a revoked row is not cached


def test_without_a_cache_every_request_sees_the_revocation(oauth_app: Flask) -> None:
    token = launch(oauth_app)["token"]
    worker = _worker(oauth_app, 0.0, Clock())
    assert worker.by_access_token(token["access_token"]) is not None
    _revoke_elsewhere(oauth_app, token)
    assert worker.by_access_token(token["access_token"]) is None


def test_a_revocation_through_the_same_store_forgets_at_once(oauth_app: Flask) -> None:
    token = launch(oauth_app)["token"]
    worker = _worker(oauth_app, 300.0, Clock())
    row = worker.by_access_token(token["access_token"])
    assert row is not None
    worker.revoke_app(row.account_id, row.client_id)
    assert worker.by_access_token(token["access_token"]) is None


def test_the_served_api_without_redis_remembers_no_token(oauth_app: Flask) -> None:
    """Without the shared revocation counter no worker could tell another host's revocation:
    every token is looked up on every request."""
    store = oauth_app.extensions["smart_oauth"].store
    assert store.token_cache_s == 0.0
    done = launch(oauth_app)
    client, token = done["client"], done["token"]["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/fhir/Patient/3", headers=auth).status_code == 200
    assert client.get("/fhir/Patient/3", headers=auth).status_code == 200  # from memory
    answer = client.post("/oauth/revoke", data={"token": token, "client_id": done["client_id"]})
    assert answer.status_code == 200
    assert client.get("/fhir/Patient/3", headers=auth).status_code == 401


def test_codes_that_expired_unused_are_purged(oauth_app: Flask) -> None:
    import time

    from smart_auth.oauth.tables import oauth_code

    store = oauth_app.extensions["smart_oauth"].store
    values = {
        "client_id": "app",
        "account_id": 1,
        "redirect_uri": "https://app.example/callback",
        "scope": "patient/*.rs",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    store.save_code("fresh", {**values, "expires_at": int(time.time()) + 60})
    with store.engine.begin() as conn:  # left behind by an abandoned launch
        conn.execute(oauth_code.insert().values(code_hash="stale", **values, expires_at=1))
    assert store.purge_expired_codes() == 1
    with store.engine.connect() as conn:
        left = conn.execute(oauth_code.select()).all()
    assert len(left) == 1
    assert store.take_code("fresh", "app") is not None


def test_a_lookup_that_raced_a_revocation_is_not_remembered(oauth_app: Flask) -> None:
    """A request reads the row, this worker revokes, then the request would have filed the
    now stale row: it must not, or the revoking worker itself would honour the token."""
    token = launch(oauth_app)["token"]
    clock = Clock()
    worker = _worker(oauth_app, 300.0, clock)
    engine = oauth_app.extensions["state_engine"]
    real_connect = engine.connect

    class RevokeDuringQuery:
        def __enter__(self) -> Any:
            self.conn = real_connect()
            return self

        def execute(self, *args: Any) -> Any:
            result = self.conn.execute(*args)
            rows = result.all()
            engine.connect = real_connect  # type: ignore[method-assign]
            worker.revoke_family(rows[0].family)  # the revocation lands while the query runs
            return _Rows(rows)

        def __exit__(self, *exc: object) -> None:
            self.conn.close()

    class _Rows:
        def __init__(self, rows: list[Any]) -> None:
            self.rows = rows

        def first(self) -> Any:
            return self.rows[0] if self.rows else None

    engine.connect = lambda: RevokeDuringQuery()  # type: ignore[method-assign]
    try:
        assert worker.by_access_token(token["access_token"]) is not None  # read before revoked
    finally:
        engine.connect = real_connect  # type: ignore[method-assign]
    assert worker.by_access_token(token["access_token"]) is None


# --- with the shared revocation counter (Redis) ------------------------------------------------

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_feed() -> RedisRevocations:
    """A counter of this test's own in the Redis CI provides (skipped where none answers)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable ({type(exc).__name__})")
    return RedisRevocations(REDIS_URL, key=f"test-revocations:{uuid.uuid4().hex}")


def test_with_the_counter_a_revocation_on_another_host_holds_at_once(oauth_app: Flask) -> None:
    token = launch(oauth_app)["token"]["access_token"]
    feed = _redis_feed()
    engine = oauth_app.extensions["state_engine"]
    clock = Clock()
    here = OAuthStore(engine, token_cache_s=300.0, clock=clock, feed=feed)
    there = OAuthStore(engine, token_cache_s=300.0, feed=RedisRevocations(REDIS_URL, feed.key))
    assert here.by_access_token(token) is not None  # counter unset: looked up, not kept
    assert here.by_access_token(token) is not None  # looked up and remembered
    row = there.by_access_token(token)
    assert row is not None
    there.revoke_family(row.family)
    assert here.by_access_token(token) is None  # at once, not after 300 s


def test_a_remembered_token_is_answered_without_the_state_database(oauth_app: Flask) -> None:
    token = launch(oauth_app)["token"]["access_token"]
    feed = _redis_feed()
    store = OAuthStore(oauth_app.extensions["state_engine"], token_cache_s=300.0, feed=feed)
    store.by_access_token(token)
    assert store.by_access_token(token) is not None
    engine = sa.create_engine("sqlite:///file:gone?mode=ro&uri=true")  # no database at all
    store.engine = engine
    assert store.by_access_token(token) is not None  # from memory: the counter is unchanged


def test_while_redis_does_not_answer_every_token_is_looked_up(oauth_app: Flask) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    token = launch(oauth_app)["token"]["access_token"]
    down = RedisRevocations(f"redis://127.0.0.1:{port}/0")
    assert down.generation() is None
    down.bump()  # logged, never raised
    store = OAuthStore(oauth_app.extensions["state_engine"], token_cache_s=300.0, feed=down)
    assert store.by_access_token(token) is not None
    _revoke_elsewhere(oauth_app, token={"access_token": token})
    assert store.by_access_token(token) is None  # nothing was remembered


def test_a_counter_lost_by_redis_is_never_trusted(oauth_app: Flask) -> None:
    token = launch(oauth_app)["token"]["access_token"]
    feed = _redis_feed()
    store = OAuthStore(oauth_app.extensions["state_engine"], token_cache_s=300.0, feed=feed)
    store.by_access_token(token)
    assert store.by_access_token(token) is not None
    feed.client.delete(feed.key)  # Redis restarted empty
    _revoke_elsewhere(oauth_app, token={"access_token": token})
    assert store.by_access_token(token) is None
