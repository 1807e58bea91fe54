"""Per-address request rate limits on the endpoints that take credentials.

``POST /oauth/token``, ``POST /auth/result-access`` (and its page ``POST /result-access``) and
``POST /account/login`` accept at most
``auth_rate_limit`` requests per client address per ``auth_rate_window_s`` (a fixed window),
counted where every worker and host sees the same count: in Redis when ``redis_url`` is set
(the ``limits`` package, whose Redis counter is one atomic script), otherwise (and while
Redis does not answer) in the state database (``AttemptLimiter.hit``: one ``INSERT ... ON
CONFLICT DO UPDATE ... RETURNING``). More answer 429 with ``Retry-After`` (RFC 6585 §4)
before any credential is looked at. This sits in front of the attempt limits of each
endpoint (result codes, sign-in), which count failures per national ID, account and address.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any, Protocol

from flask import Flask, Response, jsonify, request

from smart_auth.limiter import AttemptLimiter
from smart_auth.state import shared_engine

log = logging.getLogger(__name__)

#: Seconds Redis may take to connect or answer before the state database counts instead.
REDIS_TIMEOUT_S = 0.5

#: The endpoints counted, by path (POST only).
LIMITED = frozenset({"/oauth/token", "/auth/result-access", "/result-access", "/account/login"})


class RateCounter(Protocol):
    def hit(self, key: str) -> int:
        """Count a request; 0 when allowed, else the seconds to wait."""


class StateRateCounter:
    """Fixed windows in the state database."""

    def __init__(self, limiter: AttemptLimiter, limit: int, window_s: int) -> None:
        self.limiter, self.limit, self.window_s = limiter, limit, window_s

    def hit(self, key: str) -> int:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return self.limiter.hit(f"rate:{key}", self.limit, self.window_s, now)


class RedisRateCounter:
    """Fixed windows in Redis (``limits``: ``FixedWindowRateLimiter`` over ``RedisStorage``).

    Redis is asked with a short timeout; while it does not answer, the state database counts
    (``fallback``), so the limit still holds on every host and no request waits on Redis."""

    def __init__(self, url: str, limit: int, window_s: int, fallback: RateCounter) -> None:
        from limits import RateLimitItemPerSecond
        from limits.storage import RedisStorage
        from limits.strategies import FixedWindowRateLimiter

        self.storage = RedisStorage(
            url,
            key_prefix="fhir-gateway",
            wrap_exceptions=True,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        self.strategy = FixedWindowRateLimiter(self.storage)
        self.item = RateLimitItemPerSecond(limit, window_s)
        self.fallback = fallback

    def hit(self, key: str) -> int:
        from limits.errors import StorageError

        try:
            if self.strategy.hit(self.item, key):
                return 0
            reset = self.strategy.get_window_stats(self.item, key).reset_time
        except StorageError:
            log.warning("rate limit: Redis did not answer; counting in the state database")
            return self.fallback.hit(key)
        return max(1, math.ceil(reset - time.time()))


def counter_for(app: Flask, settings: Any) -> RateCounter | None:
    limit, window = settings.auth_rate_limit, settings.auth_rate_window_s
    if limit <= 0:
        return None
    state = shared_engine(app.extensions, settings.state_url)
    in_state = StateRateCounter(AttemptLimiter(state), limit, window)
    if settings.redis_url:
        return RedisRateCounter(settings.redis_url, limit, window, in_state)
    return in_state


def init_app(app: Flask, settings: Any) -> None:
    counter = counter_for(app, settings)
    if counter is None:
        return
    app.extensions["rate_counter"] = counter

    @app.before_request
    def _rate_limit() -> Response | None:
        if request.method != "POST" or request.path not in LIMITED:
            return None
        wait = counter.hit(f"{request.path}:{(request.remote_addr or '-')[:64]}")
        if not wait:
            return None
        answer = jsonify(
            {"error": "slow_down", "error_description": "Too many requests; try again later"}
        )
        answer.status_code = 429
        answer.headers["Retry-After"] = str(wait)
        answer.headers["Cache-Control"] = "no-store"
        return answer
