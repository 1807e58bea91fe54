"""A revocation counter every worker and host shares, so a worker's memory of access tokens
never outlives a revocation made anywhere else.

A worker may answer an access token it looked up a moment ago from memory
(``FHIR_GATEWAY_OAUTH_TOKEN_CACHE_S``), but only while it can tell that no token was revoked
since: each revocation, once committed to the state database, increments one counter in Redis,
and a remembered lookup counts only while the counter still holds the value read before that
lookup's query began. Reading the counter is one Redis GET; while Redis does not answer (within
half a second), or has lost the counter, every token is looked up in the state database again.

The counter starts at a random value the first time it is missing, so a Redis that restarted
empty never brings back a value a remembered lookup was stamped with.
"""

from __future__ import annotations

import logging
import secrets
from typing import Protocol

log = logging.getLogger(__name__)

#: Seconds Redis may take to connect or answer before the state database is asked instead.
REDIS_TIMEOUT_S = 0.5
KEY = "fhir-gateway:oauth-revocations"


class RevocationFeed(Protocol):
    def generation(self) -> int | None:
        """The current count of revocations, or None when it cannot be known now."""

    def bump(self) -> None:
        """Tell every worker that a revocation was committed."""


class RedisRevocations:
    """The shared revocation counter in Redis (``FHIR_GATEWAY_REDIS_URL``)."""

    def __init__(self, url: str, key: str = KEY) -> None:
        import redis

        self.key = key
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError, ValueError)
        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )

    def generation(self) -> int | None:
        try:
            raw = self.client.get(self.key)
            if raw is None:  # never set, or Redis restarted empty: start somewhere new
                self.client.set(self.key, secrets.randbits(62), nx=True)
                return None
            return int(raw)  # type: ignore[arg-type]
        except self._errors:
            return None

    def bump(self) -> None:
        try:
            self.client.incr(self.key)
        except self._errors:
            # Other workers ask Redis before each remembered answer: while it is unreachable
            # they look tokens up; only a Redis reachable by them and not by this worker
            # leaves their memory (at most OAUTH_TOKEN_CACHE_S) unaware of this revocation.
            log.warning("token revocation: Redis did not answer; other workers not told")
