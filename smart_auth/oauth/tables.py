"""State tables of the authorization server (RFC 6749, SMART App Launch 2.x).

Secrets, codes and tokens are never stored as issued: only their SHA-256 digest is kept
(``*_hash`` columns), so a copy of the state database grants nothing. Every lookup a request
makes is one indexed equality on such a digest.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from smart_auth.state import metadata

#: A registered client (RFC 7591 §2 metadata, the fields this server uses). ``kind`` is
#: ``app`` (a SMART app, public or confidential) or ``partner`` (a backend service, F25).
oauth_client = Table(
    "oauth_client",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("client_secret_hash", String(64)),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    #: none | client_secret_basic | private_key_jwt
    Column("auth_method", String(32), nullable=False),
    #: space-separated lists
    Column("redirect_uris", Text, nullable=False, default=""),
    Column("scope", Text, nullable=False, default=""),
    Column("origins", Text, nullable=False, default=""),
    Column("launch_uri", Text, nullable=False, default=""),
    #: the client's public keys: a JWKS document inline, or the URL it is published at
    Column("jwks", Text),
    Column("jwks_uri", Text),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Integer, nullable=False),
)

#: RFC 6749 §4.1.2 authorization codes: single use, short-lived, with the PKCE challenge
#: (RFC 7636 §4.4) and the SMART launch context chosen at the consent page.
oauth_code = Table(
    "oauth_code",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("patient_id", Integer),
    Column("fhir_user", String(128)),
    Column("nonce", String(256)),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(8), nullable=False),
    Column("auth_time", Integer),
    Column("expires_at", Integer, nullable=False),
)

#: Authorization codes already exchanged (by digest), remembered for a while after use so that
#: a second use is told from a code that never existed (RFC 6749 §4.1.2: deny it and revoke the
#: tokens issued from it). ``reused`` is set by the second use; the first one, having saved its
#: tokens, looks at it once more, so two requests racing with one code both end revoked.
oauth_code_used = Table(
    "oauth_code_used",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("reused", Boolean, nullable=False, default=False),
    Column("forget_at", Integer, nullable=False),
)

#: Issued tokens. One row per access token, with the refresh token issued with it; the
#: ``family`` ties a chain of rotated refresh tokens together (RFC 9700 §4.14.2: a reused
#: refresh token revokes the whole family).
oauth_token = Table(
    "oauth_token",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("access_hash", String(64), nullable=False),
    Column("refresh_hash", String(64)),
    Column("family", String(32), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("account_id", Integer),
    Column("scope", Text, nullable=False),
    Column("patient_id", Integer),
    Column("fhir_user", String(128)),
    Column("issued_at", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False),
    Column("refresh_expires_at", Integer),
    #: the refresh token was exchanged for a newer one (using it again is reuse)
    Column("rotated", Boolean, nullable=False, default=False),
    Column("revoked", Boolean, nullable=False, default=False),
)
Index("ix_oauth_code_expires", oauth_code.c.expires_at)
Index("ix_oauth_code_used_forget", oauth_code_used.c.forget_at)
Index("ix_oauth_token_access", oauth_token.c.access_hash, unique=True)
Index("ix_oauth_token_refresh", oauth_token.c.refresh_hash, unique=True)
Index("ix_oauth_token_family", oauth_token.c.family)
Index("ix_oauth_token_account", oauth_token.c.account_id)

#: EHR launch values (SMART App Launch, "EHR launch"): opaque, bound to one account and the
#: patient active in the portal when it launched the app. ``scope`` is set only for a launch a
#: confidential client started itself on the back channel with a live grant of the account (the
#: portal switching identity): the scope the person already approved for that client, which the
#: authorization request with this launch may have without asking again.
oauth_launch = Table(
    "oauth_launch",
    metadata,
    Column("launch_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("patient_id", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False),
    Column("scope", Text, nullable=True),
)

#: ``jti`` values of client assertions already seen (RFC 7523 §3 item 7), kept until they
#: expire.
oauth_jti = Table(
    "oauth_jti",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Integer, nullable=False),
)

#: The server's own signing keys (id_token, RS256), shared by every worker and host.
oauth_key = Table(
    "oauth_key",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", Integer, nullable=False),
)
