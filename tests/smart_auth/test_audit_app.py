"""Every FHIR decision of a running gateway lands in the state database's audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.app import create_app
from smart_auth.audit.tables import audit_event, audit_patient
from tests.conftest import app_config
from tests.credentials import Caller, patient_caller


@pytest.fixture
def gateway(sqlite_his: str, tmp_path: Path) -> Any:
    app = create_app(
        app_config(sqlite_his, dev_open_access=False, state_url=f"sqlite:///{tmp_path}/s.sqlite")
    )
    yield app
    app.extensions["audit_writer"].close()


@pytest.fixture
def caller(gateway: Any) -> Caller:
    """HIS patient 1's app, launched for Patient and Observation only."""
    return patient_caller(gateway, 1, "patient/Patient.rs patient/Observation.rs")


def _trail(app: Any) -> list[tuple[Any, ...]]:
    app.extensions["audit_writer"].flush()
    with app.extensions["state_engine"].connect() as conn:
        events = conn.execute(
            sa.select(
                audit_event.c.id,
                audit_event.c.action,
                audit_event.c.resource_type,
                audit_event.c.outcome,
                audit_event.c.subject,
                audit_event.c.client_id,
            )
        ).all()
        links = conn.execute(sa.select(audit_patient)).all()
    patients = {e: sorted(p for k, p in links if k == e) for e, *_ in events}
    return sorted((*rest, patients[e]) for e, *rest in events)


def test_allowed_and_denied_decisions_are_recorded_with_who_client_and_patient(
    gateway: Any, caller: Caller
) -> None:
    client = caller.client
    before = _trail(gateway)  # what the launch itself recorded
    assert client.get("/fhir/Patient/1").status_code == 200
    assert client.get("/fhir/Observation?patient=1&_count=3").status_code == 200
    assert client.get("/fhir/Encounter?patient=1").status_code == 403
    assert client.get("/fhir/Patient/2").status_code == 404
    who = (caller.subject, caller.client_id)
    after = _trail(gateway)
    for event in before:
        after.remove(event)
    assert after == [
        ("read", "Patient", "allowed", *who, [1]),
        ("read", "Patient", "not-found", *who, [1]),
        ("search", "Encounter", "denied", *who, [1]),
        ("search", "Observation", "allowed", *who, [1]),
    ]


def test_records_carry_ids_never_names_or_national_ids(gateway: Any, caller: Caller) -> None:
    client = caller.client
    body = client.get("/fhir/Patient/1").get_json()
    name = body["name"][0]["family"]
    national = body["identifier"][0]["value"]
    gateway.extensions["audit_writer"].flush()
    with gateway.extensions["state_engine"].connect() as conn:
        dump = repr(conn.execute(sa.select(audit_event)).all())
    assert name not in dump
    assert national not in dump
