"""The fuzz suite's apps and checks: the gateway over a generated HIS on SQLite, PostgreSQL and
MariaDB (the last two skipped with the reason when they do not answer), and what every answer
to hostile input must be: no 5xx, an error in the surface's own format without internals, in
bounded time.

Hypothesis runs derandomized (the examples follow from each test's code, the same on every run)
with a bounded number of examples, so the suite is repeatable in CI and stays within its time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings

from demo.generator import generate
from fhir_gateway.his.sql import make_engine
from tests.conftest import TODAY, app_config, scratch_postgres
from tests.his.test_connector_contract import scratch_mariadb

settings.register_profile(
    "fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Examples per property test and database: the suite's time budget, not its reach (the
#: exhaustive tests beside the properties try every advertised parameter).
EXAMPLES = 60
#: Seconds one answer may take, however hostile the request (2 shared cores in CI).
ANSWER_WITHIN_S = 5.0
PATIENTS = 6
SEED = 3

#: What an error body must never show: a trace, an exception class, SQL, a driver, a path.
INTERNALS = (
    "Traceback",
    'File "',
    ".py",
    "Exception",
    "ValueError",
    "KeyError",
    "TypeError",
    "sqlalchemy",
    "psycopg",
    "pymysql",
    "sqlite3",
    "SELECT ",
    " FROM ",
    "INSERT ",
    "/usr/",
    "/site-packages/",
    "/tmp/",  # noqa: S108 (a marker looked for in bodies, not a file)
    "NUL (0x00)",
)


EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Warning):")


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def fuzz_his(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A small generated HIS on each database the gateway serves."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz-his') / 'his.sqlite'}"
        _generate(url)
        yield url
        return
    scratch = scratch_postgres if request.param == "postgresql" else scratch_mariadb
    with scratch("his_fuzz") as url:
        _generate(url)
        yield url


def _generate(url: str) -> None:
    engine = make_engine(url)
    generate(engine, patients=PATIENTS, seed=SEED, today=TODAY)
    engine.dispose()


@pytest.fixture(scope="module")
def fhir_app(fuzz_his: str) -> Iterator[Flask]:
    from gateway.app import create_app

    app = create_app(app_config(fuzz_his))
    yield app
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()
    app.extensions["his"].engine.dispose()


def timed(call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, asserting it answered within ``ANSWER_WITHIN_S``."""
    started = time.perf_counter()
    answer = call(*args, **kwargs)
    took = time.perf_counter() - started
    assert took < ANSWER_WITHIN_S, f"answered in {took:.1f} s"
    return answer


def no_internals(text: str, sent: str = "") -> None:
    """The body shows none of ``INTERNALS`` (unless the caller sent it: a value echoed in a
    validation message is the caller's own text)."""
    for marker in INTERNALS:
        assert marker not in text or marker in sent, f"{marker!r} in {text[:300]!r}"
    # an exception's class as a trace writes it ("OperationalError: ..."); a page's own
    # "Error: " before a message, for screen readers, is a word, not a class
    for name in EXCEPTION_NAME.findall(text):
        assert name in sent, f"{name!r} in {text[:300]!r}"


def assert_fhir_answer(answer: Any, sent: str) -> None:
    """Not a server error; an error is an OperationOutcome without internals."""
    body = answer.get_data(as_text=True)
    assert answer.status_code < 500, f"{answer.status_code}: {body[:300]}"
    if answer.status_code >= 400:
        document = answer.get_json()
        assert document is not None, body[:300]
        assert document["resourceType"] == "OperationOutcome", body[:300]
        no_internals(body, sent)


def assert_oauth_error(answer: Any, sent: str, codes: frozenset[str]) -> None:
    """An RFC 6749 §5.2 error: 400 or 401, JSON with a known ``error``, never cached."""
    body = answer.get_data(as_text=True)
    assert answer.status_code in (400, 401), f"{answer.status_code}: {body[:300]}"
    document = answer.get_json()
    assert document is not None, body[:300]
    assert document.get("error") in codes, body[:300]
    assert answer.headers.get("Cache-Control") == "no-store"
    no_internals(body, sent)


def oauth_app_on(state_url: str, his_url: str, tmp: Path) -> Flask:
    """An app with authorization on, its state (accounts, clients, codes) at ``state_url``, and a
    test-only route that signs an account in (the accounts pages do it after the password)."""
    from gateway.app import create_app
    from smart_auth.session import sign_in

    app = create_app(
        app_config(
            his_url,
            dev_open_access=False,
            oauth_enabled=True,
            state_url=state_url,
            outbox_dir=str(tmp / "outbox"),
        )
    )

    @app.get("/_test/sign-in/<int:account_id>")
    def _sign_in(account_id: int) -> str:
        sign_in(account_id)
        return "ok"

    return app
