"""The server's RS256 signing key and its JWKS (OpenID Connect Core §10.1, RFC 7517).

The key lives in the state database so every worker and host signs with the same one; the
first process that needs it creates it. ``id_token`` values are signed with it (SMART App
Launch 2.x, "Scopes for requesting identity data": RS256 is the required algorithm).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .tables import oauth_key

ALGORITHM = "RS256"


class SigningKeys:
    """The current signing key, loaded once per process from the state database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._key: RSAKey | None = None

    @property
    def key(self) -> RSAKey:
        if self._key is None:
            self._key = self._load_or_create()
        return self._key

    def _load_or_create(self) -> RSAKey:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(oauth_key).order_by(oauth_key.c.created_at.desc(), oauth_key.c.kid).limit(1)
            ).first()
        if row is not None:
            return RSAKey.import_key(row.private_pem, {"kid": row.kid, "use": "sig"})
        kid = secrets.token_urlsafe(12)
        key = RSAKey.generate_key(2048, {"kid": kid, "use": "sig", "alg": ALGORITHM})
        pem = key.as_pem(private=True).decode()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    oauth_key.insert().values(kid=kid, private_pem=pem, created_at=int(time.time()))
                )
        except IntegrityError:  # another worker won the race: use its key
            return self._load_or_create()
        return key

    def jwks(self) -> dict[str, Any]:
        """The public JWKS published at ``jwks_uri`` (every stored key, so tokens signed by
        any worker verify)."""
        _ = self.key  # make sure one exists
        with self.engine.connect() as conn:
            rows = conn.execute(select(oauth_key)).all()
        keys = []
        for row in rows:
            public = RSAKey.import_key(row.private_pem).as_dict(private=False)
            public.update({"kid": row.kid, "use": "sig", "alg": ALGORITHM})
            keys.append(public)
        return {"keys": keys}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims`` (an id_token)."""
        header = {"alg": ALGORITHM, "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=[ALGORITHM])
