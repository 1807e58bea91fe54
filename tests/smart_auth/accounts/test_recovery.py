"""Forgotten password, password and email change, profile (F7) and identities (F8)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his.schema import guardian_link, patient
from smart_auth.accounts import identities, recovery
from tests.conftest import TODAY

from .conftest import Inbox
from .test_service import LINK, PASSWORD, registered, service

RESET = "http://gateway.test/account/reset/"


def test_forgotten_password_link_is_single_use_and_expires(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, clock = service(make_app)
    registered(svc, inbox, adults[0])
    mine = adults[0].email
    recovery.request_reset(svc, "nobody@example.org", RESET)  # silent, nothing sent
    recovery.request_reset(svc, mine, RESET)
    assert inbox.last_to(mine)["Subject"] == "Resetarea parolei"
    token = inbox.link(mine).removeprefix(RESET)
    assert recovery.reset_password(svc, token, "short") == "weak_password"
    assert recovery.reset_password(svc, token, "a brand new passphrase") == ""
    assert recovery.reset_password(svc, token, "another new passphrase") == "bad_link"
    assert svc.login(mine, "a brand new passphrase", "1.1.1.1").status == "ok"
    recovery.request_reset(svc, mine, RESET)
    late = inbox.link(mine).removeprefix(RESET)
    clock.advance(hours=1, seconds=1)
    assert recovery.reset_password(svc, late, "too late passphrase") == "bad_link"


def test_change_password_needs_the_current_one(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, _ = service(make_app)
    me = registered(svc, inbox, adults[1])
    remembered = svc.remember(me)
    assert recovery.change_password(svc, me, "wrong one!!", "new passphrase 1") == "bad_current"
    assert recovery.change_password(svc, me, PASSWORD, "new passphrase 1") == ""
    assert svc.remembered(remembered) is None  # every "remember me" is revoked
    assert svc.login(adults[1].email, "new passphrase 1", "1.1.1.1").status == "ok"


def test_email_change_is_confirmed_by_a_code_sent_to_the_new_address(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    svc, _ = service(make_app)
    me = registered(svc, inbox, adults[2])
    registered(svc, inbox, adults[3])
    assert recovery.request_email_change(svc, me, adults[3].email) == "taken"
    assert recovery.request_email_change(svc, me, "new@example.org") == ""
    code = inbox.code("new@example.org")
    assert recovery.confirm_email_change(svc, me, "000000" if code != "000000" else "1") == (
        "bad_code"
    )
    assert svc.find(adults[2].email) is not None  # unchanged until confirmed
    assert recovery.confirm_email_change(svc, me, code) == ""
    row = svc.get(me)
    assert row is not None
    assert row.email == "new@example.org"
    assert recovery.confirm_email_change(svc, me, code) == "bad_code"  # single use
    assert recovery.update_profile(svc, me, "not a phone", "pl") == "bad_phone"
    assert recovery.update_profile(svc, me, "+48 600 100 200", "pl") == ""
    row = svc.get(me)
    assert row is not None
    assert (row.phone, row.language) == ("+48 600 100 200", "pl")


@pytest.fixture(scope="session")
def family(sqlite_his: str) -> tuple[Any, Any, Any]:
    """(guardian, a ward of theirs, someone who is not) from the test HIS, CNP deployment; the
    guardian has an email address on file (self-registration mails it)."""
    engine = sa.create_engine(sqlite_his)
    g, p, me = guardian_link.c, patient.alias("ward"), patient.alias("guardian")
    with engine.connect() as conn:
        link = conn.execute(
            sa.select(g.guardian_id, g.ward_id)
            .join(p, p.c.id == g.ward_id)
            .join(me, me.c.id == g.guardian_id)
            .where(me.c.email.is_not(None), me.c.national_id_kind == "CNP")
            .where(sa.or_(g.valid_to.is_(None), g.valid_to >= TODAY))
            .where(p.c.national_id_kind == "CNP")
            .order_by(g.id)
        ).first()
        assert link is not None
        guardian = conn.execute(sa.select(patient).where(patient.c.id == link.guardian_id)).one()
        ward = conn.execute(sa.select(patient).where(patient.c.id == link.ward_id)).one()
        stranger = conn.execute(
            sa.select(patient)
            .where(patient.c.id.not_in(sa.select(g.ward_id).where(g.guardian_id == guardian.id)))
            .where(patient.c.id != guardian.id, patient.c.national_id_kind == "CNP")
        ).first()
    engine.dispose()
    assert stranger is not None
    return guardian, ward, stranger


def test_identities_added_only_with_a_his_guardian_link(
    make_app: Any, inbox: Inbox, family: tuple[Any, Any, Any]
) -> None:
    guardian, ward, stranger = family
    svc, _ = service(make_app)
    me = registered(svc, inbox, guardian)
    assert identities.add_ward(svc, me, "1234567890123") == "bad_national_id"
    assert identities.add_ward(svc, me, stranger.national_id) == "not_guardian"
    assert identities.add_ward(svc, me, ward.national_id) == ""
    assert identities.add_ward(svc, me, ward.national_id) == "already"
    listed = identities.list_identities(svc, me)
    assert [(i.his_patient_id, i.relation) for i in listed] == [
        (guardian.id, "self"),
        (ward.id, "guardian"),
    ]
    assert listed[1].name == f"{ward.given} {ward.family}"
    assert not identities.remove_ward(svc, me, listed[0].id)  # one's own stays
    assert identities.remove_ward(svc, me, listed[1].id)
    assert [i.relation for i in identities.list_identities(svc, me)] == ["self"]


def test_link_constant_is_the_activation_prefix() -> None:
    assert LINK.endswith("/account/activate/")
