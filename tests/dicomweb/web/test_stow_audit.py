"""A STOW-RS cut off part-way still leaves its audit event: the instances that reached the PACS
are never stored unaudited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from pydicom.dataset import Dataset

from dicomweb.backends.base import StoreResult
from dicomweb.backends.dimse import DimseBackend
from gateway.app import create_app
from smart_auth.audit.tables import audit_event
from tests.conftest import app_config
from tests.dicomweb.web.test_stow import body, in_pacs, part10, post, study
from tests.smart_auth.test_audit_balp import assert_balp


class BreaksPartWay(DimseBackend):
    """The real DIMSE backend whose association breaks after the first instance is stored."""

    def store(self, datasets: Iterable[Dataset]) -> StoreResult:
        first, *_rest = list(datasets)
        super().store([first])
        raise ConnectionResetError("association aborted by the peer")


def _stow_events(app: Any) -> list[sa.Row[Any]]:
    app.extensions["audit_writer"].flush()
    engine = app.extensions["state_engine"]
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(audit_event).where(
                    audit_event.c.action == "create", audit_event.c.resource_type == "ImagingStudy"
                )
            ).all()
        )


def test_a_stow_failing_part_way_is_audited_with_the_study_it_reached(his_pacs: Any) -> None:
    settings = his_pacs.pacs.settings()
    backend = BreaksPartWay(settings)
    app = create_app(app_config(his_pacs.his_url), pacs=backend, pacs_settings=settings)
    try:
        datasets = study("STOW-CUT-1", count=3)
        uid = str(datasets[0].StudyInstanceUID)
        rsp = post(app.test_client(), body(*map(part10, datasets)))
        assert rsp.status_code >= 500
        assert len(in_pacs(his_pacs, uid)) == 1  # one instance reached the PACS
        (event,) = _stow_events(app)
        assert event.outcome == "failed"
        assert event.entity_ids == uid
    finally:
        app.extensions["audit_writer"].close()
        backend.close()


def test_a_stow_refused_after_the_decision_is_audited(his_pacs: Any) -> None:
    """A body the gateway cannot read is an allowed decision that failed: audited too."""
    settings = his_pacs.pacs.settings()
    backend = DimseBackend(settings)
    app = create_app(app_config(his_pacs.his_url), pacs=backend, pacs_settings=settings)
    try:
        rsp = post(app.test_client(), b"--stow-test-boundary\r\nnot a part")
        assert rsp.status_code == 400
        (event,) = _stow_events(app)
        assert event.outcome == "failed"
    finally:
        app.extensions["audit_writer"].close()
        backend.close()


def test_dicomweb_audit_events_follow_balp_and_their_references_resolve(his_pacs: Any) -> None:
    """QIDO, WADO and STOW through the gateway: the AuditEvents they leave validate, name each
    study by its UID as an identifier, and every reference they carry resolves."""
    settings = his_pacs.pacs.settings()
    backend = DimseBackend(settings)
    app = create_app(app_config(his_pacs.his_url), pacs=backend, pacs_settings=settings)
    client = app.test_client()
    try:
        uid = next(iter(his_pacs.studies))
        json_ = {"Accept": "application/dicom+json"}
        assert (
            client.get(f"/dicomweb/studies?StudyInstanceUID={uid}", headers=json_).status_code
            == 200
        )
        assert client.get(f"/dicomweb/studies/{uid}/metadata", headers=json_).status_code == 200
        stored = study("STOW-BALP-1", count=1)
        assert post(client, body(*map(part10, stored))).status_code == 200
        app.extensions["audit_writer"].flush()
        answer = client.get("/fhir/AuditEvent?entity-type=ImagingStudy&_count=50")
        assert answer.status_code == 200
        events = [e["resource"] for e in answer.get_json()["entry"]]
        assert len(events) >= 3
        named: set[str] = set()
        for event in events:
            assert_balp(event)
            for entity in event.get("entity", []):
                what = entity["what"]
                if "identifier" in what:
                    assert what["identifier"]["system"] == "urn:dicom:uid"
                    named.add(what["identifier"]["value"])
                if "reference" in what:
                    assert client.get(f"/fhir/{what['reference']}").status_code == 200
        assert {f"urn:oid:{uid}", f"urn:oid:{stored[0].StudyInstanceUID}"} <= named
    finally:
        app.extensions["audit_writer"].close()
        backend.close()
