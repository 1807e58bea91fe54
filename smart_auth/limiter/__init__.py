"""Attempt limits every worker and host agrees on, decided atomically in the state database.

An attempt is *reserved* before it is judged (a code or password checked) and *settled* after
(``failed`` or ``passed``). The reservation is one statement (``INSERT ... ON CONFLICT DO
UPDATE ... WHERE ... RETURNING`` on SQLite and PostgreSQL) that counts the failures and the
attempts still being judged and admits the attempt only while their sum is under the rule's
limit and the key is not blocked: N attempts arriving together at a limit of 5 see exactly 5
admitted, never a read-then-write race. A failure is counted in one statement that returns the
new count; the block it earns is set in the same transaction, on the row that statement locked.

Rules (``Rule``): ``limit`` attempts judged (failures plus attempts in flight); failures are
forgotten ``window_s`` after the first of a window unless a block is running (None: only
``clear`` forgets them); ``block_s(failures)`` is how long the n-th failure blocks the key;
``serial`` admits, past the limit, one attempt at a time while not blocked (progressive delays).
An attempt whose worker died before settling is forgotten with its window, and attempts
still pending ``STALE_S`` after the key's last admission are taken for such (judging one takes
seconds), so a key never stays saturated by attempts nobody will settle.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from .tables import attempt_counter

__all__ = ["AttemptLimiter", "Refused", "Rule", "Ticket", "attempt_counter"]


#: Seconds after a key's last admission past which its unsettled attempts no longer count.
STALE_S = 120


def _never(_failures: int) -> int:
    return 0


@dataclass(frozen=True)
class Rule:
    limit: int
    window_s: int | None = None
    block_s: Callable[[int], int] = _never
    serial: bool = False


@dataclass(frozen=True)
class Refused(Exception):
    """The attempt was not admitted; ``key`` refused it, ``blocked`` when a block runs (not
    merely other attempts of that key still being judged)."""

    retry_after: int
    key: str
    blocked: bool


class _NotAdmitted(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Ticket:
    """An admitted attempt, to settle once with ``failed`` or ``passed``."""

    items: tuple[tuple[str, Rule], ...]


class AttemptLimiter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        if dialect not in {"postgresql", "sqlite"}:  # the state database is one of these
            raise ValueError(f"no atomic attempt counting on {dialect}")
        self._postgres = dialect == "postgresql"

    # -- reserving -------------------------------------------------------------------------------

    def reserve(
        self,
        items: Sequence[tuple[str, Rule]],
        now: dt.datetime,
        *,
        seed: dict[str, int] | None = None,
    ) -> Ticket:
        """Admit one attempt under every (key, rule), or none: raises ``Refused`` (the keys
        already counted are rolled back). ``seed`` gives a new key's starting failures."""
        ordered = tuple(sorted(items, key=lambda item: item[0]))  # one lock order everywhere
        try:
            with self.engine.begin() as conn:
                for key, rule in ordered:
                    if not self._admit(conn, key, rule, now, (seed or {}).get(key, 0)):
                        raise _NotAdmitted(key)  # rolls back the keys already counted
        except _NotAdmitted as refused:
            raise self._refusal(refused.key, now) from None
        return Ticket(ordered)

    def _admit(self, conn: Connection, key: str, rule: Rule, now: dt.datetime, seed: int) -> bool:
        c = attempt_counter.c
        unblocked = sa.or_(c.blocked_until.is_(None), c.blocked_until <= now)
        if rule.window_s is None:
            fresh: sa.ColumnElement[bool] = sa.false()
        else:
            fresh = sa.and_(c.window_start <= now - dt.timedelta(seconds=rule.window_s), unblocked)
        stale = c.touched_at.is_(None) | (c.touched_at <= now - dt.timedelta(seconds=STALE_S))
        pending = sa.case((stale, 0), else_=c.pending)
        room = c.failures + pending < rule.limit
        if rule.serial:
            room = sa.or_(room, pending == 0)
        insert = postgresql.insert if self._postgres else sqlite.insert
        stmt = (
            insert(attempt_counter)
            .values(
                key=key,
                pending=1,
                failures=seed,
                window_start=now,
                blocked_until=None,
                touched_at=now,
            )
            .on_conflict_do_update(
                index_elements=[c.key],
                set_={
                    "pending": sa.case((fresh, 1), else_=pending + 1),
                    "touched_at": now,
                    "failures": sa.case((fresh, 0), else_=c.failures),
                    "window_start": sa.case((fresh, now), else_=c.window_start),
                    "blocked_until": sa.case((fresh, sa.null()), else_=c.blocked_until),
                },
                where=sa.or_(fresh, sa.and_(unblocked, room)),
            )
            .returning(c.pending)
        )
        return conn.execute(stmt).first() is not None

    def _refusal(self, key: str, now: dt.datetime) -> Refused:
        with self.engine.connect() as conn:
            until = conn.execute(
                sa.select(attempt_counter.c.blocked_until).where(attempt_counter.c.key == key)
            ).scalar()
        if until is not None and until > now:
            return Refused(max(1, math.ceil((until - now).total_seconds())), key, True)
        return Refused(1, key, False)  # others of this key are being judged right now

    # -- settling --------------------------------------------------------------------------------

    def failed(self, ticket: Ticket, now: dt.datetime) -> dict[str, int]:
        """Count the attempt as a failure under every key; returns each key's failures."""
        c = attempt_counter.c
        counts: dict[str, int] = {}
        with self.engine.begin() as conn:
            for key, rule in ticket.items:
                failures = conn.execute(
                    attempt_counter.update()
                    .where(c.key == key)
                    .values(
                        pending=sa.case((c.pending > 0, c.pending - 1), else_=0),
                        failures=c.failures + 1,
                    )
                    .returning(c.failures)
                ).scalar()
                if failures is None:  # cleared meanwhile
                    continue
                counts[key] = int(failures)
                block = rule.block_s(int(failures))
                if block > 0:
                    until = now + dt.timedelta(seconds=block)
                    conn.execute(
                        attempt_counter.update()
                        .where(
                            c.key == key,
                            sa.or_(c.blocked_until.is_(None), c.blocked_until < until),
                        )
                        .values(blocked_until=until)
                    )
        return counts

    def passed(self, ticket: Ticket, *, reset: bool = False) -> None:
        """The attempt succeeded: it no longer counts; ``reset`` also forgets the failures."""
        c = attempt_counter.c
        values: dict[str, object] = {"pending": sa.case((c.pending > 0, c.pending - 1), else_=0)}
        if reset:
            values.update(failures=0, blocked_until=None)
        with self.engine.begin() as conn:
            for key, _rule in ticket.items:
                conn.execute(attempt_counter.update().where(c.key == key).values(**values))

    # -- request rates -------------------------------------------------------------------------

    def hit(self, key: str, limit: int, window_s: int, now: dt.datetime) -> int:
        """Count one request under ``key`` in a fixed window of ``window_s``: 0 when it is
        within ``limit``, else the seconds until the window ends. One statement."""
        c = attempt_counter.c
        fresh = c.window_start <= now - dt.timedelta(seconds=window_s)
        insert = postgresql.insert if self._postgres else sqlite.insert
        stmt = (
            insert(attempt_counter)
            .values(key=key, pending=0, failures=1, window_start=now, blocked_until=None)
            .on_conflict_do_update(
                index_elements=[c.key],
                set_={
                    "failures": sa.case((fresh, 1), else_=c.failures + 1),
                    "window_start": sa.case((fresh, now), else_=c.window_start),
                },
                where=sa.or_(fresh, c.failures < limit),
            )
            .returning(c.failures)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).first() is not None:
                return 0
            start = conn.execute(sa.select(c.window_start).where(c.key == key)).scalar()
        ends = (start or now) + dt.timedelta(seconds=window_s)
        return max(1, math.ceil((ends - now).total_seconds()))

    # -- administration --------------------------------------------------------------------------

    def clear(self, keys: Sequence[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(attempt_counter.delete().where(attempt_counter.c.key.in_(list(keys))))

    def failures(self, key: str) -> int:
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(attempt_counter.c.failures).where(attempt_counter.c.key == key)
            ).scalar()
        return int(found or 0)
