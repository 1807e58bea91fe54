"""Who may book, as ``AccessPolicy.decide`` and the authorization server see it: SMART v2
``patient/Appointment.c`` (book) and ``.u`` (cancel, move), v1 ``.write`` (both); never a
partner's system grant, whatever its scopes; a reading scope reads only."""

from __future__ import annotations

import pytest

from access.errors import Forbidden
from access.policy import RESULT_CODE, VIEWER, AccessPolicy, Grant
from access.scopes import parse_scopes
from smart_auth.oauth.grantable import grantable, written

POLICY = AccessPolicy("http://gateway.test/fhir")


def grant(scope: str, level: str = "patient", **extra: object) -> Grant:
    return Grant(
        subject="someone",
        patients=frozenset({7}) if level != "system" else None,
        scopes=parse_scopes(scope),
        levels=frozenset({level}),
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("scope", "create", "update"),
    [
        ("patient/Appointment.c", True, False),
        ("patient/Appointment.u", False, True),
        ("patient/Appointment.cu", True, True),
        ("patient/Appointment.write", True, True),
        ("patient/*.write", True, True),
        ("patient/Appointment.rs", False, False),
        ("patient/*.read", False, False),
        ("patient/Consent.cu", False, False),
    ],
)
def test_booking_needs_create_cancelling_update(scope: str, create: bool, update: bool) -> None:
    for interaction, allowed in (("create", create), ("update", update)):
        if allowed:
            decision = POLICY.decide(grant(scope), "Appointment", interaction)
            assert decision.patients == frozenset({7})
        else:
            with pytest.raises(Forbidden):
                POLICY.decide(grant(scope), "Appointment", interaction)


def test_a_partner_never_books_whatever_its_scopes() -> None:
    for scope in ("system/Appointment.cu", "system/*.write", "system/*.*"):
        for interaction in ("create", "update"):
            with pytest.raises(Forbidden):
                POLICY.decide(grant(scope, "system"), "Appointment", interaction)


def test_a_result_code_or_a_viewer_never_books() -> None:
    for reach in (RESULT_CODE, VIEWER):
        with pytest.raises(Forbidden):
            POLICY.decide(grant("patient/*.*", reach=reach), "Appointment", "create")


def test_the_authorization_server_grants_booking_to_patients_and_users_only() -> None:
    registered = "patient/*.rs patient/Appointment.cu user/Appointment.cu system/*.rs"
    assert grantable("patient/Appointment.write", registered).to_string() == (
        "patient/Appointment.cu"
    )
    assert written(grantable("patient/Appointment.write", registered), "x") == (
        "patient/Appointment.cu"
    )
    assert grantable("user/Appointment.c", registered).to_string() == "user/Appointment.c"
    # never honoured for a partner, even if registered
    assert grantable("system/Appointment.cu", f"{registered} system/Appointment.cu").resources == ()
    # nor delete: a patient cancels, the HIS keeps the appointment
    assert grantable("patient/Appointment.d", f"{registered} patient/Appointment.d").resources == ()
