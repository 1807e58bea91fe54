"""``user/`` scopes without a patient in context: the grant covers every patient the account acts
for (its own record and the persons in its care, F8), and nobody else."""

from __future__ import annotations

from flask import Flask

from gateway.app import create_app
from tests.conftest import app_config
from tests.smart_auth.test_oauth_fixtures import his_guardian_link, launch, oauth_app

__all__ = ["oauth_app"]


def test_user_scopes_cover_the_account_and_its_wards_only(
    oauth_app: Flask, sqlite_his: str
) -> None:
    _, guardian, ward = his_guardian_link(sqlite_his)
    other = next(p for p in range(1, 50) if p not in (guardian, ward))
    done = launch(
        oauth_app,
        scope="openid fhirUser user/*.rs",
        patients=((guardian, "self"), (ward, "guardian")),
    )
    token = done["token"]
    assert "patient" not in token  # no patient in context
    client, auth = done["client"], {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get(f"/fhir/Patient/{guardian}", headers=auth).status_code == 200
    assert client.get(f"/fhir/Patient/{ward}", headers=auth).status_code == 200
    assert client.get(f"/fhir/Patient/{other}", headers=auth).status_code == 404
    bundle = client.get("/fhir/Patient", headers=auth).get_json()
    assert {e["resource"]["id"] for e in bundle["entry"]} == {str(guardian), str(ward)}
    seen = 0
    for rtype in ("Observation", "Encounter", "DocumentReference"):
        found = client.get(f"/fhir/{rtype}?_summary=count", headers=auth).get_json()["total"]
        seen += found
        assert found == _open_count(sqlite_his, rtype, guardian) + _open_count(
            sqlite_his, rtype, ward
        ), rtype
    assert seen > 0  # the two records are not empty: the comparison means something


def _open_count(his_url: str, rtype: str, patient: int) -> int:
    """How many resources of the patient the gateway holds (authorization off)."""
    app = create_app(app_config(his_url, dev_open_access=True))
    answer = app.test_client().get(f"/fhir/{rtype}?patient={patient}&_summary=count")
    return int(answer.get_json()["total"])
