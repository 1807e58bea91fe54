"""A partner (system level) reads what a patient shared with it and never writes, whatever its
registration's scopes say: create, update and delete are refused before any scope is read."""

from __future__ import annotations

import pytest

from access.errors import Forbidden
from access.policy import WRITES, AccessPolicy, Grant
from access.scopes import parse_scopes


def partner(scopes: str) -> Grant:
    return Grant(
        subject="partner-clinic",
        patients=None,
        scopes=parse_scopes(scopes),
        levels=frozenset({"system"}),
    )


@pytest.mark.parametrize("interaction", sorted(WRITES))
def test_a_partner_with_every_permission_never_writes(interaction: str) -> None:
    policy = AccessPolicy("test")
    grant = partner("system/*.cruds")
    assert policy.decide(grant, "DocumentReference", "read") is not None
    with pytest.raises(Forbidden):
        policy.decide(grant, "DocumentReference", interaction)


def test_a_patient_with_a_write_scope_may_write_in_their_compartment() -> None:
    policy = AccessPolicy("test")
    grant = Grant(
        subject="patient",
        patients=frozenset({7}),
        scopes=parse_scopes("patient/DocumentReference.cu"),
        levels=frozenset({"patient"}),
    )
    assert policy.decide(grant, "DocumentReference", "create").patients == frozenset({7})
    with pytest.raises(Forbidden):
        policy.decide(grant, "DocumentReference", "delete")
