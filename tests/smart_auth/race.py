"""Helpers of the concurrency tests: an app over a given state database, and N calls released
together behind a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from smart_auth.session import sign_in
from tests.conftest import app_config

T = TypeVar("T")


def state_app(his_url: str, state_url: str, **extra: Any) -> Flask:
    """An app with authorization on over ``state_url`` (SQLite file or PostgreSQL)."""
    from gateway.app import create_app

    app = create_app(app_config(his_url, dev_open_access=False, state_url=state_url, **extra))

    @app.get("/_test/sign-in/<int:account_id>")
    def _sign_in(account_id: int) -> str:  # test-only route: the accounts pages do this
        sign_in(account_id)
        return "ok"

    return app


def together(n: int, call: Callable[[int], T]) -> list[T]:
    """``call(i)`` for i in 0..n-1, each in its own thread, all released at the same moment."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
