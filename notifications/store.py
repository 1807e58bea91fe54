"""The notifications' state: events recorded once, deliveries claimed once, the change feed's
cursors, preferences and the hospital's list of undeliverable messages.

Exactly once per event and channel: an event and its deliveries are inserted in one
transaction, and the event's unique ``key`` makes a second insert (another worker, another
host, the same change read again) fail as a whole. A delivery is then sent by whoever claims
it: a conditional UPDATE from ``pending`` (or from ``sending`` whose lease ran out: its worker
died) to ``sending``, which one claimant alone can win; ``sent`` is final.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from fhir_gateway.his.connector import ChangePosition
from smart_auth.accounts.i18n import LANGUAGES
from smart_auth.accounts.tables import account, identity
from smart_auth.notifications.tables import (
    notification_cursor,
    notification_delivery,
    notification_event,
    notification_preference,
)

from .events import KINDS, Event

CHANNELS = ("email", "sms")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Preferences:
    language: str
    email: frozenset[str]
    sms: frozenset[str]

    def channels(self, kind: str) -> list[str]:
        return [ch for ch, kinds in (("email", self.email), ("sms", self.sms)) if kind in kinds]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds, and the event it is for."""

    delivery_id: int
    channel: str
    attempts: int
    event: Event


def parse_kinds(raw: str) -> frozenset[str]:
    names = {part.strip() for part in raw.split(",") if part.strip()}
    if "all" in names:
        return frozenset(KINDS)
    unknown = names - set(KINDS)
    if unknown:
        raise ValueError(f"unknown event kinds: {', '.join(sorted(unknown))}")
    return frozenset(names)


def default_preferences(settings: Any) -> Preferences:
    """What a patient who chose nothing is told of, and in which language."""
    return Preferences(
        settings.notify_language,
        parse_kinds(",".join(settings.notify_email_kinds)),
        parse_kinds(",".join(settings.notify_sms_kinds)),
    )


class DeliveryOutcomes:
    """How a delivery is taken and how it ends, for any table of leased deliveries (a
    notification's mail or SMS here, an app's Subscription notification in
    ``subscriptions``): only a delivery
    still ``sending`` under its lease is finished, so a worker whose lease ran out and was
    taken over cannot overwrite the new holder's outcome."""

    engine: Engine
    delivery_table: Table

    def _take(self, conn: Connection, delivery_id: int, lease_s: float) -> bool:
        """Takes the lease on a delivery that is pending, or whose holder's lease ran out;
        False when another worker holds it or it is done."""
        d = self.delivery_table.c
        now = utcnow()
        won = conn.execute(
            update(self.delivery_table)
            .where(
                d.id == delivery_id,
                or_(d.state == "pending", and_(d.state == "sending", d.lease_until < now)),
            )
            .values(
                state="sending",
                attempts=d.attempts + 1,
                lease_until=now + dt.timedelta(seconds=lease_s),
            )
        )
        return bool(won.rowcount == 1)

    def _finish(self, delivery_id: int, **values: object) -> None:
        d = self.delivery_table.c
        with self.engine.begin() as conn:
            conn.execute(
                update(self.delivery_table)
                .where(d.id == delivery_id, d.state == "sending")
                .values(lease_until=None, **values)
            )

    def sent(self, delivery_id: int) -> None:
        self._finish(delivery_id, state="sent", sent_at=utcnow(), last_error=None)

    def retry_later(self, delivery_id: int, error: str) -> None:
        self._finish(delivery_id, state="pending", last_error=error[:200])

    def undeliverable(self, delivery_id: int, error: str) -> None:
        self._finish(delivery_id, state="undeliverable", last_error=error[:200])


class Store(DeliveryOutcomes):
    delivery_table = notification_delivery

    def __init__(self, engine: Engine, defaults: Preferences) -> None:
        self.engine = engine
        self.defaults = defaults

    # --- preferences ---------------------------------------------------------------------

    def preferences(self, patient_id: int) -> Preferences:
        p = notification_preference.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(p.language, p.email_kinds, p.sms_kinds).where(p.patient_id == patient_id)
            ).first()
        if row is None:
            return self.defaults
        return Preferences(row.language, parse_kinds(row.email_kinds), parse_kinds(row.sms_kinds))

    def language(self, patient_id: int) -> str:
        """The language of a patient's messages: the one they chose for them, else the one of
        their own account (chosen at registration), else the deployment's default."""
        p, a, i = notification_preference.c, account.c, identity.c
        with self.engine.connect() as conn:
            chosen = conn.execute(
                select(p.language).where(p.patient_id == patient_id)
            ).scalar_one_or_none()
            if chosen is None:
                chosen = conn.execute(
                    select(a.language)
                    .join_from(identity, account, i.account_id == a.id)
                    .where(i.his_patient_id == patient_id, i.relation == "self")
                    .order_by(a.id)
                    .limit(1)
                ).scalar_one_or_none()
        return str(chosen) if chosen in LANGUAGES else self.defaults.language

    def set_preferences(self, patient_id: int, prefs: Preferences) -> None:
        p = notification_preference.c
        values = {
            "language": prefs.language,
            "email_kinds": ",".join(sorted(prefs.email)),
            "sms_kinds": ",".join(sorted(prefs.sms)),
        }
        with self.engine.begin() as conn:
            done = conn.execute(
                update(notification_preference).where(p.patient_id == patient_id).values(values)
            )
            if done.rowcount == 0:
                conn.execute(
                    insert(notification_preference).values(patient_id=patient_id, **values)
                )

    # --- events --------------------------------------------------------------------------

    def record(self, events: Iterable[Event]) -> list[int]:
        """Record the events not seen before, each with a delivery per channel the patient
        wants for its kind; answers the new deliveries' ids (to be enqueued)."""
        new: list[int] = []
        for event in events:
            channels = self.preferences(event.patient_id).channels(event.kind)
            created: list[int] = []
            try:
                with self.engine.begin() as conn:
                    event_id = conn.execute(
                        insert(notification_event).values(
                            key=event.key,
                            kind=event.kind,
                            patient_id=event.patient_id,
                            resource_type=event.resource_type,
                            resource_id=event.resource_id,
                            detected_at=utcnow(),
                        )
                    ).inserted_primary_key
                    assert event_id is not None
                    for channel in channels:
                        delivery = insert(notification_delivery).values(
                            event_id=event_id[0], channel=channel, state="pending", attempts=0
                        )
                        delivery_id = conn.execute(delivery).inserted_primary_key
                        assert delivery_id is not None
                        created.append(int(delivery_id[0]))
            except IntegrityError:
                continue  # seen before (here or by another worker): its deliveries exist
            new.extend(created)
        return new

    def known(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        e = notification_event.c
        with self.engine.connect() as conn:
            return set(conn.execute(select(e.key).where(e.key.in_(list(keys)))).scalars())

    # --- deliveries ----------------------------------------------------------------------

    def claim(self, delivery_id: int, lease_s: float) -> Claimed | None:
        d, e = notification_delivery.c, notification_event.c
        with self.engine.begin() as conn:
            if not self._take(conn, delivery_id, lease_s):
                return None
            row = conn.execute(
                select(
                    d.channel,
                    d.attempts,
                    e.key,
                    e.kind,
                    e.patient_id,
                    e.resource_type,
                    e.resource_id,
                )
                .join_from(notification_delivery, notification_event, d.event_id == e.id)
                .where(d.id == delivery_id)
            ).one()
        event = Event(row.key, row.kind, row.patient_id, row.resource_type, row.resource_id)
        return Claimed(delivery_id, row.channel, row.attempts, event)

    def lease_left(self, delivery_id: int) -> float | None:
        """Seconds left of the lease on a delivery being sent (0 if it ran out), or None if
        it is not being sent."""
        d = notification_delivery.c
        with self.engine.connect() as conn:
            row = conn.execute(select(d.state, d.lease_until).where(d.id == delivery_id)).first()
        if row is None or row.state != "sending" or row.lease_until is None:
            return None
        return max(0.0, (row.lease_until - utcnow()).total_seconds())

    def skipped(self, delivery_id: int, reason: str) -> None:
        self._finish(delivery_id, state="skipped", last_error=reason[:200])

    def stalled(self, older_than_s: float, limit: int = 500) -> list[int]:
        """Deliveries nobody is working on: pending for a while (their job was lost: a worker
        died between recording and enqueueing) or sending past their lease."""
        d = notification_delivery.c
        now = utcnow()
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(d.id)
                    .join_from(
                        notification_delivery,
                        notification_event,
                        d.event_id == notification_event.c.id,
                    )
                    .where(
                        or_(
                            and_(
                                d.state == "pending",
                                notification_event.c.detected_at
                                < now - dt.timedelta(seconds=older_than_s),
                            ),
                            and_(d.state == "sending", d.lease_until < now),
                        )
                    )
                    .order_by(d.id)
                    .limit(limit)
                ).scalars()
            )

    def undeliverable_list(self, limit: int = 1000) -> list[dict[str, object]]:
        """The hospital's list: what could not be delivered, to whom, why (the provider's
        status, never the message)."""
        d, e = notification_delivery.c, notification_event.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    d.id, d.channel, d.attempts, d.last_error, e.kind, e.patient_id, e.detected_at
                )
                .join_from(notification_delivery, notification_event, d.event_id == e.id)
                .where(d.state == "undeliverable")
                .order_by(d.id)
                .limit(limit)
            ).all()
        return [dict(row._mapping) for row in rows]

    def deliveries(self) -> list[dict[str, object]]:
        d, e = notification_delivery.c, notification_event.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(d.id, d.channel, d.state, d.attempts, e.key, e.kind, e.patient_id)
                .join_from(notification_delivery, notification_event, d.event_id == e.id)
                .order_by(d.id)
            ).all()
        return [dict(row._mapping) for row in rows]

    # --- cursors -------------------------------------------------------------------------

    def cursor(self, source: str) -> ChangePosition | None:
        c = notification_cursor.c
        with self.engine.connect() as conn:
            row = conn.execute(select(c.changed_at, c.his_id).where(c.source == source)).first()
        return None if row is None else (row.changed_at, int(row.his_id))

    def advance(self, source: str, position: ChangePosition) -> None:
        """Move the cursor forward (never back: two workers polling at once both advance)."""
        c = notification_cursor.c
        at, his_id = position
        with self.engine.begin() as conn:
            done = conn.execute(
                update(notification_cursor)
                .where(
                    c.source == source,
                    or_(c.changed_at < at, and_(c.changed_at == at, c.his_id < his_id)),
                )
                .values(changed_at=at, his_id=his_id)
            )
            if done.rowcount == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(notification_cursor).values(
                                source=source, changed_at=at, his_id=his_id
                            )
                        )
                except IntegrityError:
                    pass  # it exists and is already at or past this position
