"""Loading the HIS's imaging orders into a real Orthanc as synthetic studies."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from demo.his_studies import images_in_pacs, load_his_studies, order_rows, study_spec
from demo.synthetic import build_study
from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his import schema
from fhir_gateway.his.sql import make_engine
from tests.dicomweb.conftest import Pacs, new_uid

NOW = datetime(2024, 9, 1, 12, 0)
REPO = Path(__file__).resolve().parents[2]


def _his(path: Path) -> tuple[sa.Engine, dict[str, dict[str, Any]]]:
    """A small HIS: two patients (CNP and PESEL), one referrer, six imaging orders."""
    engine = sa.create_engine(f"sqlite:///{path}")
    schema.metadata.create_all(engine)
    tag = uuid.uuid4().hex[:8].upper()
    orders: dict[str, dict[str, Any]] = {
        "ct": {"modality": "CT", "body_part": "CHEST", "series_count": 2, "instance_count": 5,
               "study_uid": new_uid(), "status": "reported", "patient_id": 1},
        "mr": {"modality": "MR", "body_part": "LSPINE", "series_count": 2,
               "instance_count": None, "study_uid": new_uid(), "status": "performed",
               "patient_id": 2},
        "empty": {"modality": "US", "body_part": None, "series_count": 1, "instance_count": 0,
                  "study_uid": new_uid(), "status": "performed", "patient_id": 1},
        "bad": {"modality": "CR", "body_part": None, "series_count": 1, "instance_count": 1,
                "study_uid": "not-a-uid", "status": "performed", "patient_id": 2},
        "ordered": {"modality": "MG", "body_part": "BREAST", "series_count": None,
                    "instance_count": None, "study_uid": None, "status": "ordered",
                    "patient_id": 2},
        "report_only": {"modality": "CT", "body_part": "HEAD", "series_count": None,
                        "instance_count": None, "study_uid": new_uid(), "status": "reported",
                        "patient_id": 1},
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(schema.department.insert(), [
            {"id": 1, "code": "RAD", "name": "Radiologie", "kind": "imaging", "updated_at": NOW},
        ])  # fmt: skip
        conn.execute(schema.specialty.insert(), [{"code": "RAD", "name": "Radiologie"}])
        conn.execute(schema.doctor.insert(), [
            {"id": 1, "code": "D1", "family": "Popescu", "given": "Mihai", "prefix": "Dr.",
             "gender": "M", "specialty_code": "RAD", "department_id": 1, "updated_at": NOW},
        ])  # fmt: skip
        conn.execute(schema.patient.insert(), [
            {"id": 1, "mrn": f"MRN-{tag}-1", "national_id": f"2780314{tag[:6]}",
             "national_id_kind": "CNP", "family": "Ștefănescu", "given": "Ana-Maria",
             "gender": "F", "birth_date": date(1978, 3, 14), "updated_at": NOW},
            {"id": 2, "mrn": f"MRN-{tag}-2", "national_id": f"6901210{tag[:4]}",
             "national_id_kind": "PESEL", "family": "Żółkiewski", "given": "Łukasz",
             "gender": "U", "birth_date": date(1969, 1, 21), "updated_at": NOW},
        ])  # fmt: skip
        for n, (key, order) in enumerate(orders.items(), start=1):
            conn.execute(schema.imaging_order.insert(), {
                "id": n, "accession_number": f"{key.upper()[:3]}{tag}", "referrer_id": 1,
                "department_id": 1, "description": f"{key} description",
                "ordered_at": datetime(2024, 5, n, 8, 0), "updated_at": NOW,
                "performed_at": datetime(2024, 5, n, 9, 30) if order["study_uid"] else None,
                **order,
            })  # fmt: skip
            order["accession_number"] = f"{key.upper()[:3]}{tag}"
    return engine, orders


def test_orders_with_a_study_uid_become_studies(tmp_path: Path, backend: DimseBackend) -> None:
    engine, orders = _his(tmp_path / "his.sqlite")
    report = load_his_studies(engine, backend, max_size=32)
    assert (report.studies, report.instances) == (2, 5 + 2)
    assert report.skipped_no_images == 2  # instance_count 0; reported without images yet
    assert [accession for accession, _ in report.failures] == [orders["bad"]["accession_number"]]

    [ct] = backend.find_studies({"AccessionNumber": str(orders["ct"]["accession_number"])})
    assert ct.StudyInstanceUID == orders["ct"]["study_uid"]
    assert ct.PatientID.startswith("MRN-")
    assert str(ct.PatientName) == "Ștefănescu^Ana-Maria"
    assert str(ct.ReferringPhysicianName) == "Popescu^Mihai^^Dr."
    assert ct.StudyDate == "20240501"
    assert int(ct.NumberOfStudyRelatedSeries) == 2
    assert int(ct.NumberOfStudyRelatedInstances) == 5
    [mr] = backend.find_studies({"StudyInstanceUID": str(orders["mr"]["study_uid"])})
    assert int(mr.NumberOfStudyRelatedInstances) == 2  # no count in the HIS: one per series
    for skipped in ("empty", "report_only"):
        assert backend.find_studies({"StudyInstanceUID": orders[skipped]["study_uid"]}) == []

    again = load_his_studies(engine, backend, max_size=32)
    assert (again.studies, again.skipped_present) == (0, 2)
    engine.dispose()


def test_patient_id_can_be_the_national_id(tmp_path: Path, backend: DimseBackend) -> None:
    engine, orders = _his(tmp_path / "his.sqlite")
    load_his_studies(engine, backend, patient_id_source="national_id", max_size=16, limit=2)
    [mr] = backend.find_studies({"StudyInstanceUID": str(orders["mr"]["study_uid"])})
    assert mr.PatientID.startswith("6901210")
    assert mr.PatientSex == "O"
    assert str(mr.PatientName) == "Żółkiewski^Łukasz"
    engine.dispose()


def test_pacs_load_his_command(tmp_path: Path, pacs: Pacs) -> None:
    engine, orders = _his(tmp_path / "his.sqlite")
    engine.dispose()
    done = subprocess.run(
        [sys.executable, "-m", "demo.cli_pacs", "load-his",
         "--var-dir", str(pacs.process.config.var_dir),
         "--his-url", f"sqlite:///{tmp_path / 'his.sqlite'}", "--max-size", "16"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 studies (7 instances) stored" in done.stdout
    assert "2 without images, 1 failed" in done.stdout
    assert f"{orders['bad']['accession_number']}: study_uid is not a valid UID" in done.stderr


def test_same_rule_as_the_his_generator() -> None:
    """The HIS generator states which orders have images; the loader follows the same rule."""
    imaging = pytest.importorskip("demo.synth.imaging")
    for status in ("ordered", "performed", "reported", "cancelled"):
        for series_count in (None, 2):
            row = {"status": status, "series_count": series_count, "instance_count": 4,
                   "study_uid": "2.25.1"}  # fmt: skip
            assert images_in_pacs(SimpleNamespace(**row)) == imaging.images_in_pacs(row)


def test_the_demo_set_has_unique_and_reproducible_uids(sqlite_his: str) -> None:
    """Every study of the test HIS, as the demo and the tests load it: no SOP Instance UID or
    Series Instance UID twice, across the whole set, and the same UIDs when built again."""
    engine = make_engine(sqlite_his)
    try:
        specs = [study_spec(row, max_size=16) for row in order_rows(engine) if images_in_pacs(row)]
    finally:
        engine.dispose()
    assert any(spec.series_count > 10 for spec in specs)  # the case that once collided

    def uids() -> tuple[list[str], dict[str, str]]:
        sops: list[str] = []
        series_of: dict[str, str] = {}  # series UID -> its study
        for spec in specs:
            for ds in build_study(spec):
                sops.append(str(ds.SOPInstanceUID))
                owner = series_of.setdefault(str(ds.SeriesInstanceUID), spec.study_uid)
                assert owner == spec.study_uid
        return sops, series_of

    sops, series_of = uids()
    assert len(sops) == sum(spec.instance_count for spec in specs)
    assert len(set(sops)) == len(sops)
    assert len(series_of) == sum(min(s.series_count, s.instance_count) for s in specs)
    assert set(sops).isdisjoint(series_of)
    assert uids() == (sops, series_of)
