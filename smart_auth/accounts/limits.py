"""Bot protection and lockout in the state database, so every worker and host agrees (F3, F6).

Every sign-in attempt is admitted before its password is checked, atomically, by the shared
limiter (``smart_auth.limiter``), under three keys:

* Per-key throttling (``addr:<ip>``, ``acct:<id>``): ``free`` attempts are judged in a window;
  past them one at a time, and each further failure doubles the time before the next attempt is
  admitted (progressive delay, OWASP ASVS V2.2.1 "anti-automation"; no third-party CAPTCHA).
  Attempts made too early are refused without checking the password.
* Account lockout (``lock:<id>``): ``max_failed`` consecutive wrong passwords lock the account
  until an administrator unlocks it (``fhir-gateway accounts unlock``). Wrong passwords arriving
  together never judge more than ``max_failed``: the others are refused while those are judged.

``account.failed_logins`` and ``account.locked_at`` mirror the lockout count for the
administration pages; the limiter's counter decides.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from smart_auth.limiter import AttemptLimiter, Refused, Rule, Ticket

from .tables import account

WINDOW = dt.timedelta(hours=1)
MAX_DELAY = dt.timedelta(minutes=15)
PREFIX = "login:"

__all__ = ["Limits", "Refused", "ThrottlePolicy"]


@dataclass(frozen=True)
class ThrottlePolicy:
    free: int = 3
    base_delay_s: int = 2


def lock_key(account_id: int) -> str:
    return f"{PREFIX}lock:{account_id}"


class Limits:
    def __init__(self, engine: Engine, policy: ThrottlePolicy, max_failed: int) -> None:
        self.engine = engine
        self.policy = policy
        self.max_failed = max_failed
        self.limiter = AttemptLimiter(engine)
        self.throttle = Rule(
            limit=policy.free,
            window_s=int(WINDOW.total_seconds()),
            block_s=self._delay,
            serial=True,
        )
        self.lockout = Rule(limit=max_failed)

    def _delay(self, failures: int) -> int:
        over = failures - self.policy.free
        if over <= 0:
            return 0
        delay = self.policy.base_delay_s * 2 ** min(over - 1, 30)
        return int(min(delay, MAX_DELAY.total_seconds()))

    def admit(
        self, keys: list[str], account_id: int | None, failed_logins: int, now: dt.datetime
    ) -> Ticket:
        """Admit one attempt under the throttle ``keys`` and, for an active account, its
        lockout; raises ``Refused``. ``failed_logins`` seeds a lockout count not kept yet."""
        items = [(PREFIX + key, self.throttle) for key in keys]
        seed = {}
        if account_id is not None:
            items.append((lock_key(account_id), self.lockout))
            seed[lock_key(account_id)] = failed_logins
        return self.limiter.reserve(items, now, seed=seed)

    def failed(self, ticket: Ticket, account_id: int | None, now: dt.datetime) -> bool:
        """Count a wrong password; True when the account is now locked."""
        counts = self.limiter.failed(ticket, now)
        if account_id is None or lock_key(account_id) not in counts:
            return False
        failures = counts[lock_key(account_id)]
        t = account.c
        with self.engine.begin() as conn:
            # failures settled together may write in any order: the mirror only grows here
            conn.execute(
                account.update()
                .where(t.id == account_id, t.failed_logins < failures)
                .values(failed_logins=failures)
            )
            if failures >= self.max_failed:
                conn.execute(
                    account.update()
                    .where(t.id == account_id, t.locked_at.is_(None))
                    .values(locked_at=now)
                )
        return failures >= self.max_failed

    def passed(self, ticket: Ticket, account_id: int | None) -> None:
        """A good password: the run of wrong ones and the delays are over."""
        self.limiter.passed(ticket, reset=True)
        if account_id is not None:
            with self.engine.begin() as conn:
                conn.execute(
                    account.update().where(account.c.id == account_id).values(failed_logins=0)
                )

    def released(self, ticket: Ticket) -> None:
        """The attempt was not judged (an error): it does not count."""
        self.limiter.passed(ticket)

    def locked(self, account_id: int) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(
                account.select()
                .with_only_columns(account.c.locked_at)
                .where(account.c.id == account_id)
            ).scalar()
        return found is not None

    def clear(self, keys: list[str]) -> None:
        self.limiter.clear([PREFIX + key for key in keys])

    def unlock(self, account_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                account.update()
                .where(account.c.id == account_id)
                .values(failed_logins=0, locked_at=None)
            )
        self.limiter.clear([lock_key(account_id), f"{PREFIX}acct:{account_id}"])
