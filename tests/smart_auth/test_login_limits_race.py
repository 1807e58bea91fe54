"""The sign-in lockout and throttle hold when wrong passwords arrive together.

Wrong passwords for one account released at the same moment (a barrier, one thread each),
on SQLite and on PostgreSQL, over several rounds (a new account each round): no more passwords
are checked than the limit, the rest are refused without a check. Through the sign-in form the
per-account throttle (3 free attempts) answers 429 with Retry-After; at the service the lockout
(``accounts_max_failed_logins`` = 5) is raced with the throttle opened wide.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import smart_auth.accounts.service as account_service
from smart_auth.accounts.limits import Limits, Refused, ThrottlePolicy
from smart_auth.accounts.passwords import hash_password
from smart_auth.accounts.service import AccountService
from smart_auth.accounts.tables import account
from tests.conftest import scratch_postgres
from tests.smart_auth.race import state_app, together

PASSWORD = "a right password 1!"
N = 10
ROUNDS = 4
MAX_FAILED = 5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def accounts_app(
    request: pytest.FixtureRequest, sqlite_his: str, tmp_path: Path
) -> Iterator[Flask]:
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
        if request.param == "postgresql":
            url = stack.enter_context(scratch_postgres("login_race"))
        app = state_app(sqlite_his, url, accounts_max_failed_logins=MAX_FAILED)
        yield app
        app.extensions["audit_writer"].close()
        app.extensions["state_engine"].dispose()


class Checks(list[str]):
    """The passwords checked in a round, and the attempts refused before any check."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def clear(self) -> None:
        super().clear()
        self.refused = 0


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Checks:
    """Every password the service checks (the real check runs; it is only counted). A check
    waits until every one of the round's N attempts has been admitted or refused: an attempt
    that arrives after the first ones were judged is rightly admitted one at a time past the
    free ones (the throttle is serial), and a loaded machine would otherwise let a late thread
    arrive that late."""
    seen = Checks()
    lock = threading.Condition()
    real = account_service.verify_password
    real_admit = Limits.admit

    def counting(stored: str | None, password: str) -> bool:
        with lock:
            seen.append(password)
            lock.notify_all()
            lock.wait_for(lambda: len(seen) + seen.refused >= N, timeout=10)
        return real(stored, password)

    def admit(self: Limits, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_admit(self, *args, **kwargs)
        except Refused:
            with lock:
                seen.refused += 1
                lock.notify_all()
            raise

    monkeypatch.setattr(account_service, "verify_password", counting)
    monkeypatch.setattr(Limits, "admit", admit)
    return seen


def _account(app: Flask) -> str:
    name = "u" + secrets.token_hex(4)
    with app.extensions["state_engine"].begin() as conn:
        conn.execute(
            account.insert().values(
                username=name,
                email=f"{name}@example.org",
                full_name=name,
                password_hash=hash_password(PASSWORD),
                email_verified_at=dt.datetime(2026, 11, 1),
                active=True,
                created_at=dt.datetime(2026, 11, 1),
                failed_logins=0,
            )
        )
    return name


def test_wrong_passwords_together_check_at_most_the_lockout_limit(
    accounts_app: Flask, checked: Checks
) -> None:
    svc: AccountService = accounts_app.extensions["accounts"]
    # the throttle opened wide: only the lockout bounds what is checked
    svc.limits = Limits(svc.state, ThrottlePolicy(free=1000), MAX_FAILED)
    for round_ in range(ROUNDS):
        name = _account(accounts_app)
        checked.clear()
        outcomes = together(
            N, lambda i, r=round_, n=name: svc.login(n, f"wrong {i}", f"10.{r}.0.{i}")
        )
        statuses = [o.status for o in outcomes]
        assert len(checked) == MAX_FAILED, (round_, statuses)
        assert statuses.count("bad") == MAX_FAILED - 1, (round_, statuses)
        assert set(statuses) <= {"bad", "locked", "throttled"}
        for outcome in outcomes:
            if outcome.status == "throttled":
                assert outcome.retry_after >= 1
        # locked now, the right password too, on every worker
        assert svc.login(name, PASSWORD, f"10.{round_}.1.1").status == "locked"
        row = svc.find(name)
        assert row.locked_at is not None
        assert row.failed_logins == MAX_FAILED
        assert svc.unlock(name)
        assert svc.login(name, PASSWORD, f"10.{round_}.1.2").status == "ok"


def _csrf(client: Any) -> str:
    page = client.get("/account/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def test_sign_in_form_wrong_passwords_together_judge_only_the_free_attempts(
    accounts_app: Flask, checked: Checks
) -> None:
    free = ThrottlePolicy().free
    for round_ in range(ROUNDS):
        name = _account(accounts_app)
        clients = [accounts_app.test_client() for _ in range(N)]
        tokens = [_csrf(c) for c in clients]
        checked.clear()
        answers = together(
            N,
            lambda i, r=round_, n=name, c=clients, tk=tokens: c[i].post(
                "/account/login",
                data={"login": n, "password": f"wrong {i}", "csrf_token": tk[i]},
                environ_base={"REMOTE_ADDR": f"10.{r}.2.{i}"},
            ),
        )
        codes = [a.status_code for a in answers]
        assert len(checked) == free, (round_, codes)
        assert codes.count(400) == free, (round_, codes)
        assert codes.count(429) == N - free, (round_, codes)
        for answer in answers:
            if answer.status_code == 429:
                assert int(answer.headers["Retry-After"]) >= 1
