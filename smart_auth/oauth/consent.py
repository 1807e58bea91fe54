"""What the consent page needs, without a web framework: the patients an account acts for and
the ``fhirUser`` of each choice (the scopes in plain words are ``wording``).

SMART App Launch 2.x, "Scopes and Launch Context": a granted ``patient/`` scope obliges the
server to establish a patient in context (a picker when the person acts for several); the
``fhirUser`` claim names the FHIR resource of the person signed in: ``Patient/{id}`` for a
person's own record, the ``RelatedPerson`` of the guardian link when a guardian acts for a
minor (``mappers.related_person``), else the Patient.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from fhir_gateway.his.connector import HisConnector
from mappers.ids import resource_id
from smart_auth.accounts.service import patient_names
from smart_auth.accounts.tables import identity


@dataclass(frozen=True)
class Identity:
    patient_id: int
    relation: str
    name: str


def identities(state: Engine, his: HisConnector, account_id: int) -> list[Identity]:
    """The HIS patients an account acts for, own record first."""
    with state.connect() as conn:
        rows = conn.execute(
            select(identity.c.his_patient_id, identity.c.relation).where(
                identity.c.account_id == account_id
            )
        ).all()
    names = patient_names(his, [int(r.his_patient_id) for r in rows])
    found = [
        Identity(int(r.his_patient_id), r.relation, names.get(int(r.his_patient_id), ""))
        for r in rows
    ]
    return sorted(found, key=lambda i: (i.relation != "self", i.patient_id))


def fhir_user(his: HisConnector, mine: list[Identity], patient_id: int | None) -> str | None:
    """``fhirUser`` for a grant acting for ``patient_id``."""
    own = next((i.patient_id for i in mine if i.relation == "self"), None)
    if patient_id is None or patient_id == own:
        return f"Patient/{own}" if own is not None else None
    if own is not None:
        link = next((g for g in his.guardian_links(own) if g.ward_id == patient_id), None)
        if link is not None:
            return f"RelatedPerson/{resource_id('RelatedPerson', 'guardian_link', link.id)}"
    return f"Patient/{patient_id}"
