"""Patients' uploads through the FHIR API (F17): every listed type from real files, refused
types and disguised files, the limits and the quota (also under uploads racing for its last
bytes), the author-only changes, safe serving, the HIS hand-off, and crash safety."""

from __future__ import annotations

import base64
import hashlib
import io
import math
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as his_schema
from smart_auth.uploads.tables import upload_binary, upload_document
from tests.smart_auth.test_oauth_fixtures import add_account
from tests.uploads import samples
from tests.uploads.conftest import WRITE_SCOPE, People, _launch, build_app, people

CATEGORY = "category={base}/CodeSystem/document-source|patient-supplied"


def post_file(
    world: People, who: str, data: bytes, declared: str | None = None, **headers: str
) -> Any:
    sent = dict(world.tokens[who])
    sent["Content-Type"] = declared or "application/octet-stream"
    sent.update(headers)
    return world.app.test_client().post("/fhir/Binary", data=data, headers=sent)


def upload(world: People, who: str, data: bytes, **doc: Any) -> tuple[str, dict[str, Any]]:
    made = post_file(world, who, data)
    assert made.status_code == 201, made.get_data(as_text=True)
    binary = made.get_json()["id"]
    answer = world.app.test_client().post(
        "/fhir/DocumentReference", json=world.doc(binary, **doc), headers=world.tokens[who]
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return binary, answer.get_json()


def store_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# --- every listed type ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(samples.SAMPLES))
def test_every_listed_type_is_taken_with_the_type_its_bytes_have(world: People, name: str) -> None:
    make, mime = samples.SAMPLES[name]
    data = make()
    binary, doc = upload(world, "patient", data, description=f"a {name} file")
    assert doc["content"][0]["attachment"]["contentType"] == mime
    assert doc["content"][0]["attachment"]["size"] == len(data)
    assert (
        doc["content"][0]["attachment"]["hash"]
        == base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()
    )
    assert doc["subject"] == {"reference": f"Patient/{world.patient}"}
    assert doc["author"] == [{"reference": f"Patient/{world.patient}"}]
    assert doc["category"][0]["coding"][0]["code"] == "patient-supplied"
    got = world.app.test_client().get(f"/fhir/Binary/{binary}", headers=world.tokens["patient"])
    assert got.status_code == 200
    assert got.get_data() == data
    assert got.mimetype == mime
    # declared rightly, the same file is taken too
    assert post_file(world, "patient", data, mime).status_code == 201


# --- refused types and disguised files -----------------------------------------------------------

REFUSED = {
    "html as pdf": (
        b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        "application/pdf",
        "HTML",
    ),
    "svg as png": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "image/png",
        "SVG",
    ),
    "text as jpeg": (b"just some text that is not an image\n" * 20, "image/jpeg", "text"),
    "zip": (None, "application/zip", "Zip"),
    "pdf as png": (None, "image/png", "PDF"),
    "png as dicom": (None, "application/dicom", "PNG"),
}


def _refused_bytes(name: str) -> bytes:
    data = REFUSED[name][0]
    if data is not None:
        return data
    if name == "zip":
        out = io.BytesIO()
        import zipfile

        with zipfile.ZipFile(out, "w") as z:
            z.writestr("notes.txt", "hello")
        return out.getvalue()
    if name == "pdf as png":
        return samples.pdf()
    return samples.image("PNG")


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unlisted_types_and_disguised_files_are_415_saying_what_was_seen(
    world: People, name: str
) -> None:
    before = (
        world.app.test_client()
        .get(f"/fhir/Patient/{world.patient}/$upload-usage", headers=world.tokens["patient"])
        .get_json()
    )
    answer = post_file(world, "patient", _refused_bytes(name), REFUSED[name][1])
    assert answer.status_code == 415, answer.get_data(as_text=True)
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert REFUSED[name][2].lower() in outcome["issue"][0]["diagnostics"].lower()
    after = (
        world.app.test_client()
        .get(f"/fhir/Patient/{world.patient}/$upload-usage", headers=world.tokens["patient"])
        .get_json()
    )
    assert after == before
    partial = Path(world.app.config["SETTINGS"].uploads_dir) / "partial"
    assert list(partial.iterdir()) == []


# --- serving -------------------------------------------------------------------------------------


def test_an_upload_is_served_as_an_attachment_that_never_runs_here(world: People) -> None:
    data = samples.pdf()
    binary, _ = upload(world, "patient", data)
    got = world.app.test_client().get(f"/fhir/Binary/{binary}", headers=world.tokens["patient"])
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert "default-src 'none'" in got.headers["Content-Security-Policy"]
    as_fhir = world.app.test_client().get(
        f"/fhir/Binary/{binary}",
        headers={**world.tokens["patient"], "Accept": "application/fhir+json"},
    )
    assert as_fhir.status_code == 200
    body = as_fhir.get_json()
    assert body["resourceType"] == "Binary"
    assert base64.b64decode(body["data"]) == data
    assert body["securityContext"]["reference"].startswith("DocumentReference/upload-")


def test_list_read_describe_and_delete_own_uploads(world: People) -> None:
    http = world.app.test_client()
    binary, doc = upload(world, "patient", samples.image("PNG"), code="image", description="rash")
    found = http.get(
        f"/fhir/DocumentReference?{CATEGORY.format(base=world.base)}",
        headers=world.tokens["patient"],
    )
    assert doc["id"] in [e["resource"]["id"] for e in found.get_json()["entry"]]
    # another patient sees none of it
    theirs = http.get(
        f"/fhir/DocumentReference?{CATEGORY.format(base=world.base)}", headers=world.tokens["other"]
    )
    assert doc["id"] not in [e["resource"]["id"] for e in theirs.get_json().get("entry", [])]
    assert (
        http.get(f"/fhir/DocumentReference/{doc['id']}", headers=world.tokens["other"]).status_code
        == 404
    )
    assert http.get(f"/fhir/Binary/{binary}", headers=world.tokens["other"]).status_code == 404
    # describe: only the description may change
    read = http.get(
        f"/fhir/DocumentReference/{doc['id']}", headers=world.tokens["patient"]
    ).get_json()
    changed = {**read, "description": "rash, day 3"}
    put = http.put(
        f"/fhir/DocumentReference/{doc['id']}", json=changed, headers=world.tokens["patient"]
    )
    assert put.status_code == 200, put.get_data(as_text=True)
    assert put.get_json()["description"] == "rash, day 3"
    assert put.get_json()["meta"]["versionId"] == "2"
    retyped = {**read, "type": world.doc(binary, code="other")["type"]}
    assert (
        http.put(
            f"/fhir/DocumentReference/{doc['id']}", json=retyped, headers=world.tokens["patient"]
        ).status_code
        == 422
    )
    stale = http.put(
        f"/fhir/DocumentReference/{doc['id']}",
        json=changed,
        headers={**world.tokens["patient"], "If-Match": 'W/"1"'},
    )
    assert stale.status_code == 409
    # delete: the document and its bytes go
    store = Path(world.app.config["SETTINGS"].uploads_dir)
    key = binary.removeprefix("upload-")
    assert (store / "objects" / key[:2] / key).is_file()
    assert (
        http.delete(
            f"/fhir/DocumentReference/{doc['id']}", headers=world.tokens["patient"]
        ).status_code
        == 204
    )
    assert not (store / "objects" / key[:2] / key).exists()
    assert (
        http.get(
            f"/fhir/DocumentReference/{doc['id']}", headers=world.tokens["patient"]
        ).status_code
        == 404
    )
    assert http.get(f"/fhir/Binary/{binary}", headers=world.tokens["patient"]).status_code == 404


def test_hospital_documents_cannot_be_deleted(world: People, sqlite_his: str) -> None:
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        his_doc = conn.execute(
            sa.select(his_schema.document.c.id).where(
                his_schema.document.c.patient_id == world.patient
            )
        ).scalar()
    engine.dispose()
    if his_doc is None:
        pytest.skip("the generated patient has no hospital document")
    answer = world.app.test_client().delete(
        f"/fhir/DocumentReference/{his_doc}", headers=world.tokens["patient"]
    )
    assert answer.status_code == 405


def test_writes_need_write_scopes_v2_or_v1(world: People) -> None:
    assert post_file(world, "reader", samples.pdf()).status_code == 403
    made = post_file(world, "v1-writer", samples.pdf())
    assert made.status_code == 201
    doc = world.app.test_client().post(
        "/fhir/DocumentReference",
        json=world.doc(made.get_json()["id"]),
        headers=world.tokens["reader"],
    )
    assert doc.status_code == 403
    assert 'error="insufficient_scope"' in doc.headers["WWW-Authenticate"]


def test_a_guardian_uploads_for_the_ward_and_only_the_author_changes_it(world: People) -> None:
    http = world.app.test_client()
    _, doc = upload(world, "guardian", samples.pdf(), code="other-clinic-letter")
    assert doc["subject"] == {"reference": f"Patient/{world.ward}"}
    assert doc["author"][0]["reference"].startswith("RelatedPerson/")
    # the same person with a user-level token is the same author; several patients: named
    made = post_file(
        world, "guardian-user", samples.pdf(), **{"X-Security-Context": f"Patient/{world.ward}"}
    )
    assert made.status_code == 201
    assert post_file(world, "guardian-user", samples.pdf()).status_code == 400
    assert (
        post_file(
            world,
            "guardian-user",
            samples.pdf(),
            **{"X-Security-Context": f"Patient/{world.patient}"},
        ).status_code
        == 403
    )
    changed = {**doc, "description": "from the guardian"}
    assert (
        http.put(
            f"/fhir/DocumentReference/{doc['id']}",
            json=changed,
            headers=world.tokens["guardian-user"],
        ).status_code
        == 200
    )
    # another guardian of the same ward sees it but may not change or delete it
    second = add_account(world.app, (world.ward, "guardian"))
    token = {"Authorization": f"Bearer {_launch(world.app, second, WRITE_SCOPE, world.ward)}"}
    assert http.get(f"/fhir/DocumentReference/{doc['id']}", headers=token).status_code == 200
    current = http.get(f"/fhir/DocumentReference/{doc['id']}", headers=token).get_json()
    assert (
        http.put(
            f"/fhir/DocumentReference/{doc['id']}",
            json={**current, "description": "x"},
            headers=token,
        ).status_code
        == 403
    )
    assert http.delete(f"/fhir/DocumentReference/{doc['id']}", headers=token).status_code == 403


def test_the_document_reaches_the_his_and_its_changes_follow(
    world: People, sqlite_his: str
) -> None:
    http = world.app.test_client()
    _, doc = upload(
        world, "patient", samples.docx(), code="other-clinic-letter", description="discharge letter"
    )
    incoming = his_schema.incoming_document
    engine = sa.create_engine(sqlite_his)

    def row() -> Any:
        with engine.connect() as conn:
            return (
                conn.execute(sa.select(incoming).where(incoming.c.upload_id == doc["id"]))
                .mappings()
                .first()
            )

    handed = row()
    assert handed is not None
    assert handed["patient_id"] == world.patient
    assert handed["type_code"] == "other-clinic-letter"
    assert handed["description"] == "discharge letter"
    assert (
        handed["content_type"]
        == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert handed["content_url"].endswith(doc["content"][0]["attachment"]["url"])
    http.put(
        f"/fhir/DocumentReference/{doc['id']}",
        json={**doc, "description": "letter"},
        headers=world.tokens["patient"],
    )
    assert row()["description"] == "letter"
    http.delete(f"/fhir/DocumentReference/{doc['id']}", headers=world.tokens["patient"])
    assert row()["withdrawn_at"] is not None
    engine.dispose()


def test_the_capability_statement_advertises_the_writes(world: People) -> None:
    statement = world.app.test_client().get("/fhir/metadata").get_json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {i["code"] for i in by_type["Binary"]["interaction"]} == {"read", "create"}
    assert {i["code"] for i in by_type["DocumentReference"]["interaction"]} >= {
        "read",
        "search-type",
        "create",
        "update",
        "delete",
    }
    assert {i["code"] for i in by_type["Observation"]["interaction"]} == {"read", "search-type"}
    assert [i["code"] for i in statement["rest"][0]["interaction"]] == [
        "search-system",
        "transaction",
    ]


# --- limits and quota ----------------------------------------------------------------------------


@pytest.fixture
def small(sqlite_his: str, state_url: str, tmp_path: Path) -> Any:
    app = build_app(
        sqlite_his,
        state_url,
        tmp_path,
        uploads_max_file_bytes=1_500_000,
        uploads_quota_bytes=3_000_000,
    )
    yield people(app, sqlite_his)
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


def usage(world: People) -> dict[str, Any]:
    got = world.app.test_client().get(
        f"/fhir/Patient/{world.patient}/$upload-usage", headers=world.tokens["patient"]
    )
    assert got.status_code == 200
    return {
        p["name"]: p.get("valueInteger", p.get("valueString"))
        for p in got.get_json()["parameter"]
        if p["name"] != "patient"
    }


def test_limits_refuse_before_storing_and_say_the_limit_and_the_usage(
    small: People, tmp_path: Path
) -> None:
    big = samples.png_of_size(1_600_000)
    assert len(big) > 1_500_000
    answer = post_file(small, "patient", big)
    assert answer.status_code == 413
    text = answer.get_json()["issue"][0]["diagnostics"]
    assert "1500000" in text
    assert "0 MB / 3 MB" in text
    # without a Content-Length (chunked): cut off at the limit, nothing kept
    chunked = small.app.test_client().post(
        "/fhir/Binary",
        input_stream=io.BytesIO(big),
        headers={**small.tokens["patient"], "Content-Type": "image/png"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert chunked.status_code == 413, chunked.get_data(as_text=True)
    assert store_files(tmp_path / "uploads") == []
    # the quota: 2 x 1.4 MB fit, a third does not
    one = samples.png_of_size(1_400_000)
    assert post_file(small, "patient", one).status_code == 201
    assert post_file(small, "patient", one).status_code == 201
    third = post_file(small, "patient", one)
    assert third.status_code == 413
    assert f"used {2 * len(one)} bytes" in third.get_json()["issue"][0]["diagnostics"]
    seen = usage(small)
    assert seen["used"] == 2 * len(one)
    assert seen["left"] == 3_000_000 - 2 * len(one)
    # what is used rounds up, what is left down (to hundredths of a MB)
    used_mb = math.ceil(2 * len(one) / 1e4) / 100
    left_mb = math.floor((3_000_000 - 2 * len(one)) / 1e4) / 100
    assert (used_mb, left_mb) == (2.81, 0.19)
    assert seen["display"] == f"{used_mb:g} MB / 3 MB ({left_mb:g} MB left)"
    with small.app.extensions["state_engine"].connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(upload_binary)).scalar() == 2


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
def test_uploads_racing_for_the_last_bytes_never_pass_the_quota(
    small: People, announced: bool
) -> None:
    data = samples.png_of_size(900_000)
    racers = 6
    start = threading.Barrier(racers)
    statuses: list[int] = []

    def race() -> None:
        client = small.app.test_client()
        start.wait(timeout=30)
        if announced:
            answer = client.post(
                "/fhir/Binary",
                data=data,
                headers={**small.tokens["patient"], "Content-Type": "image/png"},
            )
        else:
            answer = client.post(
                "/fhir/Binary",
                input_stream=io.BytesIO(data),
                headers={**small.tokens["patient"], "Content-Type": "image/png"},
                environ_overrides={"wsgi.input_terminated": True},
            )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(set(statuses)) <= [201, 413], statuses
    stored = statuses.count(201)
    assert stored >= 1
    assert stored * len(data) <= 3_000_000
    if announced:  # each holds exactly its length: as many as fit
        assert stored == 3_000_000 // len(data)
    seen = usage(small)
    assert seen["used"] == stored * len(data) <= seen["quota"]


# --- crash safety --------------------------------------------------------------------------------


def test_a_crash_after_the_bytes_were_stored_leaves_nothing_once_the_lease_ran_out(
    small: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = small.app.extensions["uploads"]
    now = [service.clock()]
    monkeypatch.setattr(service, "clock", lambda: now[0])

    def die(*_: Any) -> None:
        raise SystemExit("the worker died")

    monkeypatch.setattr(service, "_stored", die)
    monkeypatch.setattr(service, "_forget", lambda key: None)  # a dead worker cleans nothing
    with pytest.raises(SystemExit):
        service.receive(small.patient, "account:1", io.BytesIO(samples.pdf()), None, None)
    root = Path(small.app.config["SETTINGS"].uploads_dir)
    assert len(store_files(root / "objects")) == 1  # the rename happened, the row did not
    assert usage(small)["used"] > 0  # held while its lease runs
    monkeypatch.undo()
    monkeypatch.setattr(service, "clock", lambda: now[0])
    import datetime as dt

    now[0] += dt.timedelta(seconds=service.lease_s + 1)
    assert usage(small)["used"] == 0  # no longer counted
    service.sweep(force=True)
    assert store_files(root) == []
    with service.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(upload_binary)).scalar() == 0


def test_a_document_the_his_could_not_take_is_handed_later(
    small: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fhir_gateway.his.connector import HisUnreachable

    service = small.app.extensions["uploads"]
    his = service.his

    class Down:
        def submit_patient_document(self, document: Any) -> None:
            raise HisUnreachable()

    monkeypatch.setattr(service, "his", Down())
    _, doc = upload(small, "patient", samples.pdf())
    key = doc["id"].removeprefix("upload-")
    with service.engine.connect() as conn:
        handed = conn.execute(
            sa.select(upload_document.c.his_handed_at).where(upload_document.c.id == key)
        ).scalar()
    assert handed is None
    monkeypatch.setattr(service, "his", his)
    import datetime as dt

    later = service.clock() + dt.timedelta(minutes=5)
    monkeypatch.setattr(service, "clock", lambda: later)
    service.sweep(force=True)
    with service.engine.connect() as conn:
        handed = conn.execute(
            sa.select(upload_document.c.his_handed_at).where(upload_document.c.id == key)
        ).scalar()
    assert handed is not None


def test_a_binary_no_document_took_is_removed_after_a_while(
    small: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = small.app.extensions["uploads"]
    made = post_file(small, "patient", samples.pdf())
    assert made.status_code == 201
    assert usage(small)["used"] > 0
    import datetime as dt

    later = service.clock() + dt.timedelta(seconds=service.unattached_s + 1)
    monkeypatch.setattr(service, "clock", lambda: later)
    service.sweep(force=True)
    assert usage(small)["used"] == 0
    assert store_files(Path(small.app.config["SETTINGS"].uploads_dir)) == []


def test_an_upload_whose_bytes_are_gone_answers_404_and_is_audited_failed(world: People) -> None:
    """A store restored from a copy older than the database: the row is there, its bytes are
    not. The caller gets a 404 OperationOutcome (never a 500 or a partial body) and the audit
    trail records a failed read."""
    from smart_auth.audit.tables import audit_event

    binary, _ = upload(world, "patient", samples.image("PNG"))
    key = binary.removeprefix("upload-")
    store = Path(world.app.config["SETTINGS"].uploads_dir)
    (store / "objects" / key[:2] / key).unlink()
    for accept in ("image/png", "application/fhir+json"):
        got = world.app.test_client().get(
            f"/fhir/Binary/{binary}", headers={**world.tokens["patient"], "Accept": accept}
        )
        assert got.status_code == 404
        assert got.get_json()["resourceType"] == "OperationOutcome"
    world.app.extensions["audit_writer"].flush()
    with world.app.extensions["state_engine"].connect() as conn:
        outcomes = [
            r.outcome
            for r in conn.execute(
                sa.select(audit_event.c.outcome).where(audit_event.c.entity_ids.contains(binary))
            )
        ]
    assert outcomes.count("failed") == 2
