"""Grant, withdraw and list shares; the patients a partner may see (acceptance point 13).

Framework-free: the routes module turns HTTP into these calls. A partner sees a patient exactly
while an active share exists: ``consented_patients`` reads the table on every call (no cache),
so a withdrawal counts from the partner's next request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from .tables import share


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def consented_patients(engine: Engine, client_id: str) -> frozenset[int]:
    """The HIS patients with an active share to partner ``client_id``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(share.c.his_patient_id).where(
                share.c.client_id == client_id, share.c.active.is_(True)
            )
        ).scalars()
        return frozenset(int(p) for p in rows)


def grant_share(
    engine: Engine, patient_id: int, client_id: str, *, granted_by: str | None = None
) -> dict[str, Any]:
    """Share ``patient_id``'s record with ``client_id``; an active share is returned as is."""
    with engine.begin() as conn:
        existing = conn.execute(
            select(share).where(
                share.c.client_id == client_id,
                share.c.his_patient_id == patient_id,
                share.c.active.is_(True),
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
