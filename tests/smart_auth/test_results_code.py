"""Results without an account (F9): code + national ID -> one report and its PDF, attempts
limited in the state database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his.schema import lab_bulletin, patient
from fhir_gateway.his.sql import make_engine
from gateway.app import create_app
from tests.conftest import app_config


@pytest.fixture(scope="module")
def bulletin(sqlite_his: str) -> dict[str, Any]:
    """A validated bulletin with a code and a PDF, of a patient who has other bulletins."""
    engine = make_engine(sqlite_his)
    b, p = lab_bulletin, patient
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(b.c.id, b.c.patient_id, b.c.document_id, b.c.access_code, p.c.national_id)
            .join(p, p.c.id == b.c.patient_id)
            .where(b.c.access_code.is_not(None), b.c.document_id.is_not(None))
            .order_by(b.c.id)
        ).all()
        for row in rows:
            others = conn.execute(
                sa.select(b.c.id, b.c.document_id).where(
                    b.c.patient_id == row.patient_id,
                    b.c.id != row.id,
                    b.c.document_id.is_not(None),
                )
            ).first()
            if others is not None:
                engine.dispose()
                return {**row._asdict(), "other_id": others.id, "other_doc": others.document_id}
    raise AssertionError("the test HIS has no patient with two coded bulletins")


def _app(his: str, tmp_path: Path, **extra: Any) -> Any:
    config = app_config(his, dev_open_access=False, state_url=f"sqlite:///{tmp_path}/s.sqlite")
    return create_app({**config, **extra})


@pytest.fixture
def gateway(sqlite_his: str, tmp_path: Path) -> Iterator[Any]:
    app = _app(sqlite_his, tmp_path, results_max_attempts=3)
    yield app
    app.extensions["audit_writer"].close()


def _redeem(client: Any, code: str, nid: str, addr: str = "10.0.0.1") -> Any:
    return client.post(
        "/auth/result-access",
        data={"code": code, "national_id": nid},
        environ_base={"REMOTE_ADDR": addr},
    )


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_code_opens_that_report_and_its_pdf_only(gateway: Any, bulletin: dict) -> None:
    client = gateway.test_client()
    answer = _redeem(client, bulletin["access_code"], bulletin["national_id"])
    assert answer.status_code == 200
    body = answer.get_json()
    assert answer.headers["Cache-Control"] == "no-store"
    assert body["report"] == f"DiagnosticReport/lab-{bulletin['id']}"
    assert body["binary"] == f"Binary/{bulletin['document_id']}"
    auth = {"Authorization": f"Bearer {body['access_token']}"}

    report = client.get(f"/fhir/{body['report']}", headers=auth)
    assert report.status_code == 200
    assert report.get_json()["id"] == f"lab-{bulletin['id']}"
    pdf = client.get(f"/fhir/{body['binary']}", headers=auth)
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF")

    assert (
        client.get(f"/fhir/DiagnosticReport/lab-{bulletin['other_id']}", headers=auth).status_code
        == 404
    )
    assert client.get(f"/fhir/Binary/{bulletin['other_doc']}", headers=auth).status_code == 404
    assert client.get(f"/fhir/Patient/{bulletin['patient_id']}", headers=auth).status_code == 403
    assert client.get("/fhir/DiagnosticReport", headers=auth).status_code == 403
    assert (
        client.get(f"/fhir/{body['report']}", headers={"Authorization": "Bearer rc.x"}).status_code
        == 401
    )


def test_the_code_reaches_no_other_surface(gateway: Any, bulletin: dict) -> None:
    """A result-code grant is read-only on its one report: the patient's access history, their
    Consents and a new Consent sharing the whole record with a partner are all refused."""
    client = gateway.test_client()
    body = _redeem(client, bulletin["access_code"], bulletin["national_id"]).get_json()
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    patient_ref = f"Patient/{bulletin['patient_id']}"
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "patient": {"reference": patient_ref},
        "organization": [{"identifier": {"value": "any-partner"}}],
    }
    refused = [
        client.get("/fhir/AuditEvent", headers=auth),
        client.get("/fhir/AuditEvent/0123456789abcdef0123456789abcdef", headers=auth),
        client.get("/fhir/Consent", headers=auth),
        client.get("/fhir/Consent/1", headers=auth),
        client.post("/fhir/Consent", json=consent, headers=auth),
        client.put("/fhir/Consent/1", json={**consent, "status": "inactive"}, headers=auth),
        client.get(f"/fhir/{patient_ref}/DiagnosticReport", headers=auth),
        client.get(f"/fhir/{patient_ref}/$everything", headers=auth),
        client.get(f"/fhir/DiagnosticReport?_id=lab-{bulletin['id']}", headers=auth),
    ]
    for answer in refused:
        assert answer.status_code in (403, 404), (answer.request.path, answer.status_code)
        if answer.status_code == 403:
            assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
    state = gateway.extensions["state_engine"]
    with state.connect() as conn:
        shares = conn.execute(sa.text("SELECT count(*) FROM share")).scalar()
    assert shares == 0


def test_a_wrong_code_or_national_id_opens_nothing(gateway: Any, bulletin: dict) -> None:
    client = gateway.test_client()
    wrong = _redeem(client, _wrong(bulletin["access_code"]), bulletin["national_id"])
    assert wrong.status_code == 400
    assert wrong.get_json()["error"] == "invalid_grant"
    assert "access_token" not in wrong.get_json()
    assert _redeem(client, bulletin["access_code"], "1" * 13, "10.0.0.2").status_code == 400
    assert _redeem(client, "abc", bulletin["national_id"], "10.0.0.3").status_code == 400


def test_attempts_are_limited_per_national_id_and_per_address(
    gateway: Any, bulletin: dict, sqlite_his: str, tmp_path: Path
) -> None:
    client = gateway.test_client()
    bad = _wrong(bulletin["access_code"])
    for addr in ("10.0.1.1", "10.0.1.2", "10.0.1.3"):
        assert _redeem(client, bad, bulletin["national_id"], addr).status_code == 400
    blocked = _redeem(client, bulletin["access_code"], bulletin["national_id"], "10.0.1.4")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "access_token" not in blocked.get_json()

    for nid in ("1" * 13, "2" * 13, "3" * 13):
        assert _redeem(client, bad, nid, "10.0.2.1").status_code == 400
    assert _redeem(client, bad, "4" * 13, "10.0.2.1").status_code == 429

    # the counters are in the state database: another process over it sees the same block
    other = _app(sqlite_his, tmp_path, results_max_attempts=3)
    again = _redeem(
        other.test_client(), bulletin["access_code"], bulletin["national_id"], "10.0.3.1"
    )
    assert again.status_code == 429
    other.extensions["audit_writer"].close()


def test_the_grant_expires(sqlite_his: str, tmp_path: Path, bulletin: dict) -> None:
    app = _app(sqlite_his, tmp_path, results_token_ttl_s=0)
    client = app.test_client()
    body = _redeem(client, bulletin["access_code"], bulletin["national_id"]).get_json()
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(f"/fhir/{body['report']}", headers=auth).status_code == 401
    app.extensions["audit_writer"].close()
