"""A C-GET whose sub-operations fail never answers as a complete retrieval.

The peer is a pynetdicom Query/Retrieve SCP the test runs, holding one study of a HIS patient;
it fails the C-STORE sub-operations of chosen instances as a PACS that cannot read their files
does (PS3.4 §C.4.3.1.3: 0xB000 with the Failed SOP Instance UID List when some failed, 0xA702
when all did). Orthanc cannot be made to fail a sub-operation on demand, so this stand-in is
for that fault alone; the gateway in front of it is the production one, its caller holds a real
SMART token. What must hold (PS3.18 §8.6, the project's DICOMweb error conventions): before
the first byte a 502 with a DICOM JSON error; once the multipart body has begun, the stream is
cut so the client sees an incomplete response; the cache never takes the partial study for the
whole one; the audit trail says the retrieval failed or was partial.
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from access import audit
from demo.orthanc import free_port
from demo.synthetic import Patient, StudySpec, build_study
from dicomweb import multipart
from dicomweb.backends.dimse import DimseBackend
from dicomweb.backends.settings import PacsSettings
from dicomweb.web.context import StreamAborted
from gateway.app import create_app
from smart_auth.audit.tables import audit_event
from tests.conftest import app_config
from tests.dicomweb.conftest import new_uid
from tests.dicomweb.web.conftest import bearer, smart_token

COUNT = 5


@dataclass
class FailingPacs:
    """A Study Root C-FIND and C-GET SCP over ``datasets``; the C-STORE sub-operation of every
    instance in ``failing`` fails at the PACS (the handler has no dataset to send)."""

    datasets: list[Dataset]
    failing: set[str] = field(default_factory=set)
    gets: int = 0

    def __post_init__(self) -> None:
        ae = AE(ae_title="FAILPACS")
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
        for cx in StoragePresentationContexts:  # C-GET sends on the requestor's association
            ae.add_supported_context(
                cx.abstract_syntax, ALL_TRANSFER_SYNTAXES, scu_role=False, scp_role=True
            )
        self.port = free_port()
        handlers = [(evt.EVT_C_FIND, self._find), (evt.EVT_C_GET, self._get)]
        self.server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)
        self._lock = threading.Lock()

    def settings(self) -> PacsSettings:
        return PacsSettings(
            host="127.0.0.1", port=self.port, called_aet="FAILPACS", dimse_timeout_s=10.0
        )

    def _matching(self, ident: Dataset) -> list[Dataset]:
        out = []
        for ds in self.datasets:
            keys = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID")
            if all(not ident.get(k) or str(ident.get(k)) == str(ds.get(k)) for k in keys):
                out.append(ds)
        return out

    def _find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        ident = event.identifier
        level = str(ident.QueryRetrieveLevel)
        found = self._matching(ident)
        if not found:
            return
        first = found[0]
        if level == "STUDY":
            rows = [first]
        elif level == "SERIES":
            rows = list({str(ds.SeriesInstanceUID): ds for ds in found}.values())
        else:
            rows = found
        for ds in rows:
            row = Dataset()
            row.QueryRetrieveLevel = level
            for keyword in ("PatientID", "StudyInstanceUID", "StudyDate", "PatientName"):
                setattr(row, keyword, ds.get(keyword, ""))
            if level == "STUDY":
                row.SOPClassesInStudy = sorted({str(d.SOPClassUID) for d in found})
                row.ModalitiesInStudy = str(ds.Modality)
                row.NumberOfStudyRelatedInstances = len(found)
            if level in ("SERIES", "IMAGE"):
                row.SeriesInstanceUID = ds.SeriesInstanceUID
                row.Modality = ds.Modality
                row.SeriesNumber = ds.get("SeriesNumber", 1)
            if level == "IMAGE":
                row.SOPInstanceUID = ds.SOPInstanceUID
                row.SOPClassUID = ds.SOPClassUID
                row.InstanceNumber = ds.get("InstanceNumber", 1)
            yield 0xFF00, row

    def _get(self, event: Any) -> Iterator[Any]:
        with self._lock:
            self.gets += 1
        found = self._matching(event.identifier)
        yield len(found)
        for ds in found:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            # what is not a dataset, pynetdicom counts as a failed sub-operation (the PACS has
            # no file to send)
            yield 0xFF00, ("unreadable" if str(ds.SOPInstanceUID) in self.failing else ds)

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def patient(sqlite_his: str) -> tuple[int, str]:
    engine = sa.create_engine(sqlite_his)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT id, mrn FROM patient ORDER BY id DESC")).first()
    finally:
        engine.dispose()
    assert row is not None
    return int(row[0]), str(row[1])


@pytest.fixture
def peer(patient: tuple[int, str]) -> Iterator[FailingPacs]:
    spec = StudySpec(
        study_uid=new_uid(),
        patient=Patient(patient[1], "Failing", "Retrieval", datetime(1980, 1, 1).date(), "F"),
        accession_number="FAIL1",
        modality="CT",
        performed_at=datetime(2025, 5, 6, 9, 0),
        instance_count=COUNT,
        max_size=16,
        seed=11,
    )
    running = FailingPacs(list(build_study(spec)))
    yield running
    running.stop()


@dataclass
class Gateway:
    app: Any
    token: str
    study: str
    uids: list[str]  # the study's SOP Instance UIDs in the order the peer sends them

    def get(self, path: str, **kwargs: Any) -> Any:
        headers = {**bearer(self.token), **kwargs.pop("headers", {})}
        return self.app.test_client().get(
            f"/dicomweb/studies/{self.study}{path}", headers=headers, **kwargs
        )

    def events(self, action: str) -> list[str]:
        """The outcomes of the study's audit events of ``action``, sorted."""
        self.app.extensions["audit_writer"].flush()
        with self.app.extensions["state_engine"].connect() as conn:
            rows = conn.execute(
                sa.select(audit_event.c.outcome).where(
                    audit_event.c.action == action, audit_event.c.entity_ids == self.study
                )
            ).all()
        return sorted(str(r.outcome) for r in rows)


@pytest.fixture
def gateway(
    peer: FailingPacs, patient: tuple[int, str], sqlite_his: str, tmp_path: Path
) -> Iterator[Gateway]:
    from smart_auth.session import sign_in

    settings = peer.settings()
    backend = DimseBackend(settings)
    app = create_app(
        app_config(
            sqlite_his,
            dev_open_access=False,
            state_url=f"sqlite:///{tmp_path / 'state.sqlite'}",
            dicomweb_cache_dir=str(tmp_path / "cache"),
        ),
        pacs=backend,
        pacs_settings=settings,
    )

    @app.get("/_test/sign-in/<int:account_id>")
    def _sign_in(account_id: int) -> str:
        sign_in(account_id)
        return "ok"

    token = smart_token(app, patient[0])
    uids = [str(ds.SOPInstanceUID) for ds in peer.datasets]
    yield Gateway(app, token, str(peer.datasets[0].StudyInstanceUID), uids)
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()
    backend.close()


def _error_comment(rsp: Any) -> str:
    assert rsp.mimetype == "application/dicom+json", rsp.get_data(as_text=True)[:300]
    return str(rsp.get_json()[0]["00000902"]["Value"][0])


def _parts(rsp: Any) -> list[str]:
    assert rsp.status_code == 200, rsp.get_data(as_text=True)[:300]
    return [
        str(dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)
        for _, data in multipart.read(rsp.data, rsp.headers["Content-Type"])
    ]


def _cut(rsp: Any) -> int:
    """Read a streamed body to its end; the number of chunks before it was cut (it must be)."""
    assert rsp.status_code == 200, rsp.get_data(as_text=True)[:300]
    read: list[bytes] = []
    with pytest.raises(StreamAborted):
        _read_into(rsp.response, read)
    return len(read)


def _read_into(chunks: Any, read: list[bytes]) -> None:
    for chunk in chunks:
        read.append(chunk)


def test_a_complete_retrieval_is_whole_and_then_served_from_the_cache(gateway, peer):
    assert _parts(gateway.get("")) == gateway.uids
    assert gateway.events("wado-retrieve") == ["allowed"]
    gets = peer.gets
    assert sorted(_parts(gateway.get(""))) == sorted(gateway.uids)
    assert peer.gets == gets  # the cache holds the complete study


def test_a_retrieval_whose_sub_operations_all_fail_is_a_502(gateway, peer):
    peer.failing = set(gateway.uids)
    rsp = gateway.get("")
    assert rsp.status_code == 502  # not the 404 of a study without instances
    assert _error_comment(rsp) == "The PACS could not send every instance asked for"
    assert "127.0.0.1" not in rsp.get_data(as_text=True)
    assert "FAILPACS" not in rsp.get_data(as_text=True)
    assert gateway.events("wado-retrieve") == ["allowed", "failed"]


def test_one_failed_sub_operation_cuts_the_stream_and_is_audited_partial(gateway, peer):
    peer.failing = {gateway.uids[-1]}
    assert _cut(gateway.get("", buffered=False)) > 0  # parts went out, then the cut
    assert gateway.events("wado-retrieve") == ["allowed", "partial"]
    # the partial study is not taken for the whole: asked again, the PACS is asked again
    gets = peer.gets
    _cut(gateway.get("", buffered=False))
    assert peer.gets == gets + 1


def test_a_failure_amid_the_study_cuts_the_stream_too(gateway, peer):
    peer.failing = {gateway.uids[1]}
    _cut(gateway.get("", buffered=False))
    assert gateway.events("wado-retrieve") == ["allowed", "partial"]


class _OtherTrail:
    """The audit sink of some other request (or app) that is current where a body is read."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def append(self, record: Any) -> None:
        self.records.append(record)


def test_a_cut_read_under_another_requests_ledger_lands_in_its_own_trail(gateway, peer):
    """The body of a streamed retrieval is produced after its request's context is gone, where
    another request's audit ledger may be current (a worker thread that moved on): the cut is
    still written to the trail the retrieval was admitted under, and nowhere else."""
    peer.failing = {gateway.uids[-1]}
    rsp = gateway.get("", buffered=False)
    other = _OtherTrail()
    token = audit.use(other)
    try:
        _cut(rsp)
    finally:
        audit.reset(token)
    assert gateway.events("wado-retrieve") == ["allowed", "partial"]
    assert other.records == []


def test_a_failed_first_sub_operation_still_ends_in_a_cut(gateway, peer):
    """The first instance fails, the others arrive: the response starts with them, then the
    outcome (known at the end) cuts it."""
    peer.failing = {gateway.uids[0]}
    _cut(gateway.get("", buffered=False))


def test_a_series_retrieval_is_cut_as_well(gateway, peer):
    series = str(peer.datasets[0].SeriesInstanceUID)
    peer.failing = {gateway.uids[-1]}
    _cut(gateway.get(f"/series/{series}", buffered=False))


def test_one_instance_that_the_pacs_fails_to_send_is_a_502_not_a_404(gateway, peer):
    ds = peer.datasets[2]
    peer.failing = {str(ds.SOPInstanceUID)}
    rsp = gateway.get(f"/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")
    assert rsp.status_code == 502
    assert _error_comment(rsp) == "The PACS could not send every instance asked for"
    assert gateway.events("wado-retrieve") == ["allowed", "failed"]
    other = peer.datasets[3]
    rsp = gateway.get(f"/series/{other.SeriesInstanceUID}/instances/{other.SOPInstanceUID}")
    assert _parts(rsp) == [str(other.SOPInstanceUID)]


def test_an_export_with_failed_sub_operations_is_cut_or_refused(gateway, peer):
    peer.failing = {gateway.uids[-1]}
    _cut(gateway.get("/export", buffered=False))
    assert gateway.events("export") == ["allowed", "partial"]
    peer.failing = set(gateway.uids)
    rsp = gateway.get("/export")
    assert rsp.status_code == 502
    assert gateway.events("export") == ["allowed", "failed", "partial"]


def test_a_failed_sub_operation_of_another_patients_instance_is_not_the_callers(gateway, peer):
    """A PACS that files another patient's instance under the caller's study fails to send it
    (say its SOP class was not negotiated): the caller got every instance they may have, so
    their retrieval is whole; the other patient's instance never leaves either way."""
    theirs = copy.deepcopy(peer.datasets[0])
    theirs.PatientID = "NOT-THE-CALLER"
    theirs.SOPInstanceUID = new_uid()
    theirs.file_meta.MediaStorageSOPInstanceUID = theirs.SOPInstanceUID
    peer.datasets.append(theirs)
    peer.failing = {str(theirs.SOPInstanceUID)}
    assert sorted(_parts(gateway.get(""))) == sorted(gateway.uids)
    assert gateway.events("wado-retrieve") == ["allowed"]
    # asked for by its own path, it is missing to the caller, as any other patient's is
    rsp = gateway.get(f"/series/{theirs.SeriesInstanceUID}/instances/{theirs.SOPInstanceUID}")
    assert rsp.status_code == 404
