"""Identities an account acts for (F8): its own HIS patient and the minors in its care.

A ward is added by national ID and kept only when the HIS holds a current guardian link
(``HisConnector.guardian_links`` of the account's own patient, ``valid_to`` empty or not past).
The authorization server offers these at launch (SMART App Launch, patient picker).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .service import AccountService, valid_national_id
from .tables import identity

#: Digits of a national ID the identities page shows; the rest (birth date, sex) stays hidden.
SHOWN_DIGITS = 4


@dataclass(frozen=True)
class Identity:
    id: int
    his_patient_id: int
    relation: str
    name: str
    #: M | F | U, as the HIS holds it
    sex: str = "U"
    birth_date: dt.date | None = None
    #: the national ID's last ``SHOWN_DIGITS`` digits only
    last_digits: str = ""
    #: when the hospital's records confirmed the link (own record: at activation)
    verified_at: dt.datetime | None = None

    def age(self, today: dt.date) -> int | None:
        born = self.birth_date
        if born is None:
            return None
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def masked(self) -> str:
        """The national ID as the page shows it: dots, then its last digits."""
        return "\u2022" * 7 + self.last_digits if self.last_digits else ""


def list_identities(svc: AccountService, account_id: int) -> list[Identity]:
    """The account's identities with what the HIS holds of each (name, sex, birth date, the
    national ID's last digits), read through the connector."""
    with svc.state.connect() as conn:
        rows = conn.execute(
            sa.select(identity)
            .where(identity.c.account_id == account_id)
            .order_by(identity.c.relation.desc(), identity.c.id)
        ).all()
    ids = [int(r.his_patient_id) for r in rows]
    found = svc.his.read_many("Patient", [("patient", i) for i in ids], None) if ids else []
    records = {int(r["id"]): r for _, r in found}
    listed = []
    for r in rows:
        person = records.get(int(r.his_patient_id))
        if person is None:
            listed.append(
                Identity(r.id, r.his_patient_id, r.relation, "", verified_at=r.verified_at)
            )
            continue
        born = person.get("birth_date")
        listed.append(
            Identity(
                r.id,
                r.his_patient_id,
                r.relation,
                f"{person['given']} {person['family']}",
                sex=person["gender"] if person.get("gender") in ("M", "F") else "U",
                birth_date=born if isinstance(born, dt.date) else None,
                last_digits=str(person.get("national_id") or "")[-SHOWN_DIGITS:],
                verified_at=r.verified_at,
            )
        )
    return listed


def own_patient(svc: AccountService, account_id: int) -> int | None:
    with svc.state.connect() as conn:
        value = conn.execute(
            sa.select(identity.c.his_patient_id).where(
                identity.c.account_id == account_id, identity.c.relation == "self"
            )
        ).scalar()
    return int(value) if value is not None else None


def add_ward(svc: AccountService, account_id: int, national_id: str) -> str:
    """ "" when added; else bad_national_id | not_guardian | already."""
    national_id = national_id.strip()
    if not valid_national_id(svc.policy.national_id_kind, national_id):
        return "bad_national_id"
    me = own_patient(svc, account_id)
    ward = svc.his_patient(national_id)
    if me is None or ward is None:
        return "not_guardian"
    today = svc.clock().date()
    if not any(g.ward_id == ward.id and g.current(today) for g in svc.his.guardian_links(me)):
        return "not_guardian"
    with svc.state.begin() as conn:
        exists = conn.execute(
            sa.select(identity.c.id).where(
                identity.c.account_id == account_id, identity.c.his_patient_id == ward.id
            )
        ).first()
        if exists is not None:
            return "already"
        conn.execute(
            identity.insert().values(
                account_id=account_id,
                his_patient_id=ward.id,
                relation="guardian",
                verified_at=svc.clock(),
            )
        )
    return ""


def remove_ward(svc: AccountService, account_id: int, identity_id: int) -> bool:
    """Remove a ward; the account's own identity cannot be removed."""
    with svc.state.begin() as conn:
        done = conn.execute(
            identity.delete().where(
                identity.c.id == identity_id,
                identity.c.account_id == account_id,
                identity.c.relation == "guardian",
            )
        )
    return done.rowcount == 1


def own_record(svc: AccountService, account_id: int) -> Mapping[str, Any] | None:
    """What the HIS holds of the account's own person (name, birth date, address), read
    through the connector; None when the account has no own identity or the HIS has no row."""
    with svc.state.connect() as conn:
        own = conn.execute(
            sa.select(identity.c.his_patient_id).where(
                identity.c.account_id == account_id, identity.c.relation == "self"
            )
        ).first()
    if own is None:
        return None
    found = svc.his.read_many("Patient", [("patient", int(own.his_patient_id))], None)
    return found[0][1] if found else None
