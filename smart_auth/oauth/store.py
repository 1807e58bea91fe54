"""Clients, codes, tokens and launches in the state database (no web framework here).

The objects handed to Authlib implement its mixins (``ClientMixin``, ``AuthorizationCodeMixin``,
``TokenMixin``) over rows of ``smart_auth.oauth.tables``. Secrets are compared and looked up by
SHA-256 digest only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin  # type: ignore[import-untyped]
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from access.scopes import parse_scopes

from .grantable import grantable, is_empty, written
from .revocations import RevocationFeed
from .tables import (
    oauth_client,
    oauth_code,
    oauth_code_used,
    oauth_jti,
    oauth_launch,
    oauth_token,
)

#: Client authentication methods (RFC 7591 §2 ``token_endpoint_auth_method``).
AUTH_METHODS = ("none", "client_secret_basic", "private_key_jwt")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def code_family(code_hash: str) -> str:
    """The token family of the tokens issued from an authorization code (by its digest)."""
    return code_hash[:32]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple((text or "").split())


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    """A registered client, as Authlib sees it (RFC 6749 §2)."""

    client_id: str
    name: str
    kind: str
    auth_method: str
    redirect_uris: tuple[str, ...]
    scope: str
    origins: tuple[str, ...]
    launch_uri: str
    jwks: str | None
    jwks_uri: str | None
    secret_hash: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Client:
        return cls(
            client_id=row.client_id,
            name=row.name,
            kind=row.kind,
            auth_method=row.auth_method,
            redirect_uris=_split(row.redirect_uris),
            scope=row.scope,
            origins=_split(row.origins),
            launch_uri=row.launch_uri or "",
            jwks=row.jwks,
            jwks_uri=row.jwks_uri,
            secret_hash=row.client_secret_hash,
        )

    @property
    def public(self) -> bool:
        return self.auth_method == "none"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 §3.1.2.3: without a redirect_uri in the request, only a single registered
        # one may be used. SMART apps always send it.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str | None:
        """What of ``scope`` this client may be granted (SMART scopes narrowed by its
        registration and by what the server honours, written in the form they were asked in);
        None, which Authlib answers with ``invalid_scope``, when that is nothing."""
        granted = grantable(scope or "", self.scope)
        return None if is_empty(granted) else written(granted, scope or "")

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match (RFC 9700 §4.1.3)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.secret_hash:
            return False
        return hmac.compare_digest(digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return self.kind == "app" and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if self.kind == "partner":
            return grant_type == "client_credentials"
        return grant_type in {"authorization_code", "refresh_token"}


@dataclass(frozen=True)
class AuthorizedUser:
    """The person behind a grant and the launch context chosen for it."""

    account_id: int
    patient_id: int | None = None
    fhir_user: str | None = None
    nonce: str | None = None
    auth_time: int | None = None
    #: the scope the person approved (at most what the app asked for)
    scope: str = ""

    def get_user_id(self) -> int:
        return self.account_id


@dataclass(frozen=True)
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    row: Row[Any]

    def get_redirect_uri(self) -> str:
        return str(self.row.redirect_uri)

    def get_scope(self) -> str:
        return str(self.row.scope)

    def get_nonce(self) -> str | None:
        return self.row.nonce  # type: ignore[no-any-return]

    def get_auth_time(self) -> int | None:
        return self.row.auth_time  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Token(TokenMixin):  # type: ignore[misc]
    row: Row[Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def check_client(self, client: Client) -> bool:
        return bool(self.row.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return str(self.row.scope)

    def get_expires_in(self) -> int:
        return int(self.row.expires_at - self.row.issued_at)

    def is_expired(self) -> bool:
        return bool(self.row.expires_at <= time.time())

    def is_revoked(self) -> bool:
        return bool(self.row.revoked)


#: How long a used authorization code is remembered, so that using it again revokes its tokens.
USED_CODE_MEMORY_S = 86_400

#: Expired codes are deleted once every this many codes a process saves (and on its first).
PURGE_EVERY = 100

#: The one query of every API request, built once (building a statement costs more than running
#: it on SQLite).
_BY_ACCESS_HASH = select(oauth_token).where(oauth_token.c.access_hash == bindparam("digest"))


class OAuthStore:
    """Every state-database operation of the authorization server.

    ``token_cache_s`` > 0 lets this process answer an access token it looked up less than that
    many seconds ago from memory (RFC 7662 §4 allows a resource server to cache what it learnt
    about a token). A revocation made through this store empties the cache at once. With a
    ``feed`` (the shared revocation counter, :mod:`.revocations`) a remembered lookup counts
    only while no revocation was made anywhere since it was read, so a revocation by another
    worker or host holds at once; without one it takes effect here within ``token_cache_s``
    (the served app keeps no memory then). Expiry is checked on every use. At most
    ``token_cache_size`` tokens are kept.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        token_cache_s: float = 0.0,
        token_cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        feed: RevocationFeed | None = None,
    ) -> None:
        self.engine = engine
        self.feed = feed
        self.token_cache_s = token_cache_s
        self._cache_size = token_cache_size
        self._clock = clock
        #: digest -> (row, remembered until, the revocation count read before its lookup)
        self._tokens: dict[str, tuple[Row[Any], float, int | None]] = {}
        self._tokens_lock = threading.Lock()
        self._forgotten = 0  # bumped by every revocation: a lookup begun before is not kept
        self._saved_codes = 0

    def forget_tokens(self) -> None:
        """Drop every cached token lookup (after a revocation) and tell the other workers."""
        with self._tokens_lock:
            self._forgotten += 1
            self._tokens.clear()
        if self.feed is not None:
            self.feed.bump()

    # -- clients ---------------------------------------------------------------------------------

    def client(self, client_id: str) -> Client | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(oauth_client).where(
                    oauth_client.c.client_id == client_id, oauth_client.c.active.is_(True)
                )
            ).first()
        return Client.from_row(row) if row is not None else None

    def register_client(
        self,
        *,
        name: str,
        kind: str,
        auth_method: str,
        scope: str,
        redirect_uris: tuple[str, ...] = (),
        origins: tuple[str, ...] = (),
        launch_uri: str = "",
        jwks: str | None = None,
        jwks_uri: str | None = None,
        client_id: str | None = None,
    ) -> tuple[str, str | None]:
        """Register a client; returns its id and, for ``client_secret_basic``, its secret
        (shown once, stored as a digest)."""
        if kind not in {"app", "partner"}:
            raise ValueError("kind is app or partner")
        if auth_method not in AUTH_METHODS:
            raise ValueError(f"auth method is one of {', '.join(AUTH_METHODS)}")
        if kind == "partner" and auth_method != "private_key_jwt":
            raise ValueError("backend services authenticate with private_key_jwt")
        if auth_method == "private_key_jwt" and not (jwks or jwks_uri):
            raise ValueError("private_key_jwt needs a JWKS or a JWKS URL")
        if kind == "app" and not redirect_uris:
            raise ValueError("an app needs at least one redirect URI")
        # hex: a generated id never starts with "-", which a command line would take for an option
        client_id = client_id or secrets.token_hex(16)
        secret = new_secret() if auth_method == "client_secret_basic" else None
        with self.engine.begin() as conn:
            conn.execute(
                oauth_client.insert().values(
                    client_id=client_id,
                    client_secret_hash=digest(secret) if secret else None,
                    name=name,
                    kind=kind,
                    auth_method=auth_method,
                    redirect_uris=" ".join(redirect_uris),
                    scope=parse_scopes(scope).to_string(),
                    origins=" ".join(origins),
                    launch_uri=launch_uri,
                    jwks=jwks,
                    jwks_uri=jwks_uri,
                    active=True,
                    created_at=int(time.time()),
                )
            )
        return client_id, secret

    def clients(self) -> list[Client]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(oauth_client).order_by(oauth_client.c.created_at)).all()
        return [Client.from_row(row) for row in rows]

    def deactivate_client(self, client_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(oauth_client)
                .where(oauth_client.c.client_id == client_id)
                .values(active=False)
            ).rowcount
            conn.execute(
                update(oauth_token).where(oauth_token.c.client_id == client_id).values(revoked=True)
            )
        self.forget_tokens()
        return bool(done)

    def set_client_scope(self, client_id: str, scope: str) -> bool | None:
        """Change what an active client may ask for. Returns None when there is no such client,
        else whether its tokens were revoked: they are when the new scope drops any scope of the
        old one, since a token granted under the old registration may hold what the client may
        no longer have; a scope only widened keeps them."""
        wanted = parse_scopes(scope).to_string()
        if not wanted:
            raise ValueError("the scope is empty")
        with self.engine.begin() as conn:
            row = conn.execute(
                select(oauth_client.c.scope).where(
                    oauth_client.c.client_id == client_id, oauth_client.c.active.is_(True)
                )
            ).first()
            if row is None:
                return None
            narrowed = not set(row.scope.split()) <= set(wanted.split())
            conn.execute(
                update(oauth_client)
                .where(oauth_client.c.client_id == client_id)
                .values(scope=wanted)
            )
            if narrowed:
                conn.execute(
                    update(oauth_token)
                    .where(oauth_token.c.client_id == client_id)
                    .values(revoked=True)
                )
        if narrowed:
            self.forget_tokens()
        return narrowed

    def registered_origins(self) -> frozenset[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(oauth_client.c.origins).where(oauth_client.c.active.is_(True))
            ).all()
        return frozenset(o for row in rows for o in _split(row.origins))

    # -- authorization codes (RFC 6749 §4.1.2: single use, short-lived) --------------------------

    def save_code(self, code: str, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(oauth_code.insert().values(code_hash=digest(code), **values))
        self._saved_codes += 1
        if self._saved_codes % PURGE_EVERY == 1:
            self.purge_expired_codes()

    def purge_expired_codes(self) -> int:
        """Delete the codes that expired unused (an abandoned launch leaves one behind) and
        forget used codes after ``USED_CODE_MEMORY_S``."""
        now = time.time()
        with self.engine.begin() as conn:
            gone = conn.execute(oauth_code.delete().where(oauth_code.c.expires_at <= now))
            conn.execute(oauth_code_used.delete().where(oauth_code_used.c.forget_at <= now))
        return int(gone.rowcount or 0)

    def take_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The code's row, deleted in the same transaction: a code works once, even when two
        requests race for it (only one DELETE removes the row).

        RFC 6749 §4.1.2: a code used more than once is refused and every token issued from it
        is revoked. The first use remembers the code (``oauth_code_used``); a later one marks
        it reused and revokes the code's token family (``code_family``), so its access and
        refresh tokens stop working at once. A code that never existed revokes nothing."""
        key = digest(code)
        now = int(time.time())
        with self.engine.begin() as conn:
            row = conn.execute(select(oauth_code).where(oauth_code.c.code_hash == key)).first()
            gone = 0
            if row is not None:
                gone = conn.execute(
                    oauth_code.delete().where(oauth_code.c.code_hash == row.code_hash)
                ).rowcount
            if gone == 1:
                conn.execute(
                    oauth_code_used.insert().values(
                        code_hash=key, reused=False, forget_at=now + USED_CODE_MEMORY_S
                    )
                )
        if gone != 1:
            self._reused(key)
            return None
        if row is None or row.client_id != client_id or row.expires_at <= now:
            return None
        return AuthorizationCode(row)

    def _reused(self, key: str) -> None:
        """A used code came again: mark it, then revoke its tokens (in that order: see
        ``code_reused``)."""
        with self.engine.begin() as conn:
            marked = conn.execute(
                update(oauth_code_used)
                .where(oauth_code_used.c.code_hash == key)
                .values(reused=True)
            ).rowcount
        if marked:
            self.revoke_family(code_family(key))

    def code_reused(self, code_hash: str) -> bool:
        """Whether a code came again while its first use was issuing tokens. Asked by that first
        use after saving them: a second use that ran before the save found nothing to revoke,
        but had already marked the code."""
        with self.engine.connect() as conn:
            reused = conn.execute(
                select(oauth_code_used.c.reused).where(oauth_code_used.c.code_hash == code_hash)
            ).scalar()
        return bool(reused)

    # -- EHR launch ------------------------------------------------------------------------------

    def create_launch(
        self, client_id: str, account_id: int, patient_id: int, ttl_s: int, scope: str | None = None
    ) -> str:
        """A launch value for ``patient_id``; ``scope``: what the account already approved for
        the client, for a launch the client started itself (see ``oauth_launch``)."""
        launch = secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            conn.execute(
                oauth_launch.insert().values(
                    launch_hash=digest(launch),
                    client_id=client_id,
                    account_id=account_id,
                    patient_id=patient_id,
                    expires_at=int(time.time()) + ttl_s,
                    scope=scope,
                )
            )
        return launch

    def launch(self, launch: str, client_id: str, account_id: int) -> int | None:
        """The patient a launch value is bound to, for this client and account only."""
        found = self.launched(launch, client_id, account_id)
        return None if found is None else found[0]

    def launched(
        self, launch: str, client_id: str, account_id: int
    ) -> tuple[int, str | None] | None:
        """The patient a launch value is bound to and the scope approved beforehand (None: the
        person approves at the consent page), for this client and account only."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(oauth_launch).where(oauth_launch.c.launch_hash == digest(launch))
            ).first()
        if (
            row is None
            or row.client_id != client_id
            or row.account_id != account_id
            or row.expires_at <= time.time()
        ):
            return None
        return int(row.patient_id), row.scope

    # -- tokens ----------------------------------------------------------------------------------

    def save_token(self, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(oauth_token.insert().values(**values))

    def by_access_token(self, access_token: str) -> Row[Any] | None:
        """One indexed lookup, or none while cached: the row of a live (unrevoked, unexpired)
        access token."""
        key = digest(access_token)
        row: Row[Any] | None = None
        generation: int | None = None
        if self.token_cache_s > 0:
            if self.feed is not None:
                generation = self.feed.generation()
            cached = self._tokens.get(key)
            if (
                cached is not None
                and cached[1] > self._clock()
                and (self.feed is None or (generation is not None and cached[2] == generation))
            ):
                row = cached[0]
        if row is None:
            began = self._forgotten
            with self.engine.connect() as conn:
                row = conn.execute(_BY_ACCESS_HASH, {"digest": key}).first()
            if row is None or row.revoked:
                return None
            known = self.feed is None or generation is not None
            if self.token_cache_s > 0 and known:
                with self._tokens_lock:
                    if len(self._tokens) >= self._cache_size:
                        self._tokens.clear()
                    if self._forgotten == began:  # no revocation here since the query began
                        self._tokens[key] = (row, self._clock() + self.token_cache_s, generation)
        if row.expires_at <= time.time():
            return None
        return row

    def by_refresh_token(self, refresh_token: str) -> Row[Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(oauth_token).where(oauth_token.c.refresh_hash == digest(refresh_token))
            ).first()

    def rotate(self, row_id: int, values: dict[str, Any]) -> bool:
        """Use refresh token ``row_id`` once: mark it rotated and save its successor ``values``
        in one transaction; False (nothing saved) when it was already used or revoked.

        One transaction, so no request ever sees the old token used while its successor is not
        yet saved: a concurrent second use either waits on the row (PostgreSQL) or the write
        lock (SQLite) and then finds it rotated, and its family revocation, run after that,
        reaches the successor too (RFC 9700 §4.14.2)."""
        t = oauth_token.c
        with self.engine.begin() as conn:
            done = conn.execute(
                update(oauth_token)
                .where(t.id == row_id, t.rotated.is_(False), t.revoked.is_(False))
                .values(rotated=True)
            ).rowcount
            if done != 1:
                return False
            conn.execute(oauth_token.insert().values(**values))
        return True

    def revoke_family(self, family: str) -> None:
        """Revoke every token of a family; this process forgets its cached lookups at once."""
        with self.engine.begin() as conn:
            matched = conn.execute(
                update(oauth_token).where(oauth_token.c.family == family).values(revoked=True)
            ).rowcount
        if matched:
            self.forget_tokens()

    def find_token(self, token: str) -> Row[Any] | None:
        """An access or refresh token's row (RFC 7009 §2.1, RFC 7662 §2.1)."""
        return self.by_access_token_any(token) or self.by_refresh_token(token)

    def by_access_token_any(self, token: str) -> Row[Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(oauth_token).where(oauth_token.c.access_hash == digest(token))
            ).first()

    def authorized_apps(self, account_id: int) -> list[dict[str, Any]]:
        """The apps holding live grants of an account (a patient's list of authorised apps)."""
        now = int(time.time())
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(oauth_token, oauth_client.c.name)
                .join(oauth_client, oauth_client.c.client_id == oauth_token.c.client_id)
                .where(oauth_token.c.account_id == account_id, oauth_token.c.revoked.is_(False))
                .order_by(oauth_token.c.issued_at)
            ).all()
        apps: dict[str, dict[str, Any]] = {}
        for row in rows:
            live = row.expires_at > now or (row.refresh_expires_at or 0) > now
            if live and not (row.rotated and row.expires_at <= now):
                apps[row.client_id] = {
                    "client_id": row.client_id,
                    "name": row.name,
                    "scope": row.scope,
                    "patient_id": row.patient_id,
                }
        return list(apps.values())

    def revoke_app(self, account_id: int, client_id: str) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(oauth_token)
                .where(
                    oauth_token.c.account_id == account_id,
                    oauth_token.c.client_id == client_id,
                )
                .values(revoked=True)
            ).rowcount
        self.forget_tokens()
        return int(done)

    # -- client assertions (RFC 7523 §3 item 7) --------------------------------------------------

    def remember_jti(self, client_id: str, jti: str, expires_at: int) -> bool:
        """Record an assertion's ``jti``; False when it was seen before (a replay)."""
        now = int(time.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(oauth_jti.delete().where(oauth_jti.c.expires_at < now))
                conn.execute(
                    oauth_jti.insert().values(client_id=client_id, jti=jti, expires_at=expires_at)
                )
        except IntegrityError:
            return False
        return True
