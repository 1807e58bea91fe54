"""IHE MHD Provide Document Bundle [ITI-65], Minimal Metadata: several documents in one
transaction, all of them or none."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as his_schema
from smart_auth.uploads.mhd import SUBMISSION_SET
from tests.uploads import samples
from tests.uploads.conftest import People, build_app, people

MINIMAL = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.ProvideBundle"


def bundle(
    world: People, files: list[tuple[bytes, str]], patient: int | None = None
) -> dict[str, Any]:
    patient = world.patient if patient is None else patient
    entries: list[dict[str, Any]] = []
    docs = []
    for data, mime in files:
        binary_url, doc_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
        docs.append(doc_url)
        document = world.doc("", code="external-lab-result", description=f"a {mime} file")
        document["content"] = [{"attachment": {"contentType": mime, "url": binary_url}}]
        document["subject"] = {"reference": f"Patient/{patient}"}
        document["masterIdentifier"] = {
            "system": "urn:ietf:rfc:3986",
            "value": f"urn:oid:2.25.{uuid.uuid4().int}",
        }
        entries.append(
            {
                "fullUrl": doc_url,
                "resource": document,
                "request": {"method": "POST", "url": "DocumentReference"},
            }
        )
        entries.append(
            {
                "fullUrl": binary_url,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": mime,
                    "data": base64.b64encode(data).decode(),
                },
                "request": {"method": "POST", "url": "Binary"},
            }
        )
    submission = {
        "resourceType": "List",
        "status": "current",
        "mode": "working",
        "code": {"coding": [{"system": SUBMISSION_SET[0], "code": SUBMISSION_SET[1]}]},
        "subject": {"reference": f"Patient/{patient}"},
        "entry": [{"item": {"reference": url}} for url in docs],
    }
    entries.insert(
        0,
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": submission,
            "request": {"method": "POST", "url": "List"},
        },
    )
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [MINIMAL]},
        "type": "transaction",
        "entry": entries,
    }


def provide(world: People, who: str, body: dict[str, Any]) -> Any:
    return world.app.test_client().post(
        "/fhir", json=body, headers={**world.tokens[who], "Content-Type": "application/fhir+json"}
    )


def state_counts(world: People) -> tuple[int, int]:
    from smart_auth.uploads.tables import upload_binary, upload_document

    with world.app.extensions["state_engine"].connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(upload_binary)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(upload_document)).scalar_one(),
        )


@pytest.fixture
def mhd(sqlite_his: str, tmp_path: Path) -> Any:
    app = build_app(
        sqlite_his,
        f"sqlite:///{tmp_path}/state.sqlite",
        tmp_path,
        uploads_max_file_bytes=2_000_000,
        uploads_quota_bytes=2_500_000,
    )
    yield people(app, sqlite_his)
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


def test_several_documents_in_one_transaction(mhd: People, sqlite_his: str) -> None:
    files = [
        (samples.pdf(), "application/pdf"),
        (samples.image("JPEG"), "image/jpeg"),
        (samples.nifti(True), "image/x.nifti+gzip"),
    ]
    answer = provide(mhd, "patient", bundle(mhd, files))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    result = answer.get_json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["200 OK"] + ["201 Created"] * 6
    locations = [e["response"]["location"] for e in result["entry"][1:]]
    http = mhd.app.test_client()
    docs = [loc for loc in locations if "/DocumentReference/" in loc]
    assert len(docs) == 3
    for location, (data, mime) in zip(docs, files, strict=True):
        rid = location.split("/DocumentReference/")[1].split("/")[0]
        doc = http.get(f"/fhir/DocumentReference/{rid}", headers=mhd.tokens["patient"]).get_json()
        assert doc["content"][0]["attachment"]["contentType"] == mime
        content = http.get(
            f"/fhir/{doc['content'][0]['attachment']['url']}", headers=mhd.tokens["patient"]
        )
        assert content.get_data() == data
    # the three documents of this transaction reach the HIS (the session's HIS holds other
    # tests' uploads too: count these ones by their upload ids)
    made = {loc.split("/DocumentReference/")[1].split("/")[0] for loc in docs}
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        handed = conn.execute(
            sa.select(
                his_schema.incoming_document.c.upload_id, his_schema.incoming_document.c.patient_id
            )
        ).all()
    engine.dispose()
    ours = [row for row in handed if row.upload_id in made]
    assert len(ours) == 3, (made, handed[-5:])
    assert {row.patient_id for row in ours} == {mhd.patient}


def test_one_refused_file_refuses_the_whole_transaction(mhd: People, tmp_path: Path) -> None:
    files = [
        (samples.pdf(), "application/pdf"),
        (b"<html><script>alert(1)</script></html>", "application/pdf"),
    ]
    answer = provide(mhd, "patient", bundle(mhd, files))
    assert answer.status_code == 415
    assert "HTML" in answer.get_json()["issue"][0]["diagnostics"]
    assert state_counts(mhd) == (0, 0)
    assert [p for p in (tmp_path / "uploads").rglob("*") if p.is_file()] == []


def test_a_transaction_over_the_quota_leaves_nothing(mhd: People, tmp_path: Path) -> None:
    files = [
        (samples.png_of_size(1_300_000), "image/png"),
        (samples.png_of_size(1_300_000), "image/png"),
    ]
    answer = provide(mhd, "patient", bundle(mhd, files))
    assert answer.status_code == 413
    assert "quota" in answer.get_json()["issue"][0]["diagnostics"]
    assert state_counts(mhd) == (0, 0)
    assert [p for p in (tmp_path / "uploads").rglob("*") if p.is_file()] == []


def test_what_the_transaction_must_hold(mhd: People) -> None:
    good = bundle(mhd, [(samples.pdf(), "application/pdf")])
    no_list = {**good, "entry": good["entry"][1:]}
    assert provide(mhd, "patient", no_list).status_code == 422
    unlisted = bundle(mhd, [(samples.pdf(), "application/pdf")])
    unlisted["entry"][0]["resource"]["entry"] = []
    assert provide(mhd, "patient", unlisted).status_code == 422
    batch = {**good, "type": "batch"}
    assert provide(mhd, "patient", batch).status_code == 400
    observation = bundle(mhd, [(samples.pdf(), "application/pdf")])
    observation["entry"].append(
        {
            "fullUrl": "urn:uuid:1",
            "resource": {"resourceType": "Observation"},
            "request": {"method": "POST", "url": "Observation"},
        }
    )
    assert provide(mhd, "patient", observation).status_code == 422
    assert state_counts(mhd) == (0, 0)


def test_only_for_ones_own_patients_and_with_write_scopes(mhd: People) -> None:
    assert (
        provide(
            mhd, "patient", bundle(mhd, [(samples.pdf(), "application/pdf")], mhd.other)
        ).status_code
        == 403
    )
    assert (
        provide(mhd, "reader", bundle(mhd, [(samples.pdf(), "application/pdf")])).status_code == 403
    )
    assert (
        mhd.app.test_client()
        .post("/fhir", json=bundle(mhd, [(samples.pdf(), "application/pdf")]))
        .status_code
        == 401
    )
    assert state_counts(mhd) == (0, 0)
