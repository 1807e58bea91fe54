"""Operations: health, gzip, CORS, request ids, logs without patient data, HIS faults, 401."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import socket

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from gateway.app import create_app
from tests.conftest import app_config


def test_liveness_and_readiness(client):
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json(force=True)["checks"]["his"] == "pass"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_his_is_503_with_retry_after():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing"
    app = create_app(app_config(url, his_timeout_s=2))
    client = app.test_client()
    r = client.get("/fhir/Patient/1")
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    body = r.get_json(force=True)
    assert body["issue"][0]["code"] == "transient"
    assert "psycopg" not in r.get_data(as_text=True).lower()
    assert client.get("/health/ready").status_code == 503
    assert client.get("/health/live").status_code == 200


def test_reading_needs_authorization_by_default(his_url):
    client = create_app(app_config(his_url, dev_open_access=False)).test_client()
    r = client.get("/fhir/Patient/1")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.get_json(force=True)["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Patient").status_code == 401
    assert client.get("/fhir/metadata").status_code == 200


def test_gzip_when_accepted(client):
    plain = client.get("/fhir/metadata")
    zipped = client.get("/fhir/metadata", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json(force=True)
    assert "Content-Encoding" not in plain.headers


def test_cors_metadata_open_api_configured(his_url):
    app = create_app(app_config(his_url, cors_origins="https://app.example"))
    client = app.test_client()
    pre = client.options(
        "/fhir/metadata",
        headers={"Origin": "https://anyone.example", "Access-Control-Request-Method": "GET"},
    )
    assert pre.headers["Access-Control-Allow-Origin"] in ("*", "https://anyone.example")
    api = client.options(
        "/fhir/Patient",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert api.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "authorization" in api.headers["Access-Control-Allow-Headers"].lower()
    other = client.options(
        "/fhir/Patient",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_request_id_is_echoed_or_made(client):
    assert (
        client.get("/health/live", headers={"X-Request-ID": "abc123"}).headers["X-Request-ID"]
        == "abc123"
    )
    made = client.get("/health/live", headers={"X-Request-ID": "bad id; drop"}).headers[
        "X-Request-ID"
    ]
    assert made.isalnum()
    assert len(made) == 32


def test_logs_carry_no_patient_data(client, his_engine, caplog):
    with his_engine.connect() as conn:
        national_id, family = conn.execute(
            sa.select(t.patient.c.national_id, t.patient.c.family).limit(1)
        ).one()
    with caplog.at_level(logging.INFO):
        client.get(f"/fhir/Patient?identifier={national_id}")
        client.get(f"/fhir/Patient?family={family}")
        client.get(f"/fhir/Patient?identifier={national_id}&_count=bad")
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "request" in text
    assert national_id not in text
    assert family not in text


@pytest.fixture
def broken_his(sqlite_his, tmp_path):
    """A copy of the SQLite HIS with one malformed patient row."""
    src = sqlite_his.removeprefix("sqlite:///")
    dst = tmp_path / "broken.sqlite"
    shutil.copy(src, dst)
    url = f"sqlite:///{dst}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        pid = conn.execute(sa.select(t.patient.c.id).order_by(t.patient.c.id).limit(1)).scalar_one()
        conn.execute(sa.update(t.patient).where(t.patient.c.id == pid).values(gender="X"))
    engine.dispose()
    return url, pid


def test_malformed_his_row_is_reported_not_a_500(broken_his, caplog):
    url, pid = broken_his
    client = create_app(app_config(url)).test_client()
    with caplog.at_level(logging.WARNING):
        read = client.get(f"/fhir/Patient/{pid}")
    assert read.status_code == 422
    assert "gender" in read.get_json(force=True)["issue"][0]["diagnostics"]
    assert any("malformed" in r.getMessage() for r in caplog.records)
    bundle = client.get(f"/fhir/Patient?_id={pid},{pid + 1}").get_json(force=True)
    modes = sorted(e["search"]["mode"] for e in bundle["entry"])
    assert modes == ["match", "outcome"]
    outcome = next(e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome")
    assert outcome["issue"][0]["severity"] == "warning"


def test_unexpected_errors_are_500_outcomes_without_internals(his_url, caplog):
    class Exploding:
        def authenticate(self, headers):  # type: ignore[no-untyped-def]
            raise RuntimeError("secret internals 1860101123456")

    client = create_app(app_config(his_url), authenticator=Exploding()).test_client()
    with caplog.at_level(logging.ERROR):
        r = client.get("/fhir/Patient/1")
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert "secret" not in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body
    assert r.get_json(force=True)["issue"][0]["code"] == "exception"
    logged = "\n".join(f"{rec.getMessage()} {rec.__dict__.get('error')}" for rec in caplog.records)
    assert "RuntimeError" in logged
    assert "1860101123456" not in logged


def test_pacs_library_never_logs_patient_data_at_info():
    """pynetdicom logs whole C-FIND identifiers at INFO; the gateway keeps it to warnings."""
    import logging

    from fhir_gateway import logs

    logs.configure("INFO", True)
    assert not logging.getLogger("pynetdicom").isEnabledFor(logging.INFO)
    assert logging.getLogger("pynetdicom").isEnabledFor(logging.WARNING)
