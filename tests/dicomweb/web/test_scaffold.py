"""The DICOMweb layer's shared access seam, against the real Orthanc and the test HIS."""

from __future__ import annotations

from dicomweb.web.context import PacsScope
from tests.dicomweb.web.conftest import grant_of


def test_his_studies_are_in_the_pacs(his_pacs):
    assert his_pacs.report.studies + his_pacs.report.skipped_present > 0
    assert his_pacs.studies


def test_scope_of_a_patient_grant_is_its_mrns(his_pacs, client_for):
    pid, mrn = next(iter(his_pacs.studies.values()))
    client = client_for({pid})
    ctx = client.application.extensions["dicomweb"]
    assert ctx.scope(grant_of(client)) == PacsScope(frozenset({mrn}))


def test_impose_replaces_any_patient_id_asked():
    scope = PacsScope(frozenset({"A"}))
    assert scope.impose({"PatientID": "B", "ModalitiesInStudy": "CT"}) == {
        "PatientID": ["A"],
        "ModalitiesInStudy": "CT",
    }
