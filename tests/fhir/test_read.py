"""read, conditional read, Binary content negotiation, and the error statuses of the API."""

from __future__ import annotations

import sqlalchemy as sa

from fhir_gateway.his import schema as t
from tests.conftest import BASE

FHIR_JSON = "application/fhir+json"


def _first_id(engine: sa.Engine, table: sa.Table, where: sa.ColumnElement | None = None) -> int:
    stmt = sa.select(table.c.id).order_by(table.c.id).limit(1)
    if where is not None:
        stmt = stmt.where(where)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def test_read_patient_with_version_headers(client, his_engine):
    pid = _first_id(his_engine, t.patient)
    r = client.get(f"/fhir/Patient/{pid}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith(FHIR_JSON)
    body = r.get_json(force=True)
    assert body["resourceType"] == "Patient"
    assert body["id"] == str(pid)
    assert r.headers["ETag"] == f'W/"{body["meta"]["versionId"]}"'
    assert r.headers["Last-Modified"].endswith("GMT")


def test_conditional_read_answers_304(client, his_engine):
    pid = _first_id(his_engine, t.patient)
    first = client.get(f"/fhir/Patient/{pid}")
    again = client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    since = client.get(
        f"/fhir/Patient/{pid}", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert since.status_code == 304
    old = client.get(
        f"/fhir/Patient/{pid}", headers={"If-Modified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"}
    )
    assert old.status_code == 200
    other = client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"999"'})
    assert other.status_code == 200


def test_every_type_reads_what_its_search_returns(client):
    from fhir_gateway.fhir.registry import registry

    for rtype, spec in registry().items():
        if not spec.searchable:
            continue
        bundle = client.get(f"/fhir/{rtype}?_count=3").get_json(force=True)
        entries = [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        assert entries, f"the demo HIS has no {rtype}"
        for entry in entries:
            rid = entry["resource"]["id"]
            assert entry["fullUrl"] == f"{BASE}/{rtype}/{rid}"
            read = client.get(f"/fhir/{rtype}/{rid}")
            assert read.status_code == 200, (rtype, rid)
            assert read.get_json(force=True) == entry["resource"]


def test_missing_and_malformed_ids_are_404(client):
    for path in (
        "/fhir/Patient/999999999",
        "/fhir/Patient/abc",
        "/fhir/DiagnosticReport/lab-x",
        "/fhir/DiagnosticReport/123",
        "/fhir/Observation/-1",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        body = r.get_json(force=True)
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "not-found"


def test_unknown_type_and_path_are_404_outcomes(client):
    for path in ("/fhir/Spaceship/1", "/fhir/Spaceship", "/fhir/Patient/1/nothing/here"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.get_json(force=True)["resourceType"] == "OperationOutcome"


def test_writes_are_405_with_allow(client):
    for method in ("post", "put", "delete", "patch"):
        r = getattr(client, method)("/fhir/Patient/1", json={"resourceType": "Patient"})
        assert r.status_code == 405
        assert "GET" in r.headers["Allow"]
        assert r.get_json(force=True)["issue"][0]["code"] == "not-supported"


def test_xml_is_406(client):
    assert client.get("/fhir/metadata?_format=xml").status_code == 406
    assert (
        client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"}).status_code == 406
    )
    ok = client.get(
        "/fhir/metadata", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert ok.status_code == 200


def test_binary_serves_the_file_or_the_resource(client, his_engine):
    with his_engine.connect() as conn:
        doc_id, sha1, size = conn.execute(
            sa.select(t.document.c.id, t.document.c.sha1, t.document.c.size).limit(1)
        ).one()
    raw = client.get(f"/fhir/Binary/{doc_id}")
    assert raw.status_code == 200
    assert raw.mimetype == "application/pdf"
    assert raw.data.startswith(b"%PDF")
    assert len(raw.data) == size
    import hashlib

    assert hashlib.sha1(raw.data).hexdigest() == sha1  # noqa: S324 - the HIS's own checksum
    as_fhir = client.get(f"/fhir/Binary/{doc_id}", headers={"Accept": FHIR_JSON})
    body = as_fhir.get_json(force=True)
    assert body["resourceType"] == "Binary"
    assert body["contentType"] == "application/pdf"
    import base64

    assert base64.b64decode(body["data"]) == raw.data
    assert client.get("/fhir/Binary?_id=1").status_code == 405


def test_documents_point_at_binaries_that_exist(client):
    bundle = client.get("/fhir/DocumentReference?_count=5").get_json(force=True)
    for entry in bundle["entry"]:
        url = entry["resource"]["content"][0]["attachment"]["url"]
        assert url.startswith("Binary/")
        assert client.get(f"/fhir/{url}").status_code == 200
