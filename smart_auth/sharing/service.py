"""Grant, withdraw and list shares; the patients a partner may see (acceptance point 13).

Framework-free: the routes module turns HTTP into these calls. A partner sees a patient exactly
while an active share is in force (withdrawn neither, nor before its ``period_start``, nor after
its ``period_end``) and only what it covers (``classes``, ``resources``): ``shares_in_force``
reads the table on every call (no cache) against the clock of that call, so a withdrawal or the
end of a Consent's period counts from the partner's next request, with no job and no write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine

from access.policy import Share
from smart_auth.oauth.tables import oauth_client

from .tables import share


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _words(value: str | None) -> frozenset[str] | None:
    return frozenset(value.split()) if value is not None else None


def _joined(values: Any) -> str | None:
    return " ".join(sorted(values)) if values is not None else None


def shares_in_force(
    engine: Engine, client_id: str, now: dt.datetime | None = None
) -> tuple[Share, ...]:
    """What partner ``client_id`` may see now: one ``Share`` per share in force (active, and
    ``now`` within its period, bounds included)."""
    at = now or _now()
    with engine.connect() as conn:
        rows = conn.execute(
            select(share.c.his_patient_id, share.c.classes, share.c.resources)
            .where(
                share.c.client_id == client_id,
                share.c.active.is_(True),
                or_(share.c.period_start.is_(None), share.c.period_start <= at),
                or_(share.c.period_end.is_(None), share.c.period_end >= at),
            )
            .order_by(share.c.id)
        ).all()
    return tuple(Share(int(r.his_patient_id), _words(r.classes), _words(r.resources)) for r in rows)


def consented_patients(engine: Engine, client_id: str) -> frozenset[int]:
    """The HIS patients with a share in force to partner ``client_id``."""
    return frozenset(s.patient for s in shares_in_force(engine, client_id))


def is_partner(engine: Engine, client_id: str) -> bool:
    """Whether ``client_id`` is a registered, active partner clinic (a backend-services client)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(oauth_client.c.client_id).where(
                oauth_client.c.client_id == client_id,
                oauth_client.c.kind == "partner",
                oauth_client.c.active.is_(True),
            )
        ).first()
    return found is not None


def grant_share(
    engine: Engine,
    patient_id: int,
    client_id: str,
    *,
    granted_by: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    classes: frozenset[str] | None = None,
    resources: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Share ``patient_id``'s record with ``client_id`` from ``start`` to ``end`` (naive UTC,
    both included; None: open), of the ``classes`` types and only the ``resources`` listed (None:
    no such limit). An active share with exactly these terms is returned as is."""
    terms = {
        "period_start": start,
        "period_end": end,
        "classes": _joined(classes),
        "resources": _joined(resources),
    }
    with engine.begin() as conn:
        same = [
            share.c[name].is_(None) if value is None else share.c[name] == value
            for name, value in terms.items()
        ]
        existing = conn.execute(
            select(share).where(
                share.c.client_id == client_id,
                share.c.his_patient_id == patient_id,
                share.c.active.is_(True),
                *same,
            )
        ).first()
        if existing is not None:
            return dict(existing._mapping)
        inserted = conn.execute(
            insert(share).values(
                client_id=client_id,
                his_patient_id=patient_id,
                active=True,
                created=_now(),
                granted_by=granted_by,
                **terms,
            )
        ).inserted_primary_key
        assert inserted is not None
        key = inserted[0]
        row = conn.execute(select(share).where(share.c.id == key)).one()
        return dict(row._mapping)


def get_share(
    engine: Engine, share_id: int, patients: frozenset[int] | None
) -> dict[str, Any] | None:
    """One share, if it belongs to one of ``patients`` (None: any patient)."""
    condition = share.c.id == share_id
    if patients is not None:
        condition &= share.c.his_patient_id.in_(patients)
    with engine.connect() as conn:
        row = conn.execute(select(share).where(condition)).first()
    return dict(row._mapping) if row is not None else None


def withdraw_share(
    engine: Engine, share_id: int, patients: frozenset[int] | None
) -> dict[str, Any] | None:
    """End a share of one of ``patients``; None when there is no such share."""
    condition = share.c.id == share_id
    if patients is not None:
        condition &= share.c.his_patient_id.in_(patients)
    with engine.begin() as conn:
        conn.execute(
            update(share)
            .where(condition, share.c.active.is_(True))
            .values(active=False, withdrawn_at=_now())
        )
        row = conn.execute(select(share).where(condition)).first()
    return dict(row._mapping) if row is not None else None


def list_shares(
    engine: Engine,
    patients: frozenset[int] | None,
    *,
    client_id: str | None = None,
    active: bool | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Shares of ``patients`` (None: all), newest first."""
    query = select(share).order_by(share.c.id.desc()).limit(limit)
    if patients is not None:
        query = query.where(share.c.his_patient_id.in_(patients))
    if client_id is not None:
        query = query.where(share.c.client_id == client_id)
    if active is not None:
        query = query.where(share.c.active.is_(active))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
