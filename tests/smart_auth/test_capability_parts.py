"""AuditEvent and Consent, served from the state database, are in the CapabilityStatement, and
every interaction and search parameter advertised for them answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from tests.conftest import app_config
from tests.credentials import patient_client
from tests.smart_auth.test_sharing import _consent, register_partner

#: HIS patient 1's own app: every patient scope, and Consent create and update
SCOPE = "patient/*.rs patient/Consent.cu"


@pytest.fixture
def gateway(sqlite_his: str, tmp_path: Path) -> Iterator[Any]:
    app = create_app(
        app_config(sqlite_his, dev_open_access=False, state_url=f"sqlite:///{tmp_path}/s.sqlite")
    )
    register_partner(app.extensions["state_engine"], "clinic-a")
    yield app
    app.extensions["audit_writer"].close()


def _advertised(client: Any, rtype: str) -> dict[str, Any]:
    statement = client.get("/fhir/metadata").get_json(force=True)
    found = [r for r in statement["rest"][0]["resource"] if r["type"] == rtype]
    assert len(found) == 1, rtype
    return found[0]


def test_consent_interactions_as_advertised(gateway: Any) -> None:
    client = patient_client(gateway, 1, SCOPE)
    entry = _advertised(client, "Consent")
    interactions = {i["code"] for i in entry["interaction"]}
    assert interactions == {"read", "search-type", "create", "update"}
    assert [p["name"] for p in entry["searchParam"]] == ["status"]
    created = client.post("/fhir/Consent", json=_consent("Patient/1", "clinic-a"))
    assert created.status_code == 201
    consent = created.get_json()
    assert client.get(f"/fhir/Consent/{consent['id']}").status_code == 200
    active = client.get("/fhir/Consent", query_string={"status": "active"}).get_json()
    assert [e["resource"]["id"] for e in active["entry"]] == [consent["id"]]
    updated = client.put(f"/fhir/Consent/{consent['id']}", json={**consent, "status": "inactive"})
    assert updated.status_code == 200
    inactive = client.get("/fhir/Consent", query_string={"status": "inactive"}).get_json()
    assert [e["resource"]["id"] for e in inactive["entry"]] == [consent["id"]]
    assert "entry" not in client.get("/fhir/Consent", query_string={"status": "active"}).get_json()


def test_audit_event_interactions_as_advertised(gateway: Any) -> None:
    client = patient_client(gateway, 1, SCOPE)
    entry = _advertised(client, "AuditEvent")
    assert {i["code"] for i in entry["interaction"]} == {"read", "search-type"}
    assert client.get("/fhir/Patient/1").status_code == 200  # something to audit
    deadline = time.monotonic() + 10
    while True:  # the trail is written by a background writer
        bundle = client.get("/fhir/AuditEvent", query_string={"_count": 5}).get_json()
        if bundle.get("entry") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    first = bundle["entry"][0]["resource"]
    assert first["resourceType"] == "AuditEvent"
    assert client.get(f"/fhir/AuditEvent/{first['id']}").get_json()["id"] == first["id"]
