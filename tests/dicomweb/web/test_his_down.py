"""A HIS that is down while a patient's DICOMweb request needs it (the grant's DICOM PatientIDs
come from the HIS): 503 with Retry-After in DICOM JSON, never a 500, and the decision is in the
audit trail as a failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from demo.faultproxy import FaultProxy
from dicomweb.backends.dimse import DimseBackend
from gateway.app import create_app
from smart_auth.audit.tables import audit_event
from tests.conftest import app_config
from tests.credentials import patient_client
from tests.dicomweb.conftest import Pacs, new_uid


@pytest.mark.postgres
def test_a_down_his_is_503_and_audited(postgres_his: str, pacs: Pacs, tmp_path: Path) -> None:
    upstream = make_url(postgres_his)
    with FaultProxy("127.0.0.1", upstream.port or 5432, lifetime_s=120) as proxy:
        his = upstream.set(port=proxy.port).render_as_string(hide_password=False)
        backend = DimseBackend(pacs.settings())
        app = create_app(
            app_config(his, dev_open_access=False, his_timeout_s=2),
            pacs=backend,
            pacs_settings=pacs.settings(),
        )
        try:
            # patient 1's own app, launched while the HIS answers (a real SMART token)
            client = patient_client(app, 1, "patient/*.rs")
            proxy.mode = "close"  # the HIS resets every connection
            study = new_uid()
            asked = {
                "/dicomweb/studies": "search",
                f"/dicomweb/studies/{study}/series": "search",
                f"/dicomweb/studies/{study}": "wado-retrieve",
            }
            for path in asked:
                rsp = client.get(path, headers={"Accept": "application/dicom+json"})
                assert rsp.status_code == 503, (path, rsp.status_code)
                assert rsp.headers["Retry-After"]
                assert rsp.mimetype == "application/dicom+json"
                text = rsp.get_data(as_text=True)
                assert str(proxy.port) not in text
                assert "127.0.0.1" not in text
            app.extensions["audit_writer"].flush()
            with app.extensions["state_engine"].connect() as conn:
                rows = conn.execute(
                    sa.select(
                        audit_event.c.action, audit_event.c.resource_type, audit_event.c.outcome
                    )
                ).all()
        finally:
            app.extensions["audit_writer"].close()
            backend.close()
    failed = [tuple(r) for r in rows if r.resource_type == "ImagingStudy"]
    assert sorted(failed) == sorted((action, "ImagingStudy", "failed") for action in asked.values())
