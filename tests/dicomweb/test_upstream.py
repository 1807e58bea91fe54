"""The upstream DICOMweb backend against Orthanc's own DICOMweb, held to the DIMSE backend's
answers: one contract parametrised over both implementations of PacsBackend."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread

from demo.orthanc import free_port
from demo.synthetic import StudySpec, build_study
from dicomweb.backends import PacsBackend
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.upstream import UpstreamDicomwebBackend
from dicomweb.errors import PacsTimeout, PacsUnavailable
from tests.dicomweb.conftest import (
    Pacs,
    StoredStudy,
    dataset_bytes,
    demo_patient,
    new_uid,
    start_pacs,
)


def upstream_for(pacs: Pacs) -> UpstreamDicomwebBackend:
    proc = pacs.process
    return UpstreamDicomwebBackend(
        proc.http_url + "/dicom-web",
        user=proc.config.username,
        password=proc.password,
        timeout_s=10.0,
    )


@pytest.fixture(params=["dimse", "dicomweb"])
def any_backend(request: pytest.FixtureRequest, pacs: Pacs) -> Iterator[PacsBackend]:
    b: PacsBackend = (
        DimseBackend(pacs.settings()) if request.param == "dimse" else upstream_for(pacs)
    )
    yield b
    b.close()


def uids(found, key: str = "StudyInstanceUID") -> list[str]:
    return [str(d.get(key, "")) for d in found]


QUERIES = [
    {"ModalitiesInStudy": "MR"},
    {"StudyDate": "20240301-"},
    {"StudyDate": "-20231231"},
    {"PatientName": "Test^*"},
    {"ModalitiesInStudy": ["CR", "MG"]},
]


def test_echo(any_backend: PacsBackend) -> None:
    assert any_backend.echo() == 0x0000


@pytest.mark.parametrize("query", QUERIES)
def test_find_studies_agrees_with_dimse(pacs: Pacs, stored: dict[str, StoredStudy], query) -> None:
    with DimseBackend(pacs.settings()) as dimse, upstream_for(pacs) as web:
        assert uids(web.find_studies(query)) == uids(dimse.find_studies(query))


def test_find_study_fields(any_backend: PacsBackend, stored: dict[str, StoredStudy]) -> None:
    ct = stored["CT"].spec
    [study] = any_backend.find_studies({"AccessionNumber": ct.accession_number})
    assert study.StudyInstanceUID == ct.study_uid
    assert study.PatientID == ct.patient.patient_id
    assert int(study.NumberOfStudyRelatedSeries) == 2
    assert int(study.NumberOfStudyRelatedInstances) == 30


def test_series_and_instances_agree_with_dimse(pacs: Pacs, stored: dict[str, StoredStudy]) -> None:
    mr = stored["MR"].spec.study_uid
    with DimseBackend(pacs.settings()) as dimse, upstream_for(pacs) as web:
        series = web.find_series(mr, {})
        assert uids(series, "SeriesInstanceUID") == uids(
            dimse.find_series(mr, {}), "SeriesInstanceUID"
        )
        first = str(series[0].SeriesInstanceUID)
        got = uids(web.find_instances(mr, first, {}), "SOPInstanceUID")
        assert got == uids(dimse.find_instances(mr, first, {}), "SOPInstanceUID")
        every = uids(web.find_instances(mr, None, {}, limit=4, offset=2), "SOPInstanceUID")
        assert every == uids(
            dimse.find_instances(mr, None, {}, limit=4, offset=2), "SOPInstanceUID"
        )


def test_retrieve_study_streams_the_stored_instances(
    any_backend: PacsBackend, stored: dict[str, StoredStudy]
) -> None:
    ct = stored["CT"].spec
    retrieval = any_backend.retrieve_study(ct.study_uid)
    items = {str(dcmread(BytesIO(p), stop_before_pixels=True).SOPInstanceUID): p for p in retrieval}
    assert retrieval.outcome is not None
    assert retrieval.outcome.status == 0x0000
    assert retrieval.outcome.received == 30
    source = {str(ds.SOPInstanceUID): ds for ds in build_study(ct)}
    assert items.keys() == source.keys()
    for item in items.values():
        assert dcmread(BytesIO(dataset_bytes(item)), force=True)  # Part-10 as the PACS sent it


def test_retrieve_unknown_study_is_empty(any_backend: PacsBackend) -> None:
    retrieval = any_backend.retrieve_study(new_uid())
    assert list(retrieval) == []
    assert retrieval.outcome is not None
    assert retrieval.outcome.status == 0x0000


def test_store_then_find(any_backend: PacsBackend) -> None:
    spec = StudySpec(
        study_uid=new_uid(),
        patient=demo_patient(7),
        accession_number="",
        modality="CT",
        performed_at=datetime(2025, 1, 2, 3, 4),
        instance_count=3,
        max_size=16,
    )
    result = any_backend.store(build_study(spec))
    assert result.ok
    assert len(result.stored) == 3
    assert len(any_backend.find_instances(spec.study_uid, None, {})) == 3


def test_stopped_upstream_is_unavailable() -> None:
    with UpstreamDicomwebBackend(f"http://127.0.0.1:{free_port()}/dicom-web", timeout_s=2) as b:
        with pytest.raises(PacsUnavailable):
            b.find_studies({})
        with pytest.raises(PacsUnavailable):
            b.retrieve_study(new_uid())
        with pytest.raises(PacsUnavailable):
            b.echo()


def test_silent_upstream_is_a_timeout() -> None:
    """A server that accepts the connection and never answers: PacsTimeout (HTTP 504)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/dicom-web"
        with UpstreamDicomwebBackend(url, timeout_s=1) as b, pytest.raises(PacsTimeout):
            b.find_studies({})


def test_recovers_when_the_upstream_returns(tmp_path: Path) -> None:
    own = start_pacs(tmp_path)
    try:
        with upstream_for(own) as b:
            assert b.echo() == 0x0000
            own.process.stop()
            with pytest.raises(PacsUnavailable):
                b.find_studies({})
            own.process.start()
            assert b.find_studies({}) == []
    finally:
        own.process.stop()


def test_person_names_with_components_match_as_over_dimse(pacs: Pacs) -> None:
    """``^`` cannot reach Orthanc's QIDO as it is (the HTTP stack percent-encodes it and Orthanc
    does not decode it): the names still match exactly as over DIMSE."""
    patient = demo_patient(11)
    spec = StudySpec(
        study_uid=new_uid(),
        patient=patient,
        accession_number="",
        modality="CT",
        performed_at=datetime(2025, 3, 4, 5, 6),
        instance_count=1,
        max_size=16,
    )
    with DimseBackend(pacs.settings()) as dimse, upstream_for(pacs) as web:
        assert dimse.store(build_study(spec)).ok
        for name in (patient.name, f"{patient.family}^*", f"*^{patient.given}", "Test^Nobody*"):
            query = {"PatientName": name, "PatientID": patient.patient_id}
            expected = uids(dimse.find_studies(query))
            assert uids(web.find_studies(query)) == expected, name
            assert expected == ([] if "Nobody" in name else [spec.study_uid]), name
