"""One-time codes and links: single-use, short-lived, attempt-limited, stored as keyed digests.

OWASP ASVS V2.7 (out-of-band verifiers): a code expires (V2.7.2), is used once (V2.7.3), and
only its HMAC-SHA-256 under the gateway's secret is kept, so a copy of the state database does
not reveal a code still in flight.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .tables import one_time_code

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a code: ``ok`` with what it confirmed, or why not."""

    ok: bool
    account_id: int | None = None
    target: str | None = None
    #: "" | wrong | expired | exhausted | missing
    reason: str = ""


class CodeStore:
    def __init__(self, engine: Engine, secret: bytes) -> None:
        self.engine = engine
        self.secret = secret

    def digest(self, code: str) -> str:
        return hmac.new(self.secret, code.encode(), hashlib.sha256).hexdigest()

    def issue(
        self,
        account_id: int,
        purpose: str,
        now: dt.datetime,
        ttl: dt.timedelta,
        *,
        digits: int | None = None,
        target: str | None = None,
    ) -> str:
        """A fresh code (``digits`` long) or link token; earlier ones for the purpose die."""
        if digits:
            code = "".join(secrets.choice("0123456789") for _ in range(digits))
        else:
            code = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                one_time_code.update()
                .where(one_time_code.c.account_id == account_id)
                .where(one_time_code.c.purpose == purpose)
                .where(one_time_code.c.used_at.is_(None))
                .values(used_at=now)
            )
            conn.execute(
                one_time_code.insert().values(
                    account_id=account_id,
                    purpose=purpose,
                    code_hash=self.digest(code),
                    target=target,
                    expires_at=now + ttl,
                    attempts=0,
                )
            )
        return code

    def check(self, account_id: int, purpose: str, code: str, now: dt.datetime) -> Checked:
        """Check a short code typed by the person: each try counts, the fifth wrong one kills it."""
        t = one_time_code.c
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(one_time_code)
                .where(t.account_id == account_id, t.purpose == purpose, t.used_at.is_(None))
                .order_by(t.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return Checked(False, reason="missing")
            if row.expires_at <= now:
                return Checked(False, reason="expired")
            if row.attempts >= MAX_ATTEMPTS:
                return Checked(False, reason="exhausted")
            if not hmac.compare_digest(row.code_hash, self.digest(code.strip())):
                # the increment is conditional so concurrent workers cannot exceed the limit
                conn.execute(
                    one_time_code.update()
                    .where(t.id == row.id, t.attempts < MAX_ATTEMPTS)
                    .values(attempts=t.attempts + 1)
                )
                left = MAX_ATTEMPTS - row.attempts - 1
                return Checked(False, reason="wrong" if left > 0 else "exhausted")
            used = conn.execute(
                one_time_code.update()
                .where(t.id == row.id, t.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount != 1:
                return Checked(False, reason="missing")
            return Checked(True, account_id=row.account_id, target=row.target)

    def redeem_link(self, purpose: str, token: str, now: dt.datetime) -> Checked:
        """Redeem an emailed link token (long and random, so found by its digest)."""
        t = one_time_code.c
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(one_time_code).where(
                    t.code_hash == self.digest(token), t.purpose == purpose
                )
            ).first()
            if row is None or row.used_at is not None:
                return Checked(False, reason="missing")
            if row.expires_at <= now:
                return Checked(False, reason="expired")
            used = conn.execute(
                one_time_code.update()
                .where(t.id == row.id, t.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount != 1:
                return Checked(False, reason="missing")
            return Checked(True, account_id=row.account_id, target=row.target)
