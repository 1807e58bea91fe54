"""The portal's EHR launch with the active identity: at sign-in and at each switch the portal
gets, through the gateway's own authorization server, a token whose context is that patient
(``patient`` in the token response, ``patient/`` scopes), so the gateway itself confines every
request to the active identity. A switch needs no password again; a forged switch to someone
outside the account's care gets no token, because the gateway refuses the launch."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from fhir_gateway.his.schema import guardian_link, patient
from portal.client import GatewayError
from portal.sessions import portal_session
from tests.portal.conftest import (  # noqa: F401
    lab_reports,
    pytestmark,
    sign_in,
    sign_in_with_ward,
)
from tests.smart_auth.accounts.conftest import Inbox

EN = {"Accept-Language": "en"}


def guardian_and_ward(sqlite_his: str) -> tuple[Any, int, str]:
    """A guardian with an email and a CNP, in no one's care, whose ward in force has lab
    reports; the ward's CNP."""
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        links = conn.execute(
            sa.select(patient, guardian_link.c.ward_id)
            .join(guardian_link, guardian_link.c.guardian_id == patient.c.id)
            .where(patient.c.national_id_kind == "CNP", patient.c.email.is_not(None))
            .where(
                sa.or_(
                    guardian_link.c.valid_to.is_(None),
                    guardian_link.c.valid_to > dt.date.today(),
                )
            )
            .where(patient.c.id.not_in(sa.select(guardian_link.c.ward_id)))
            .order_by(patient.c.id)
        ).all()
        guardian, ward = next(
            (row, int(row.ward_id)) for row in links if lab_reports(sqlite_his, row.ward_id)
        )
        cnp = conn.execute(sa.select(patient.c.national_id).where(patient.c.id == ward)).scalar()
    engine.dispose()
    return guardian, ward, str(cnp)


def held(served: dict[str, Any]) -> dict[str, Any]:
    """What the portal's one server-side session holds (the store the browser never sees)."""
    with served["app"].extensions["portal_engine"].connect() as conn:
        rows = conn.execute(sa.select(portal_session.c.data)).scalars().all()
    kept = [json.loads(r) for r in rows]
    signed = [s for s in kept if s.get("tokens")]
    assert len(signed) == 1, kept
    found: dict[str, Any] = signed[0]
    return found


def introspect(served: dict[str, Any], token: str) -> dict[str, Any]:
    """The gateway's own word on a token the portal holds (RFC 7662, as the portal's client)."""
    client = served["app"].extensions["portal_gateway"]
    answer = requests.post(
        f"{served['gateway']}/oauth/introspect",
        data={"token": token},
        auth=(client.client_id, client.client_secret),
        timeout=10,
    )
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def test_a_switch_launches_a_token_of_the_ward_that_the_gateway_confines(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    sqlite_his: str,
    adults: list[Any],
) -> None:
    guardian, ward, ward_cnp = guardian_and_ward(sqlite_his)
    outsider = next(
        p for p in adults if p.id not in (guardian.id, ward) and lab_reports(sqlite_his, p.id)
    )
    portal, gateway = served["portal"], served["gateway"]
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in_with_ward(page, served, guardian, ward_cnp, inbox)

    # signed in: the active identity's token is a launch token with the guardian in context
    kept = held(served)
    assert kept["active"] == str(guardian.id)
    own = introspect(served, kept["tokens"]["access_token"])
    assert own["active"]
    assert own["patient"] == str(guardian.id)
    assert "patient/*.rs" in own["scope"].split()
    assert not [s for s in own["scope"].split() if s.startswith("user/")]

    # the switch: no password, no consent page; the portal now holds a token of the ward
    switcher = page.get_by_label("Active patient")
    switcher.select_option(str(ward))
    with page.expect_navigation(url=f"{portal}/"):
        page.get_by_role("button", name="Switch").click()
    assert page.get_by_label("Active patient").input_value() == str(ward)
    kept = held(served)
    ward_token = kept["tokens"]["access_token"]
    assert kept["active"] == str(ward)
    assert kept["tokens"]["patient"] == str(ward)
    said = introspect(served, ward_token)
    assert said["active"]
    assert said["patient"] == str(ward)
    assert not [s for s in said["scope"].split() if s.startswith("user/")]
    assert set(kept["held"]) == {str(guardian.id), str(ward)}

    # the ward's token straight against the gateway: the ward's reports, nobody else's
    bearer = {"Authorization": f"Bearer {ward_token}", "Accept": "application/fhir+json"}
    fhir = f"{gateway}/fhir"
    mine = requests.get(
        f"{fhir}/DiagnosticReport",
        params={"patient": str(ward), "category": "LAB", "_count": "50"},
        headers=bearer,
        timeout=10,
    )
    assert mine.status_code == 200, mine.text
    found = sorted(e["resource"]["id"] for e in mine.json().get("entry", []))
    assert found == sorted(lab_reports(sqlite_his, ward))
    # another patient's reports with the ward's token: the gateway answers as if there were
    # none, and reads them as unknown; the same reads with the tokens of those it confines to
    # find them, so nothing but the token's context makes the difference
    guardian_token = kept["held"][str(guardian.id)]["access_token"]
    assert (
        requests.get(f"{fhir}/Patient/{guardian.id}", headers=bearer, timeout=10).status_code == 404
    )
    as_guardian = {**bearer, "Authorization": f"Bearer {guardian_token}"}
    assert (
        requests.get(f"{fhir}/Patient/{guardian.id}", headers=as_guardian, timeout=10).status_code
        == 200
    )
    theirs = lab_reports(sqlite_his, outsider.id)
    refused = requests.get(
        f"{fhir}/DiagnosticReport",
        params={"patient": str(outsider.id), "category": "LAB"},
        headers=bearer,
        timeout=10,
    )
    assert refused.status_code == 200
    assert [e for e in refused.json().get("entry", []) if e["search"]["mode"] == "match"] == []
    one = requests.get(f"{fhir}/DiagnosticReport/{theirs[0]}", headers=bearer, timeout=10)
    assert one.status_code == 404
    assert one.json()["resourceType"] == "OperationOutcome"

    # a forged switch to someone outside the account's care: the gateway makes no launch, so
    # the portal holds no token for them and stays with the ward
    token = page.locator("input[name=csrf_token]").first.input_value()
    forged = page.request.post(
        f"{portal}/identity", form={"patient": str(outsider.id), "csrf_token": token}, headers=EN
    )
    assert forged.status == 400
    assert "not in your care" in forged.text()
    after = held(served)
    assert after["active"] == str(ward)
    assert after["tokens"]["access_token"] == ward_token
    assert str(outsider.id) not in after["held"]
    # the same asked of the gateway straight, with the account's own grant: refused there
    client = served["app"].extensions["portal_gateway"]
    with pytest.raises(GatewayError) as refusal:
        client.start_launch(after["account"], str(outsider.id))
    assert refusal.value.status == 403
    # a grant the gateway did not issue to this client starts nothing either
    with pytest.raises(GatewayError) as refusal:
        client.start_launch({"access_token": "not-a-token"}, str(ward))
    assert refusal.value.status == 400

    # back to the guardian: the identity's token is still held, no new launch
    page.get_by_label("Active patient").select_option(str(guardian.id))
    with page.expect_navigation(url=f"{portal}/"):
        page.get_by_role("button", name="Switch").click()
    back = held(served)
    assert back["active"] == str(guardian.id)
    assert back["tokens"]["access_token"] == guardian_token

    # signing out ends every grant the session held at the gateway, not just the cookie
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{portal}/")
    for tokens in [back["account"], *back["held"].values()]:
        assert introspect(served, tokens["access_token"]) == {"active": False}
    context.close()


def test_the_gateway_not_the_portals_list_decides_who_may_be_switched_to(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    sqlite_his: str,
) -> None:
    """A ward taken into care at the gateway after the portal's sign-in: the switcher's list
    does not name them yet, but the gateway's guardianship data do, so a switch to them launches
    (and the switcher names them from then on)."""
    guardian, ward, ward_cnp = guardian_and_ward(sqlite_his)
    portal, gateway = served["portal"], served["gateway"]
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, guardian, inbox)
    assert [i["id"] for i in held(served)["identities"]] == [str(guardian.id)]
    token = page.locator("input[name=csrf_token]").first.input_value()

    page.goto(f"{gateway}/account/identities")
    page.get_by_label("Personal numeric code (CNP)").fill(ward_cnp)
    page.get_by_role("button", name="Add").click()
    switched = page.request.post(
        f"{portal}/identity", form={"patient": str(ward), "csrf_token": token}, headers=EN
    )
    assert switched.status == 200
    assert switched.url == f"{portal}/"
    kept = held(served)
    assert kept["active"] == str(ward)
    assert introspect(served, kept["tokens"]["access_token"])["patient"] == str(ward)
    assert {i["id"] for i in kept["identities"]} == {str(guardian.id), str(ward)}
    page.goto(f"{portal}/")
    assert page.get_by_label("Active patient").input_value() == str(ward)
    context.close()
