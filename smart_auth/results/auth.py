"""The ``Authenticator`` for result-code tokens (F9), in front of the gateway's own.

A bearer token with the result-code prefix is looked up in ``result_grant``; anything else is
passed to the authenticator it wraps (the SMART bearer tokens, or development access), so the
FHIR API keeps one decision point (``fhir_gateway.access.AccessPolicy``).
"""

from __future__ import annotations

from fhir_gateway.access import Authenticator, Grant, HeaderMap

from .service import TOKEN_PREFIX, ResultAccess


class ResultCodeAuthenticator:
    def __init__(self, results: ResultAccess, inner: Authenticator) -> None:
        self.results = results
        self.inner = inner

    def authenticate(self, headers: HeaderMap) -> Grant | None:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token.startswith(TOKEN_PREFIX):
            return self.results.grant_for(token)
        return self.inner.authenticate(headers)
