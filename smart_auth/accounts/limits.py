"""Bot protection and lockout in the state database, so every worker and host agrees (F3, F6).

* Per-key throttling (``acct:<id>``, ``addr:<ip>``): after ``free`` failures in a window each
  further failure doubles the time before the next attempt is accepted (progressive delay,
  OWASP ASVS V2.2.1 "anti-automation"; no third-party CAPTCHA). Attempts made too early are
  refused without checking the password.
* Account lockout: ``max_failed`` consecutive wrong passwords lock the account until an
  administrator unlocks it (``fhir-gateway accounts unlock``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .tables import account, login_throttle

WINDOW = dt.timedelta(hours=1)
MAX_DELAY = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class ThrottlePolicy:
    free: int = 3
    base_delay_s: int = 2


class Limits:
    def __init__(self, engine: Engine, policy: ThrottlePolicy, max_failed: int) -> None:
        self.engine = engine
        self.policy = policy
        self.max_failed = max_failed

    def retry_after(self, keys: list[str], now: dt.datetime) -> int:
        """Seconds before any of ``keys`` may try again; 0 when all may try now."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(login_throttle.c.blocked_until).where(login_throttle.c.key.in_(keys))
            ).all()
        waits = [(r.blocked_until - now).total_seconds() for r in rows if r.blocked_until]
        return max([0, *[int(w) + 1 for w in waits if w > 0]])

    def record_failure(self, keys: list[str], now: dt.datetime) -> None:
        with self.engine.begin() as conn:
            for key in keys:
                self._fail(conn, key, now)

    def _fail(self, conn: Connection, key: str, now: dt.datetime) -> None:
        t = login_throttle.c
        row = conn.execute(sa.select(login_throttle).where(t.key == key)).first()
        if row is None or row.window_start + WINDOW <= now:
            failures = 1
            if row is None:
                conn.execute(login_throttle.insert().values(key=key, failures=0, window_start=now))
            conn.execute(
                login_throttle.update()
                .where(t.key == key)
                .values(failures=1, window_start=now, blocked_until=None)
            )
        else:
            conn.execute(
                login_throttle.update().where(t.key == key).values(failures=t.failures + 1)
            )
            failures = row.failures + 1
        over = failures - self.policy.free
        if over > 0:
            delay = min(dt.timedelta(seconds=self.policy.base_delay_s * 2 ** (over - 1)), MAX_DELAY)
            conn.execute(
                login_throttle.update().where(t.key == key).values(blocked_until=now + delay)
            )

    def clear(self, keys: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(login_throttle.delete().where(login_throttle.c.key.in_(keys)))

    def wrong_password(self, account_id: int, now: dt.datetime) -> bool:
        """Count a wrong password; True when the account is now locked. One atomic UPDATE, so
        two workers failing at once still count two."""
        t = account.c
        with self.engine.begin() as conn:
            conn.execute(
                account.update().where(t.id == account_id).values(failed_logins=t.failed_logins + 1)
            )
            conn.execute(
                account.update()
                .where(
                    t.id == account_id, t.failed_logins >= self.max_failed, t.locked_at.is_(None)
                )
                .values(locked_at=now)
            )
            locked = conn.execute(sa.select(t.locked_at).where(t.id == account_id)).scalar()
        return locked is not None

    def good_password(self, account_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(account.update().where(account.c.id == account_id).values(failed_logins=0))

    def unlock(self, account_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                account.update()
                .where(account.c.id == account_id)
                .values(failed_logins=0, locked_at=None)
            )
            conn.execute(
                login_throttle.delete().where(login_throttle.c.key == f"acct:{account_id}")
            )
