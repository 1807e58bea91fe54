"""The SMART App Launch 2.x authorization server, as Authlib grants and extensions.

Registered objects, not branches (Authlib's layering):

- ``SmartAuthorizationCodeGrant`` (RFC 6749 §4.1) with ``S256CodeChallenge`` (RFC 7636, S256
  only and required for every client: SMART App Launch 2.x, "App Launch: PKCE") and
  ``SmartLaunchRequest`` (``aud`` must be this FHIR server; IG "Obtain authorization code").
- ``RotatingRefreshTokenGrant`` (RFC 6749 §6) with rotation and reuse detection (RFC 9700
  §4.14.2).
- ``BackendServicesGrant`` (RFC 6749 §4.4) authenticated by ``PrivateKeyJwt`` (RFC 7523 §2.2,
  SMART "Backend Services": RS384/ES384, ``exp`` at most five minutes ahead, ``jti`` once).

The token generator answers what SMART's token response needs (IG "Obtain access token":
``patient``, ``need_patient_banner``, ``id_token``); tokens are opaque and stored as digests.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.grants import (  # type: ignore[import-untyped]
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]

from access.scopes import narrow, parse_scopes

from .assertion import PrivateKeyJwt
from .grantable import grantable, is_empty, written
from .keys import SigningKeys
from .store import (
    AuthorizationCode,
    AuthorizedUser,
    Client,
    OAuthStore,
    Token,
    code_family,
    digest,
)


@dataclass(frozen=True)
class OAuthConfig:
    """What the authorization server needs to know about itself (from ``Settings``)."""

    base_url: str
    issuer: str
    token_url: str
    code_lifetime_s: int = 60
    access_token_lifetime_s: int = 3600
    refresh_token_lifetime_s: int = 90 * 86400
    online_refresh_lifetime_s: int = 8 * 3600
    backend_token_lifetime_s: int = 300
    launch_lifetime_s: int = 300


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """RFC 7636 with ``S256`` only, required for confidential clients too (SMART 2.x)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: Any) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("'code_challenge' is required (PKCE S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return str(authorization_code.row.code_challenge)

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return str(authorization_code.row.code_challenge_method)


class SmartLaunchRequest:
    """SMART App Launch 2.x "Obtain authorization code": ``aud`` is required and must be this
    server's FHIR base URL, or no code is issued."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.validate_aud)

    def validate_aud(self, grant: Any, _result: Any) -> None:
        aud = (grant.request.payload.data.get("aud") or "").rstrip("/")
        if aud != self.base_url:
            raise InvalidRequestError("'aud' must be this FHIR server's base URL")


class SmartAuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """RFC 6749 §4.1; codes single use (deleted when read) and short-lived."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "none",
        "client_secret_basic",
        "private_key_jwt",
    ]
    store: OAuthStore
    config: OAuthConfig

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: AuthorizedUser = request.user
        data = request.payload.data
        self.store.save_code(
            code,
            {
                "client_id": request.client.get_client_id(),
                "account_id": user.account_id,
                "redirect_uri": data.get("redirect_uri") or "",
                "scope": user.scope,
                "patient_id": user.patient_id,
                "fhir_user": user.fhir_user,
                "nonce": data.get("nonce"),
                "code_challenge": data["code_challenge"],
                "code_challenge_method": data["code_challenge_method"],
                "auth_time": user.auth_time,
                "expires_at": int(time.time()) + self.config.code_lifetime_s,
            },
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return self.store.take_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Already gone: ``take_code`` deleted it when it was read."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> AuthorizedUser:
        row = authorization_code.row
        return AuthorizedUser(
            account_id=row.account_id,
            patient_id=row.patient_id,
            fhir_user=row.fhir_user,
            nonce=row.nonce,
            auth_time=row.auth_time,
            scope=row.scope,
        )


class RotatingRefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    """RFC 6749 §6 with rotation: each refresh token works once and yields a new one; using a
    rotated one again revokes its whole family (RFC 9700 §4.14.2). The new scope is the same or
    fewer (SMART: "with or without a scope parameter")."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "none",
        "client_secret_basic",
        "private_key_jwt",
    ]
    INCLUDE_NEW_REFRESH_TOKEN = True
    store: OAuthStore

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        row = self.store.by_refresh_token(refresh_token)
        if row is None or row.revoked:
            return None
        if row.rotated:
            self.store.revoke_family(row.family)
            return None
        if (row.refresh_expires_at or 0) <= time.time():
            return None
        return Token(row)

    def _validate_request_client(self) -> Client:
        """RFC 6749 §6: a confidential client authenticates; a public one need not even name
        itself (SMART client-js sends no ``client_id`` when it refreshes), since the refresh
        token identifies its client. Without any client credentials the token's own client is
        taken, if and only if that client is public; otherwise Authlib's authentication runs
        and refuses (``invalid_client``)."""
        request = self.request
        data = request.payload.data
        anonymous = not (
            data.get("client_id")
            or data.get("client_assertion")
            or data.get("client_secret")
            or request.headers.get("Authorization")
        )
        if anonymous:
            row = self.store.by_refresh_token(request.form.get("refresh_token") or "")
            client = self.store.client(row.client_id) if row is not None else None
            if client is not None and client.public and client.check_grant_type(self.GRANT_TYPE):
                request.auth_method = "none"
                return client
        authenticated: Client = super()._validate_request_client()
        return authenticated

    def _validate_token_scope(self, token: Token) -> None:
        scope = self.request.payload.scope
        if scope and not parse_scopes(token.get_scope()).covers(parse_scopes(scope)):
            raise InvalidScopeError()

    def validate_token_request(self) -> None:
        super().validate_token_request()
        token: Token = self.request.refresh_token
        client: Client = self.request.client
        if is_empty(grantable(self._new_scope(token), client.scope)):
            raise InvalidScopeError("Nothing of that scope may be granted to this client")

    def _new_scope(self, refresh_token: Token) -> str:
        """The scope asked for, at most the original grant; the original grant without one."""
        original = refresh_token.get_scope()
        asked = self.request.payload.scope
        if not asked:
            return original
        return written(narrow(parse_scopes(asked), parse_scopes(original)), asked)

    def issue_token(self, user: AuthorizedUser, refresh_token: Token) -> dict[str, Any]:
        token: dict[str, Any] = self.generate_token(
            user=user, scope=self._new_scope(refresh_token), include_refresh_token=True
        )
        return token

    def authenticate_user(self, refresh_token: Token) -> AuthorizedUser:
        row = refresh_token.row
        return AuthorizedUser(
            account_id=row.account_id,
            patient_id=row.patient_id,
            fhir_user=row.fhir_user,
            scope=row.scope,
        )

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Done when the new token is saved (``persist_token``: one transaction with it)."""


class BackendServicesGrant(ClientCredentialsGrant):  # type: ignore[misc]
    """SMART Backend Services: ``client_credentials`` with ``private_key_jwt`` only and
    ``system/`` scopes; no refresh token."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: Client = self.request.client
        allowed = grantable(self.request.payload.scope or "", client.scope)
        if not allowed.resources or allowed.levels != {"system"}:
            raise InvalidScopeError("Ask for system/ scopes this client is registered for")


class SmartAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server over the state database."""

    def __init__(self, store: OAuthStore, keys: SigningKeys, config: OAuthConfig) -> None:
        super().__init__()
        self.store = store
        self.keys = keys
        self.config = config
        self.register_token_generator("default", self.generate_bearer_token)
        self._query_client = store.client
        self._save_token = self.persist_token
        # Authlib instantiates grants per request from their classes: bind this server's store
        # to subclasses of its own, so several apps in one process never share state.
        bound = {"store": store, "config": config}
        code_grant = type("CodeGrant", (SmartAuthorizationCodeGrant,), bound)
        refresh_grant = type("RefreshGrant", (RotatingRefreshTokenGrant,), bound)
        self.register_grant(
            code_grant, [S256CodeChallenge(required=True), SmartLaunchRequest(config.base_url)]
        )
        self.register_grant(refresh_grant)
        self.register_grant(BackendServicesGrant)
        self.register_client_auth_method(
            PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt(store, config.token_url)
        )

    def init_app(self, app: Any, query_client: Any = None, save_token: Any = None) -> None:
        """Authlib reads ``OAUTH2_*`` config here; this server takes its own settings."""

    def generate_bearer_token(
        self,
        grant_type: str,
        client: Client,
        user: AuthorizedUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """RFC 6749 §5.1 plus SMART's launch context and OpenID Connect's ``id_token``."""
        # Every grant type ends here: the scope is narrowed once more to the client's
        # registration and to what the server honours, whatever the grant computed.
        granted = grantable(scope or "", client.scope)
        cfg = self.config
        if grant_type == "client_credentials":
            lifetime = min(cfg.backend_token_lifetime_s, 300)
        else:
            lifetime = cfg.access_token_lifetime_s
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": secrets.token_urlsafe(32),
            "expires_in": lifetime,
            "scope": written(granted, scope or ""),
        }
        if user is None:
            return token
        if include_refresh_token and granted.wants_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(32)
        if user.patient_id is not None:
            token["patient"] = str(user.patient_id)
            token["need_patient_banner"] = True
        if granted.openid:
            token["id_token"] = self.id_token(client, user, granted.fhir_user)
        return token

    def id_token(self, client: Client, user: AuthorizedUser, fhir_user: bool) -> str:
        """OpenID Connect Core §2 ID Token; ``fhirUser`` per SMART "Scopes for requesting
        identity data"."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "sub": str(user.account_id),
            "aud": client.get_client_id(),
            "iat": now,
            "exp": now + self.config.access_token_lifetime_s,
        }
        if user.nonce:
            claims["nonce"] = user.nonce
        if user.auth_time:
            claims["auth_time"] = user.auth_time
        if fhir_user and user.fhir_user:
            claims["fhirUser"] = f"{self.config.base_url}/{user.fhir_user}"
        return self.keys.sign(claims)

    def persist_token(self, token: dict[str, Any], request: Any) -> None:
        """Store the token's digests and context; the response keeps the values."""
        now = int(time.time())
        user: AuthorizedUser | None = request.user
        previous: Token | None = getattr(request, "refresh_token", None)
        refresh = token.get("refresh_token")
        granted = parse_scopes(token["scope"])
        code: AuthorizationCode | None = getattr(request, "authorization_code", None)
        if previous is not None:
            family = previous.row.family
            refresh_expires = previous.row.refresh_expires_at
        else:
            # A code's tokens are one family, which a second use of the code revokes.
            family = code_family(code.row.code_hash) if code is not None else secrets.token_hex(16)
            lifetime = (
                self.config.refresh_token_lifetime_s
                if "offline_access" in granted.refresh
                else self.config.online_refresh_lifetime_s
            )
            refresh_expires = now + lifetime if refresh else None
        values: dict[str, Any] = {
            "access_hash": digest(token["access_token"]),
            "refresh_hash": digest(refresh) if refresh else None,
            "family": family,
            "client_id": request.client.get_client_id(),
            "account_id": user.account_id if user else None,
            "scope": token["scope"],
            "patient_id": user.patient_id if user else None,
            "fhir_user": user.fhir_user if user else None,
            "issued_at": now,
            "expires_at": now + int(token["expires_in"]),
            "refresh_expires_at": refresh_expires,
        }
        if previous is None:
            self.store.save_token(values)
        elif not self.store.rotate(previous.row.id, values):
            # Used by a concurrent request first: reuse (RFC 9700 §4.14.2). The winner's tokens
            # are saved already (rotation and saving are one transaction), so this reaches them.
            self.store.revoke_family(family)
            raise InvalidGrantError()
        if code is not None and self.store.code_reused(code.row.code_hash):
            self.store.revoke_family(family)  # the code came again while these were issued
