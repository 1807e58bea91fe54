"""Shares with a person outside (F21): a link, a PIN, a time limit, a narrow read-only grant.

A patient (or a guardian) shares a study, documents or reports, or the whole record with an
email address. The recipient gets one mail with the link, which carries an unguessable id and
nothing else, and the PIN separately (a second mail, or an SMS when a mobile is given). Only
the SHA-256 digest of the link's id and the Argon2id hash of the PIN are kept.

``unlock`` checks a PIN: attempts are counted per share in the state database by the shared
limiter (``smart_auth.limiter``), each admitted atomically before it is judged, so wrong PINs
arriving together never get more than ``max_attempts`` judged; the failure that reaches the
limit locks the share for good and the patient is told (once, whichever worker locks it). A
right PIN mints a bearer token (``sh.`` prefix, ``token_ttl_s``) whose grant (``grant_for``,
kind ``SHARE``) reads exactly what was shared: every use looks the share up again, so a
revocation, a lock or the end of the time limit counts from the next request. Framework-free.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from access.policy import SHARE, Grant
from smart_auth.accounts.passwords import hash_password, verify_password
from smart_auth.limiter import AttemptLimiter, Refused, Rule

from .tables import outside_share, outside_share_token

#: Bearer tokens of share grants carry this prefix, so other validators skip them.
TOKEN_PREFIX = "sh."  # noqa: S105 (a prefix, not a secret)
#: FHIR ids of shares with a person outside: ``share-<n>`` (partner Consents are plain numbers).
ID_PREFIX = "share-"
PIN = re.compile(r"[0-9]{6}")
_LINK = re.compile(r"[A-Za-z0-9_-]{20,64}")
#: The types a share may list one by one: "a study, a document or report".
LISTABLE = frozenset({"DocumentReference", "DiagnosticReport", "ImagingStudy"})
#: Seconds a locked share's limiter key stays blocked (the lock itself is for good).
_LOCK_S = 10 * 365 * 24 * 3600


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _words(value: str | None) -> frozenset[str] | None:
    return frozenset(value.split()) if value is not None else None


class ShareClosed(Exception):
    """The link does not open anything now: unknown, revoked or past its time limit (never
    says which)."""


class ShareLocked(Exception):
    """Too many wrong PINs: the share is locked for good."""


class WrongPin(Exception):
    """The PIN is not the share's."""


@dataclass(frozen=True)
class TryLater(Exception):
    """Other attempts at this share's PIN are being judged right now."""

    retry_after: int


@dataclass(frozen=True, slots=True)
class Unlocked:
    token: str
    expires_in: int
    share_id: int


@dataclass(frozen=True, slots=True)
class NewShare:
    """What the recipient is sent: the link id (only here in clear) and the stored row."""

    link_id: str
    row: dict[str, Any]


def status_of(row: dict[str, Any], now: dt.datetime | None = None) -> str:
    """``active``, ``revoked``, ``locked``, ``expired`` (past its time limit) or ``pending``
    (before its start)."""
    at = now or _now()
    if not row["active"]:
        return "revoked"
    if row["locked_at"] is not None:
        return "locked"
    if row["period_end"] < at:
        return "expired"
    if row["period_start"] > at:
        return "pending"
    return "active"


class OutsideShares:
    def __init__(
        self,
        state: Engine,
        *,
        token_ttl_s: int = 900,
        max_attempts: int = 5,
        notify_locked: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.state = state
        self.token_ttl_s = token_ttl_s
        self.max_attempts = max_attempts
        self.limiter = AttemptLimiter(state)
        #: ``max_attempts`` judged (failures and attempts in flight), then blocked for good
        self.rule = Rule(
            limit=max_attempts,
            window_s=None,
            block_s=lambda failures: _LOCK_S if failures >= max_attempts else 0,
        )
        self.notify_locked = notify_locked

    # --- the patient's side ---------------------------------------------------------------------

    def create(
        self,
        patient: int,
        *,
        email: str,
        pin: str,
        end: dt.datetime,
        start: dt.datetime | None = None,
        phone: str | None = None,
        language: str = "en",
        comment: str | None = None,
        resources: frozenset[str] | None = None,
        studies: frozenset[str] | None = None,
        granted_by: str | None = None,
        owner_email: str | None = None,
        owner_language: str | None = None,
    ) -> NewShare:
        """Store a share; ``resources`` None shares the whole record."""
        if not PIN.fullmatch(pin):
            raise ValueError("a share's PIN is 6 digits")
        link_id = secrets.token_urlsafe(24)
        now = _now()
        with self.state.begin() as conn:
            key = conn.execute(
                insert(outside_share).values(
                    his_patient_id=patient,
                    link_hash=_digest(link_id),
                    pin_hash=hash_password(pin),
                    email=email,
                    phone=phone,
                    language=language,
                    comment=comment,
                    resources=" ".join(sorted(resources)) if resources is not None else None,
                    studies=" ".join(sorted(studies)) if studies else None,
                    created=now,
                    period_start=start or now,
                    period_end=end,
                    active=True,
                    granted_by=granted_by,
                    owner_email=owner_email,
                    owner_language=owner_language,
                )
            ).inserted_primary_key
            assert key is not None
            row = conn.execute(select(outside_share).where(outside_share.c.id == key[0])).one()
        return NewShare(link_id, dict(row._mapping))

    def get(self, share_id: int, patients: frozenset[int] | None) -> dict[str, Any] | None:
        condition = outside_share.c.id == share_id
        if patients is not None:
            condition &= outside_share.c.his_patient_id.in_(patients)
        with self.state.connect() as conn:
            row = conn.execute(select(outside_share).where(condition)).first()
        return dict(row._mapping) if row is not None else None

    def list(self, patients: frozenset[int] | None, *, limit: int = 100) -> list[dict[str, Any]]:
        """Shares of ``patients`` (None: all), newest first."""
        query = select(outside_share).order_by(outside_share.c.id.desc()).limit(limit)
        if patients is not None:
            query = query.where(outside_share.c.his_patient_id.in_(patients))
        with self.state.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def revoke(self, share_id: int, patients: frozenset[int] | None) -> dict[str, Any] | None:
        """End a share of one of ``patients`` and the tokens it minted; None when there is no
        such share."""
        condition = outside_share.c.id == share_id
        if patients is not None:
            condition &= outside_share.c.his_patient_id.in_(patients)
        with self.state.begin() as conn:
            conn.execute(
                update(outside_share)
                .where(condition, outside_share.c.active.is_(True))
                .values(active=False, withdrawn_at=_now())
            )
            row = conn.execute(select(outside_share).where(condition)).first()
            if row is not None:
                conn.execute(
                    delete(outside_share_token).where(outside_share_token.c.share_id == row.id)
                )
        return dict(row._mapping) if row is not None else None

    # --- the recipient's side -------------------------------------------------------------------

    def opened(self, link_id: str) -> dict[str, Any]:
        """The share behind a link if it can be opened now; ``ShareLocked`` or ``ShareClosed``."""
        row = self._by_link(link_id)
        if row is None:
            raise ShareClosed()
        state = status_of(row)
        if state == "locked":
            raise ShareLocked()
        if state != "active":
            raise ShareClosed()
        return row

    def _by_link(self, link_id: str) -> dict[str, Any] | None:
        if not _LINK.fullmatch(link_id):
            return None
        with self.state.connect() as conn:
            row = conn.execute(
                select(outside_share).where(outside_share.c.link_hash == _digest(link_id))
            ).first()
        return dict(row._mapping) if row is not None else None

    def unlock(self, link_id: str, pin: str) -> Unlocked:
        """A token for the share behind ``link_id`` if ``pin`` is its PIN.

        Raises ``ShareClosed``, ``ShareLocked`` (also for the right PIN once locked),
        ``TryLater`` (the limit is taken by attempts being judged now) or ``WrongPin``."""
        row = self.opened(link_id)
        key = f"share:{row['id']}"
        try:
            ticket = self.limiter.reserve([(key, self.rule)], _now())
        except Refused as refused:
            if refused.blocked:
                raise ShareLocked() from None
            raise TryLater(refused.retry_after) from None
        try:
            right = PIN.fullmatch(pin) is not None and verify_password(row["pin_hash"], pin)
        except BaseException:
            self.limiter.passed(ticket)
            raise
        if not right:
            counts = self.limiter.failed(ticket, _now())
            if counts.get(key, 0) >= self.max_attempts:
                self._lock(row["id"])
                raise ShareLocked()
            raise WrongPin()
        self.limiter.passed(ticket)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now()
        with self.state.begin() as conn:
            # the share may have been revoked or locked while the PIN was being checked
            used = conn.execute(
                update(outside_share)
                .where(
                    outside_share.c.id == row["id"],
                    outside_share.c.active.is_(True),
                    outside_share.c.locked_at.is_(None),
                )
                .values(last_used_at=now)
            ).rowcount
            if not used:
                raise ShareClosed()
            conn.execute(
                insert(outside_share_token).values(
                    token_hash=_digest(token),
                    share_id=row["id"],
                    expires_at=now + dt.timedelta(seconds=self.token_ttl_s),
                )
            )
            conn.execute(delete(outside_share_token).where(outside_share_token.c.expires_at < now))
        return Unlocked(token, self.token_ttl_s, int(row["id"]))

    def _lock(self, share_id: int) -> None:
        """Lock the share; the worker whose statement locks it tells the patient."""
        with self.state.begin() as conn:
            locked = conn.execute(
                update(outside_share)
                .where(outside_share.c.id == share_id, outside_share.c.locked_at.is_(None))
                .values(locked_at=_now())
            ).rowcount
            conn.execute(
                delete(outside_share_token).where(outside_share_token.c.share_id == share_id)
            )
            row = conn.execute(select(outside_share).where(outside_share.c.id == share_id)).one()
        if locked and self.notify_locked is not None:
            self.notify_locked(dict(row._mapping))

    def failures(self, share_id: int) -> int:
        return self.limiter.failures(f"share:{share_id}")

    # --- the grant behind a token ---------------------------------------------------------------

    def share_of(self, token: str) -> dict[str, Any] | None:
        """The share a token opens, if the token is unexpired and the share in force."""
        now = _now()
        with self.state.connect() as conn:
            row = conn.execute(
                select(outside_share)
                .join(outside_share_token, outside_share_token.c.share_id == outside_share.c.id)
                .where(
                    outside_share_token.c.token_hash == _digest(token),
                    outside_share_token.c.expires_at > now,
                )
            ).first()
        if row is None or status_of(dict(row._mapping), now) != "active":
            return None
        return dict(row._mapping)

    def grant_for(self, token: str) -> Grant | None:
        row = self.share_of(token)
        return grant_of(row) if row is not None else None


def grant_of(row: dict[str, Any]) -> Grant:
    """The grant of a share in force: the whole record of its patient, or only the listed
    resources (and the files of the listed documents) and the listed studies."""
    resources = _words(row["resources"])
    if resources is None:
        types = None
        studies = None
    else:
        types = frozenset(r.partition("/")[0] for r in resources)
        studies = _words(row["studies"]) or frozenset()
    return Grant(
        subject=f"share:{row['id']}",
        patients=frozenset({int(row["his_patient_id"])}),
        types=types,
        resources=resources,
        studies=studies,
        reach=SHARE,
    )


class ShareTokenValidator:
    """``access.policy.TokenValidator`` of share tokens. The recipient's page opens the study
    in the viewer and downloads its export with the token in the URL, as viewer links do, so it
    may come in the query string (DICOMweb only takes tokens there)."""

    in_query = True

    def __init__(self, shares: OutsideShares) -> None:
        self.shares = shares

    def accepts(self, token: str) -> bool:
        return token.startswith(TOKEN_PREFIX)

    def validate(self, token: str) -> Grant | None:
        return self.shares.grant_for(token)
