"""QIDO-RS of one study's series and instances in one C-FIND, the access check folded in.

The caller's PatientIDs travel as a matching key of the series (or image) level C-FIND, so the
search itself proves that the study is the caller's. These tests check, against the real
Orthanc, that the PACS does filter by PatientID below study level (without that the folded
check would be no check), and that the gateway then needs one round trip for an answer with
rows, while a study of another patient still answers exactly like a missing one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from dicomweb.backends.dimse import DimseBackend
from gateway.app import create_app
from tests.conftest import app_config
from tests.credentials import patient_client
from tests.dicomweb.conftest import CALLING_AET
from tests.dicomweb.web.conftest import HisPacs

JSON = {"Accept": "application/dicom+json"}
MISSING = "2.25.987654321987654321"


class CountingBackend(DimseBackend):
    """The real DIMSE backend, counting the C-FINDs it sends, by level."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.finds: list[str] = []
        self._count_lock = threading.Lock()

    def _find(self, level: str, query: Any, assoc: Any, **uids: str | None) -> list[Dataset]:
        with self._count_lock:
            self.finds.append(level)
        return super()._find(level, query, assoc, **uids)


@pytest.fixture(scope="module")
def two(his_pacs: HisPacs) -> dict[str, Any]:
    """Patient A and B with their MRNs, one study of each."""
    patients = sorted({pid for pid, _ in his_pacs.studies.values()})
    a, b = patients[0], patients[1]
    study_a, study_b = his_pacs.studies_of(a)[0], his_pacs.studies_of(b)[0]
    return {
        "a": a,
        "b": b,
        "study_a": study_a,
        "study_b": study_b,
        "mrn_a": his_pacs.studies[study_a][1],
        "mrn_b": his_pacs.studies[study_b][1],
    }


def raw_find(his_pacs: HisPacs, level: str, **keys: str) -> list[Dataset]:
    """A plain pynetdicom C-FIND to Orthanc (Study Root), none of the gateway's own code."""
    ae = AE(CALLING_AET)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    process = his_pacs.pacs.process
    assoc = ae.associate("127.0.0.1", process.dicom_port, ae_title=process.aet)
    assert assoc.is_established
    ident = Dataset()
    ident.QueryRetrieveLevel = level
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "PatientID"):
        setattr(ident, keyword, "")
    for keyword, value in keys.items():
        setattr(ident, keyword, value)
    found: list[Dataset] = []
    try:
        for status, ds in assoc.send_c_find(ident, StudyRootQueryRetrieveInformationModelFind):
            assert "Status" in status
            if status.Status in (0xFF00, 0xFF01) and ds is not None:
                found.append(ds)
            else:
                assert status.Status == 0x0000
    finally:
        assoc.release()
    return found


def test_orthanc_matches_patient_id_at_series_and_image_level(his_pacs, two):
    """The fact the one-round-trip search rests on (Orthanc, Study Root model)."""
    study_b, mrn_a, mrn_b = two["study_b"], two["mrn_a"], two["mrn_b"]
    for level in ("SERIES", "IMAGE"):
        own = raw_find(his_pacs, level, StudyInstanceUID=study_b, PatientID=mrn_b)
        assert own, level
        assert {str(ds.PatientID) for ds in own} == {mrn_b}
        assert raw_find(his_pacs, level, StudyInstanceUID=study_b, PatientID=mrn_a) == []
        # a list of PatientIDs (a grant of several patients) still excludes B's study
        listed = f"{mrn_a}\\NOBODY-{mrn_a}"
        assert raw_find(his_pacs, level, StudyInstanceUID=study_b, PatientID=listed) == []
        assert len(raw_find(his_pacs, level, StudyInstanceUID=study_b, PatientID=f"{mrn_b}\\X"))


@pytest.fixture
def counted(his_pacs: HisPacs) -> Iterator[Any]:
    """``counted(patients)``: (client, backend) for one patient's real token, C-FINDs
    counted."""
    made: list[CountingBackend] = []

    def build(patients: set[int]) -> tuple[Any, CountingBackend]:
        settings = his_pacs.pacs.settings()
        backend = CountingBackend(settings)
        made.append(backend)
        app = create_app(
            app_config(his_pacs.his_url, dev_open_access=False),
            pacs=backend,
            pacs_settings=settings,
        )
        (patient,) = patients
        return patient_client(app, patient, "patient/*.rs"), backend

    yield build
    for backend in made:
        backend.close()


def get(client: Any, path: str) -> Any:
    return client.get("/dicomweb" + path, headers=JSON)


def test_series_of_an_own_study_is_one_c_find(his_pacs, counted, two):
    client, backend = counted({two["a"]})
    rsp = get(client, f"/studies/{two['study_a']}/series")
    assert rsp.status_code == 200
    series = rsp.get_json()
    assert series
    assert backend.finds == ["SERIES"]
    for item in series:
        assert item["0020000D"]["Value"] == [two["study_a"]]
        assert item["00100020"]["Value"] == [two["mrn_a"]]
        assert "00080020" in item  # study attributes come with the series (StudyDate)
    # the same answer as the unfolded way: the study's and then the series' C-FIND
    with DimseBackend(his_pacs.pacs.settings()) as plain:
        expected = plain.find_series(two["study_a"], {})
    assert [s["0020000E"]["Value"][0] for s in series] == [
        str(ds.SeriesInstanceUID) for ds in expected
    ]


def test_instances_of_an_own_series_is_one_c_find(counted, two):
    client, backend = counted({two["a"]})
    series = get(client, f"/studies/{two['study_a']}/series").get_json()
    uid = series[0]["0020000E"]["Value"][0]
    backend.finds.clear()
    rsp = get(client, f"/studies/{two['study_a']}/series/{uid}/instances")
    assert rsp.status_code == 200
    instances = rsp.get_json()
    assert len(instances) == int(series[0]["00201209"]["Value"][0])
    assert backend.finds == ["IMAGE"]
    first = instances[0]
    assert first["00080060"]["Value"] == series[0]["00080060"]["Value"]  # Modality
    assert first["00200011"]["Value"] == series[0]["00200011"]["Value"]  # SeriesNumber
    assert first["00100020"]["Value"] == [two["mrn_a"]]


@pytest.mark.parametrize(
    "suffix", ["/series", "/series?Modality=XX", "/instances", "/series/1.2.3/instances"]
)
def test_another_patients_study_is_404_exactly_like_a_missing_one(counted, two, suffix):
    client, _ = counted({two["a"]})
    other = get(client, f"/studies/{two['study_b']}{suffix}")
    missing = get(client, f"/studies/{MISSING}{suffix}")
    assert other.status_code == missing.status_code == 404
    assert other.get_data() == missing.get_data()
    # the patient's own study answers (its series, or an empty match), never 404; a series
    # it does not hold is a missing series (404), as in WADO-RS and the access contract
    own = get(client, f"/studies/{two['study_a']}{suffix}")
    if suffix == "/series/1.2.3/instances":
        assert own.status_code == 404
        return
    assert own.status_code == 200
    assert (own.get_json() == []) == (suffix == "/series?Modality=XX")


def test_a_patient_id_in_the_query_cannot_open_another_study(counted, two):
    client, _ = counted({two["a"]})
    for pid in (two["mrn_b"], "*", f"{two['mrn_a']},{two['mrn_b']}"):
        rsp = get(client, f"/studies/{two['study_b']}/series?PatientID={pid}")
        assert rsp.status_code == 404, pid
    assert (
        get(client, f"/studies/{two['study_a']}/series?PatientID={two['mrn_b']}").get_json() == []
    )
    assert get(client, f"/studies/{two['study_a']}/series?PatientID=*").get_json()
