"""C-ECHO and C-FIND against a real Orthanc (PS3.4 Annex A, §C.6.2)."""

from __future__ import annotations

import socket
import time

import pytest
from pydicom.multival import MultiValue

from dicomweb.backends import exchanges as ex
from dicomweb.backends.contexts import query_contexts
from dicomweb.backends.dimse import DimseBackend
from dicomweb.errors import PacsStatusError
from tests.dicomweb.conftest import Pacs, StoredStudy


def test_echo_answers_success(backend: DimseBackend) -> None:
    assert backend.echo() == 0x0000


def test_pooled_sockets_have_tcp_nodelay(backend: DimseBackend) -> None:
    backend.echo()
    lease = backend.pool.acquire(("query",), lambda: (query_contexts(), []))
    try:
        wrapper = lease.assoc.dul.socket
        assert wrapper is not None
        assert wrapper.socket is not None
        assert wrapper.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        backend.pool.release(lease)


def test_find_study_by_accession_number(
    backend: DimseBackend, stored: dict[str, StoredStudy]
) -> None:
    ct = stored["CT"].spec
    [study] = backend.find_studies({"AccessionNumber": ct.accession_number})
    assert study.StudyInstanceUID == ct.study_uid
    assert study.PatientID == ct.patient.patient_id
    assert study.ModalitiesInStudy == "CT"
    assert int(study.NumberOfStudyRelatedSeries) == 2
    assert int(study.NumberOfStudyRelatedInstances) == 30
    assert study.SOPClassesInStudy == "1.2.840.10008.5.1.4.1.1.2"
    assert study.StudyDate == "20240506"


@pytest.mark.parametrize(
    ("date_range", "inside", "outside"),
    [
        ("20240501-20240531", {"CT"}, {"MR", "CR", "MG", "US"}),
        ("-20231231", {"MR"}, {"CT", "CR", "MG", "US"}),
        ("20240301-", {"CT", "MG", "US"}, {"MR", "CR"}),
        ("20240115", {"CR"}, {"CT", "MR", "MG", "US"}),
    ],
)
def test_find_studies_by_date_range(
    backend: DimseBackend,
    stored: dict[str, StoredStudy],
    date_range: str,
    inside: set[str],
    outside: set[str],
) -> None:
    found = {str(d.StudyInstanceUID) for d in backend.find_studies({"StudyDate": date_range})}
    assert {stored[k].spec.study_uid for k in inside} <= found
    assert not {stored[k].spec.study_uid for k in outside} & found


def test_find_studies_by_modalities_in_study(
    backend: DimseBackend, stored: dict[str, StoredStudy]
) -> None:
    mr = {str(d.StudyInstanceUID) for d in backend.find_studies({"ModalitiesInStudy": "MR"})}
    assert stored["MR"].spec.study_uid in mr
    assert stored["CT"].spec.study_uid not in mr
    either = backend.find_studies({"ModalitiesInStudy": ["CR", "MG"]})
    uids = {str(d.StudyInstanceUID) for d in either}
    assert {stored["CR"].spec.study_uid, stored["MG"].spec.study_uid} <= uids
    assert all(_values(d.ModalitiesInStudy) & {"CR", "MG"} for d in either)


def _values(value: object) -> set[str]:
    return {str(v) for v in value} if isinstance(value, MultiValue) else {str(value)}


@pytest.mark.parametrize(
    ("pattern", "key"),
    [("ȘTEF*", "CT"), ("Ștefănescu^*", "CT"), ("*ółk*", "MR"), ("WĄSOWSKA*", "MG")],
)
def test_find_by_patient_name_with_diacritics(
    backend: DimseBackend, stored: dict[str, StoredStudy], pattern: str, key: str
) -> None:
    found = backend.find_studies({"PatientName": pattern})
    by_uid = {str(d.StudyInstanceUID): d for d in found}
    study = by_uid[stored[key].spec.study_uid]
    assert str(study.PatientName) == stored[key].spec.patient.name
    assert study.SpecificCharacterSet == "ISO_IR 192"


def test_study_results_are_sorted_newest_first_and_paged(
    backend: DimseBackend, stored: dict[str, StoredStudy]
) -> None:
    query = {"AccessionNumber": [s.spec.accession_number for s in stored.values()]}
    everything = backend.find_studies(query)
    dates = [str(d.StudyDate) for d in everything]
    assert dates == sorted(dates, reverse=True)
    assert [d.StudyInstanceUID for d in everything][:1] == [stored["US"].spec.study_uid]
    page = backend.find_studies(query, limit=2, offset=1)
    assert [d.StudyInstanceUID for d in page] == [d.StudyInstanceUID for d in everything[1:3]]


def test_find_series_of_a_study(backend: DimseBackend, stored: dict[str, StoredStudy]) -> None:
    mr = stored["MR"].spec
    series = backend.find_series(mr.study_uid, {})
    assert [int(s.SeriesNumber) for s in series] == [1, 2, 3]
    assert [int(s.NumberOfSeriesRelatedInstances) for s in series] == [3, 3, 3]
    assert {s.Modality for s in series} == {"MR"}
    assert series[0].SeriesDescription == "T1 SE sag"
    only = backend.find_series(mr.study_uid, {"SeriesNumber": "2"})
    assert [int(s.SeriesNumber) for s in only] == [2]


def test_find_instances_of_study_and_of_one_series(
    backend: DimseBackend, stored: dict[str, StoredStudy]
) -> None:
    ct = stored["CT"].spec
    instances = backend.find_instances(ct.study_uid, None, {})
    assert len(instances) == 30
    assert len({str(i.SOPInstanceUID) for i in instances}) == 30
    assert {str(i.SOPClassUID) for i in instances} == {"1.2.840.10008.5.1.4.1.1.2"}
    first_series = str(instances[0].SeriesInstanceUID)
    in_series = backend.find_instances(ct.study_uid, first_series, {})
    assert len(in_series) == 15
    assert [int(i.InstanceNumber) for i in in_series] == list(range(1, 16))
    paged = backend.find_instances(ct.study_uid, first_series, {}, limit=5, offset=10)
    assert [int(i.InstanceNumber) for i in paged] == [11, 12, 13, 14, 15]


def test_unknown_study_finds_nothing(backend: DimseBackend) -> None:
    assert backend.find_studies({"StudyInstanceUID": "2.25.1"}) == []
    assert backend.find_series("2.25.1", {}) == []


def test_failure_status_is_data_on_the_error(pacs: Pacs, backend: DimseBackend) -> None:
    bad = {0x00080052: ("CS", "NOTALEVEL"), 0x00100020: ("LO", "")}  # QueryRetrieveLevel
    lease = backend.pool.acquire(("query",), lambda: (query_contexts(), []))
    try:
        with pytest.raises(PacsStatusError) as caught:
            ex.c_find(lease.assoc, bad, 1, 10.0)
    finally:
        backend.pool.release(lease)
    assert caught.value.status == 0xC000
    assert caught.value.http_status == 502
    assert backend.echo() == 0  # the association stays usable


def test_association_reactor_never_takes_a_response(backend: DimseBackend) -> None:
    """pynetdicom's reactor polls the DIMSE queue every millisecond and, racing with a
    send_*() call, could take that call's response; the pool closes the queue to it."""
    backend.echo()
    lease = backend.pool.acquire(("query",), lambda: (query_contexts(), []))
    try:
        messages = lease.assoc.dimse.msg_queue
        messages.put((None, None))
        time.sleep(0.05)
        assert messages.qsize() == 1
        assert messages.get(timeout=1) == (None, None)
    finally:
        backend.pool.release(lease)
    assert backend.echo() == 0
