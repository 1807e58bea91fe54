"""Attempt limits hold when the attempts arrive together.

N attempts released at the same moment (a barrier, one thread each, through the app's test
client) against a limit of 5: exactly 5 are judged, every other one is refused 429 with a
Retry-After, on SQLite and on PostgreSQL, over several rounds (each round a new national ID and
address). The limiter's own statements are raced directly too, with more threads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from smart_auth.limiter import STALE_S, AttemptLimiter, Refused, Rule
from smart_auth.state import create_state, make_state_engine
from tests.conftest import scratch_postgres
from tests.smart_auth.race import state_app, together
from tests.smart_auth.test_results_code import bulletin

__all__ = ["bulletin"]

LIMIT = 5
N = 12
ROUNDS = 6

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with ExitStack() as stack:
        if request.param == "postgresql":
            yield stack.enter_context(scratch_postgres("limits_race"))
        else:
            yield f"sqlite:///{tmp_path / 'state.sqlite'}"


@pytest.fixture
def results_app(sqlite_his: str, state_url: str) -> Iterator[Flask]:
    app = state_app(sqlite_his, state_url, results_max_attempts=LIMIT)
    yield app
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_result_code_attempts_arriving_together_judge_exactly_the_limit(
    results_app: Flask, bulletin: dict[str, Any]
) -> None:
    judged_by_round = []
    for round_ in range(ROUNDS):
        # per national ID: many addresses, one national ID
        clients = [results_app.test_client() for _ in range(N)]
        nid_answers = together(
            N,
            lambda i, r=round_, c=clients: c[i].post(
                "/auth/result-access",
                data={"code": _wrong(bulletin["access_code"]), "national_id": f"{r + 1}" * 13},
                environ_base={"REMOTE_ADDR": f"10.{r}.1.{i}"},
            ),
        )
        # per address: many national IDs, one address
        addr_answers = together(
            N,
            lambda i, r=round_, c=clients: c[i].post(
                "/auth/result-access",
                data={"code": "123456", "national_id": f"9{r}{i:02d}" + "0" * 9},
                environ_base={"REMOTE_ADDR": f"10.{r}.2.1"},
            ),
        )
        for answers in (nid_answers, addr_answers):
            codes = [a.status_code for a in answers]
            judged_by_round.append(codes.count(400))
            assert codes.count(400) == LIMIT, (round_, codes)
            assert codes.count(429) == N - LIMIT, (round_, codes)
            for answer in answers:
                if answer.status_code == 429:
                    assert int(answer.headers["Retry-After"]) >= 1
        # and the right code is refused now: the national ID is blocked for the block time
        blocked = results_app.test_client().post(
            "/auth/result-access",
            data={"code": bulletin["access_code"], "national_id": f"{round_ + 1}" * 13},
            environ_base={"REMOTE_ADDR": f"10.{round_}.3.1"},
        )
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 60
    assert judged_by_round == [LIMIT] * (2 * ROUNDS)


def test_the_limiter_admits_exactly_the_limit_of_many_threads(state_url: str) -> None:
    engine = make_state_engine(state_url, pool_size=20)
    create_state(engine)
    limiter = AttemptLimiter(engine)
    rule = Rule(limit=LIMIT, window_s=900, block_s=lambda f: 900 if f >= LIMIT else 0)
    now = dt.datetime(2026, 12, 1, 12, 0)
    try:
        for round_ in range(ROUNDS):
            key = f"test:{round_}"

            def attempt(i: int, key: str = key) -> str:
                try:
                    ticket = limiter.reserve([(key, rule), (f"{key}:{i % 3}", rule)], now)
                except Refused:
                    return "refused"
                limiter.failed(ticket, now)
                return "judged"

            outcomes = together(16, attempt)
            assert outcomes.count("judged") == LIMIT, (round_, outcomes)
            assert limiter.failures(key) == LIMIT
            with pytest.raises(Refused) as refused:
                limiter.reserve([(key, rule)], now + dt.timedelta(seconds=10))
            assert refused.value.blocked
            assert refused.value.retry_after == 890
            # the block ends, and with it the window: the key is fresh
            later = now + dt.timedelta(seconds=901)
            limiter.passed(limiter.reserve([(key, rule)], later))
            assert limiter.failures(key) == 0
    finally:
        engine.dispose()


def test_attempts_nobody_settles_stop_counting_after_a_while(state_url: str) -> None:
    """A worker that died while judging leaves its attempts pending: they hold the key only
    for ``STALE_S`` after its last admission, and an admission's failures still count."""
    engine = make_state_engine(state_url)
    create_state(engine)
    limiter = AttemptLimiter(engine)
    rule = Rule(limit=LIMIT)  # never forgotten by a window: only staleness frees it
    now = dt.datetime(2026, 12, 1, 12, 0)
    try:
        limiter.failed(limiter.reserve([("stale", rule)], now), now)
        for _ in range(LIMIT - 1):
            limiter.reserve([("stale", rule)], now)  # never settled
        with pytest.raises(Refused) as refused:
            limiter.reserve([("stale", rule)], now + dt.timedelta(seconds=STALE_S - 1))
        assert not refused.value.blocked
        later = now + dt.timedelta(seconds=STALE_S + 1)
        for _ in range(LIMIT - 1):
            limiter.failed(limiter.reserve([("stale", rule)], later), later)
        assert limiter.failures("stale") == LIMIT
        with pytest.raises(Refused):
            limiter.reserve([("stale", rule)], later + dt.timedelta(seconds=STALE_S + 1))
    finally:
        engine.dispose()
