"""The server's RS256 signing keys and their JWKS (OpenID Connect Core §10.1, RFC 7517).

The keys live in the state database so every worker and host signs with the same one; the
first process that needs one creates it. ``id_token`` values are signed with the newest key
whose ``created_at`` has come (SMART App Launch 2.x, "Scopes for requesting identity data":
RS256 is the required algorithm).

Rotation (``fhir-gateway oauth rotate-signing-key``): a new key is stored, optionally dated
ahead so that clients caching the JWKS see it before anything is signed with it; every
process picks it up within ``RELOAD_S``. The JWKS lists every stored key, so id_tokens signed
with the previous one still verify until it is retired (``--retire-after``: a key superseded
longer ago than that is deleted at the next rotation).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .tables import oauth_key

ALGORITHM = "RS256"
#: Seconds a process signs with the key it loaded before asking the database again.
RELOAD_S = 60.0


def _new_key() -> tuple[str, str]:
    kid = secrets.token_urlsafe(12)
    key = RSAKey.generate_key(2048, {"kid": kid, "use": "sig", "alg": ALGORITHM})
    return kid, key.as_pem(private=True).decode()


class SigningKeys:
    """The current signing key, loaded from the state database (again every ``RELOAD_S``)."""

    def __init__(self, engine: Engine, clock: Any = time.time) -> None:
        self.engine = engine
        self._clock = clock
        self._key: RSAKey | None = None
        self._loaded = 0.0
        self._lock = threading.Lock()

    @property
    def key(self) -> RSAKey:
        with self._lock:
            if self._key is None or time.monotonic() - self._loaded > RELOAD_S:
                self._key = self._load_or_create()
                self._loaded = time.monotonic()
            return self._key

    def _load_or_create(self) -> RSAKey:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(oauth_key)
                .where(oauth_key.c.created_at <= int(self._clock()))
                .order_by(oauth_key.c.created_at.desc(), oauth_key.c.kid)
                .limit(1)
            ).first()
        if row is not None:
            return RSAKey.import_key(row.private_pem, {"kid": row.kid, "use": "sig"})
        kid, pem = _new_key()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    oauth_key.insert().values(
                        kid=kid, private_pem=pem, created_at=int(self._clock())
                    )
                )
        except IntegrityError:  # another worker won the race: use its key
            return self._load_or_create()
        return RSAKey.import_key(pem, {"kid": kid, "use": "sig"})

    def jwks(self) -> dict[str, Any]:
        """The public JWKS published at ``jwks_uri``: every stored key (the current one, keys
        dated ahead, and previous keys not yet retired), so every id_token out there verifies."""
        _ = self.key  # make sure one exists
        with self.engine.connect() as conn:
            rows = conn.execute(select(oauth_key).order_by(oauth_key.c.created_at)).all()
        keys = []
        for row in rows:
            public = RSAKey.import_key(row.private_pem).as_dict(private=False)
            public.update({"kid": row.kid, "use": "sig", "alg": ALGORITHM})
            keys.append(public)
        return {"keys": keys}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims`` (an id_token)."""
        key = self.key
        header = {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def rotate(self, ahead_s: int = 0, retire_after_s: int = 86400) -> tuple[str, list[str]]:
        """Store a new key that signs from ``ahead_s`` seconds on; delete the keys superseded
        more than ``retire_after_s`` seconds ago. Returns the new kid and the retired kids."""
        now = int(self._clock())
        kid, pem = _new_key()
        with self.engine.begin() as conn:
            conn.execute(
                oauth_key.insert().values(kid=kid, private_pem=pem, created_at=now + ahead_s)
            )
            rows = conn.execute(select(oauth_key.c.kid, oauth_key.c.created_at)).all()
            dates = sorted(int(r.created_at) for r in rows)
            retired = []
            for row in rows:
                later = [d for d in dates if d > int(row.created_at)]
                # superseded when the next key started signing; retired once that is old
                if later and later[0] <= now - retire_after_s:
                    retired.append(str(row.kid))
            if retired:
                conn.execute(delete(oauth_key).where(oauth_key.c.kid.in_(retired)))
        return kid, retired
