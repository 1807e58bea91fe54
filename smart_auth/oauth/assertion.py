"""``private_key_jwt`` client authentication (RFC 7523 §2.2, §3) as SMART Backend Services
profiles it (IG "Backend Services", "Authenticating to the token endpoint"):

- the assertion is signed RS384 or ES384 with a key of the client's registered JWKS (inline
  or at its JWKS URL, fetched and kept for a few minutes), chosen by ``kid``;
- ``iss`` = ``sub`` = client_id, ``aud`` = the token URL, ``exp`` no more than five minutes
  ahead, ``jti`` never seen before (kept in the state database, so every worker agrees).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests
from authlib.oauth2.rfc6749 import InvalidClientError  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .store import Client, OAuthStore

ALGORITHMS = ["RS384", "ES384"]
#: SMART Backend Services: "exp ... no more than five minutes in the future".
MAX_LIFETIME_S = 300
JWKS_CACHE_S = 300


class JwksCache:
    """Client JWKS documents fetched from their URLs, kept ``JWKS_CACHE_S`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, url: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(url)
        if hit is not None and now - hit[0] < JWKS_CACHE_S:
            return hit[1]
        try:
            response = requests.get(url, timeout=5)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError):
            raise InvalidClientError(description="The client's JWKS URL did not answer") from None
        with self._lock:
            self._cache[url] = (now, document)
        return document  # type: ignore[no-any-return]


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, store: OAuthStore, token_url: str) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.store = store
        self.audience = token_url
        self.jwks_cache = JwksCache()

    def get_audiences(self) -> list[str]:
        return [self.audience]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if client.jwks:
            document = json.loads(client.jwks)
        elif client.jwks_uri:
            document = self.jwks_cache.get(client.jwks_uri)
        else:
            raise InvalidClientError(description="The client has no registered keys")
        try:
            return KeySet.import_key_set(document)
        except (JoseError, ValueError, KeyError, TypeError):
            raise InvalidClientError(description="The client's JWKS is not usable") from None

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ALGORITHMS)
        except (JoseError, ValueError):
            raise InvalidClientError(description="The client assertion is not valid") from None
        claims = token.claims
        self.verify_claims(claims)
        return claims

    def verify_claims(self, claims: Any) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp > time.time() + MAX_LIFETIME_S + self.leeway:
            raise InvalidClientError(description="'exp' must be at most five minutes ahead")
        super().verify_claims(claims)

    def validate_jti(self, claims: Any, jti: Any) -> bool:
        if not isinstance(jti, str) or not jti:
            return False
        return self.store.remember_jti(str(claims["sub"]), jti, int(claims["exp"]))
