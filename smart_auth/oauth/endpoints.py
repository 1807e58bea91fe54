"""Token revocation (RFC 7009) and introspection (RFC 7662), as Authlib endpoints.

Revoking an access or refresh token revokes its whole family (the grant it came from), so a
revoked app can neither read nor refresh. Introspection answers for the asking client's own
tokens: ``active``, ``scope``, ``client_id``, ``exp``, the launch context (``patient``) and, when
an id_token was issued, ``iss``, ``sub`` and ``fhirUser`` (SMART App Launch 2.x, "Token
Introspection"); anything else is ``{"active": false}``.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc7009 import RevocationEndpoint  # type: ignore[import-untyped]
from authlib.oauth2.rfc7662 import IntrospectionEndpoint  # type: ignore[import-untyped]

from access.scopes import parse_scopes

from .store import Client, OAuthStore, Token

CLIENT_AUTH_METHODS = ["none", "client_secret_basic", "private_key_jwt"]


def _query(store: OAuthStore, token_string: str, hint: str | None) -> Token | None:
    if hint != "refresh_token":
        row = store.by_access_token_any(token_string)
        if row is not None:
            return Token(row, {"kind": "access_token"})
    row = store.by_refresh_token(token_string)
    if row is not None:
        return RefreshToken(row, {"kind": "refresh_token"})
    return None


class RefreshToken(Token):
    """A refresh token is live while its family is unrevoked, it was not rotated and its
    family has not expired."""

    def is_expired(self) -> bool:
        return bool(self.row.rotated or (self.row.refresh_expires_at or 0) <= time.time())

    def get_expires_in(self) -> int:
        return int((self.row.refresh_expires_at or 0) - self.row.issued_at)


class SmartRevocationEndpoint(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def __init__(self, server: Any, store: OAuthStore) -> None:
        super().__init__(server)
        self.store = store

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _query(self.store, token_string, token_type_hint)

    def revoke_token(self, token: Token, request: Any) -> None:
        self.store.revoke_family(token.row.family)


class SmartIntrospectionEndpoint(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def __init__(self, server: Any, store: OAuthStore, issuer: str, base_url: str) -> None:
        super().__init__(server)
        self.store = store
        self.issuer = issuer
        self.base_url = base_url

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _query(self.store, token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: Token) -> dict[str, Any]:
        row = token.row
        exp = row.refresh_expires_at if isinstance(token, RefreshToken) else row.expires_at
        body: dict[str, Any] = {
            "active": True,
            "scope": row.scope,
            "client_id": row.client_id,
            "token_type": "Bearer" if not isinstance(token, RefreshToken) else "refresh_token",
            "exp": exp,
            "iat": row.issued_at,
        }
        if row.patient_id is not None:
            body["patient"] = str(row.patient_id)
        if row.account_id is not None and parse_scopes(row.scope).openid:
            body["iss"] = self.issuer
            body["sub"] = str(row.account_id)
            if row.fhir_user:
                body["fhirUser"] = f"{self.base_url}/{row.fhir_user}"
        return body
