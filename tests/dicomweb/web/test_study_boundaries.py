"""A path names one study, and only that study's data leaves; a study UID the PACS holds for two
patients leaves to each only its own instances. Against the real Orthanc, with real SMART
tokens (authorization on, no development open access).

Two HIS patients that have no studies in the session's PACS get some here, so the other tests'
listings are untouched: P owns ``own`` and ``other_own``, Q owns ``theirs``, and ``shared`` is a
Study Instance UID under which the PACS holds instances of both (a UID collision, or a
mis-filed instance): P's in series ``p_series``, Q's in ``q_series`` and, mis-filed, one in
``p_series`` too. Orthanc keeps them apart (its study identity is PatientID + Study UID) but a
C-GET by Study Instance UID answers every instance under the UID, whoever's it is.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from pydicom import dcmread
from pydicom.dataset import Dataset

from demo.synthetic import Patient, StudySpec, build_study
from dicomweb import multipart
from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his.sql import make_engine
from tests.dicomweb.conftest import new_uid
from tests.dicomweb.web.conftest import (
    HisPacs,
    close_signed_in_app,
    signed_in_app,
    smart_token,
)

JSON = {"Accept": "application/dicom+json"}
MISSING = "2.25.314159265358979323846264338327950288"


@dataclass(frozen=True)
class Uids:
    study: str
    series: str
    sop: str


@dataclass(frozen=True)
class Boundaries:
    p: int  # HIS patient ids
    q: int
    p_mrn: str
    q_mrn: str
    own: Uids  # P's study, its first series and instance
    other_own: Uids  # another study of P
    theirs: Uids  # Q's study
    shared: str  # the Study Instance UID of both
    p_series: str
    q_series: str
    p_sops: frozenset[str]  # P's instances under ``shared``
    q_sops: frozenset[str]  # Q's instances under ``shared``
    q_misfiled: str  # Q's instance in P's series


def _spec(mrn: str, study_uid: str, seed: int, count: int = 2) -> StudySpec:
    return StudySpec(
        study_uid=study_uid,
        patient=Patient(mrn, "Boundary", f"Test{seed}", datetime(1980, 1, 1).date(), "O"),
        accession_number=f"B{seed}",
        modality="CT",
        performed_at=datetime(2025, 3, 4, 9, 0),
        instance_count=count,
        max_size=16,
        seed=seed,
    )


def _first(datasets: list[Dataset]) -> Uids:
    ds = datasets[0]
    return Uids(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))


@pytest.fixture(scope="module")
def bounds(his_pacs: HisPacs) -> Boundaries:
    engine = make_engine(his_pacs.his_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, mrn FROM patient ORDER BY id")).all()
    finally:
        engine.dispose()
    with_studies = {pid for pid, _ in his_pacs.studies.values()}
    (p, p_mrn), (q, q_mrn) = [(int(i), str(m)) for i, m in rows if i not in with_studies][:2]
    own = list(build_study(_spec(p_mrn, new_uid(), 1)))
    other_own = list(build_study(_spec(p_mrn, new_uid(), 2)))
    theirs = list(build_study(_spec(q_mrn, new_uid(), 3)))
    shared = new_uid()
    p_part = list(build_study(_spec(p_mrn, shared, 4, count=3)))
    q_part = list(build_study(_spec(q_mrn, shared, 5, count=3)))
    p_series = str(p_part[0].SeriesInstanceUID)
    q_part[0].SeriesInstanceUID = p_series  # mis-filed into P's series
    with DimseBackend(his_pacs.pacs.settings()) as backend:
        for batch in (own, other_own, theirs, p_part, q_part):
            result = backend.store(batch)
            assert result.ok, result.failures
        # the premise: the PACS holds both patients under the one UID
        both = backend.find_studies({"StudyInstanceUID": shared, "PatientID": ""})
        assert {str(ds.PatientID) for ds in both} == {p_mrn, q_mrn}
    return Boundaries(
        p,
        q,
        p_mrn,
        q_mrn,
        _first(own),
        _first(other_own),
        _first(theirs),
        shared,
        p_series,
        str(q_part[1].SeriesInstanceUID),
        frozenset(str(ds.SOPInstanceUID) for ds in p_part),
        frozenset(str(ds.SOPInstanceUID) for ds in q_part),
        str(q_part[0].SOPInstanceUID),
    )


@pytest.fixture
def app(his_pacs: HisPacs, bounds: Boundaries, tmp_path: Any) -> Iterator[Any]:
    made = signed_in_app(his_pacs, tmp_path)
    yield made
    close_signed_in_app(made)


class Reading:
    """A test client whose every response is read whole at once (streamed bodies too)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> Any:
        rsp = self.client.get(path, **kwargs)
        rsp.get_data()
        rsp.close()
        return rsp


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parts_of(rsp: Any) -> list[Dataset]:
    assert rsp.status_code == 200, rsp.get_data(as_text=True)
    return [
        dcmread(io.BytesIO(data), stop_before_pixels=True)
        for _, data in multipart.read(rsp.data, rsp.headers["Content-Type"])
    ]


def sops_in(rows: list[dict[str, Any]]) -> set[str]:
    return {row["00080018"]["Value"][0] for row in rows}


# --- 1. a path names one study: another study's series or instance under it is missing -------


def _wado_paths(study: str, series: str, sop: str) -> list[str]:
    instance = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    return [
        f"/dicomweb/studies/{study}/series/{series}",
        f"/dicomweb/studies/{study}/series/{series}/metadata",
        f"/dicomweb/studies/{study}/series/{series}/thumbnail",
        instance,
        f"{instance}/metadata",
        f"{instance}/frames/1",
        f"{instance}/bulkdata/7FE00010",
        f"{instance}/rendered",
        f"{instance}/thumbnail",
        f"{instance}/frames/1/rendered",
        f"{instance}/frames/1/thumbnail",
    ]


@pytest.mark.parametrize("other", ["theirs", "other_own"])
def test_another_studys_series_or_instance_under_the_own_study_is_missing(app, bounds, other):
    client = Reading(app.test_client())
    auth = bearer(smart_token(app, bounds.p))
    own, foreign = bounds.own, getattr(bounds, other)
    # the caller's own study answers, so what follows is refused for the mix, not the study
    for path in _wado_paths(own.study, own.series, own.sop):
        accept = {"Accept": "*/*"}
        assert client.get(path, headers={**auth, **accept}).status_code == 200, path
    # warm the cache with the other study where the caller may read it (its own other study)
    if other == "other_own":
        assert client.get(f"/dicomweb/studies/{foreign.study}", headers=auth).status_code == 200
    mixes = [
        (own.study, foreign.series, foreign.sop),  # another study's series and instance
        (own.study, own.series, foreign.sop),  # the own series, another study's instance
    ]
    for n, (study, series, sop) in enumerate(mixes):
        for path in _wado_paths(study, series, sop)[3 * n :]:  # the own series is the caller's
            rsp = client.get(path, headers={**auth, "Accept": "*/*"})
            missing = client.get(
                path.replace(sop, MISSING).replace(series, MISSING),
                headers={**auth, "Accept": "*/*"},
            )
            assert rsp.status_code == missing.status_code == 404, path
            assert rsp.get_data() == missing.get_data(), path
    # QIDO under the own study lists only the own study's instances
    rsp = client.get(
        f"/dicomweb/studies/{own.study}/series/{foreign.series}/instances", headers={**auth, **JSON}
    )
    assert rsp.status_code == 200
    assert rsp.get_json() == []
    rsp = client.get(
        f"/dicomweb/studies/{own.study}/instances?SeriesInstanceUID={foreign.series}",
        headers={**auth, **JSON},
    )
    assert rsp.status_code == 200
    assert rsp.get_json() == []
    rsp = client.get(f"/dicomweb/studies/{own.study}/instances", headers={**auth, **JSON})
    assert {row["0020000D"]["Value"][0] for row in rsp.get_json()} == {own.study}


# --- 2. one UID, two patients: each caller gets only its own instances ------------------------


def _sees_only(client: Any, auth: dict[str, str], b: Boundaries, mine: frozenset[str]) -> None:
    shared = b.shared
    found = client.get(f"/dicomweb/studies/{shared}/instances", headers={**auth, **JSON})
    assert sops_in(found.get_json()) == mine
    in_series = client.get(
        f"/dicomweb/studies/{shared}/series/{b.p_series}/instances", headers={**auth, **JSON}
    )
    assert sops_in(in_series.get_json()) == mine & (b.p_sops | {b.q_misfiled})
    series = client.get(f"/dicomweb/studies/{shared}/series", headers={**auth, **JSON}).get_json()
    counts = sum(int(row["00201209"]["Value"][0]) for row in series if "00201209" in row)
    assert counts in (0, len(mine))  # when the PACS counts them: only the caller's
    meta = client.get(f"/dicomweb/studies/{shared}/metadata", headers=auth)
    assert meta.status_code == 200
    assert sops_in(meta.get_json()) == mine
    retrieved = parts_of(client.get(f"/dicomweb/studies/{shared}", headers=auth))
    assert {str(ds.SOPInstanceUID) for ds in retrieved} == mine
    series_parts = parts_of(
        client.get(f"/dicomweb/studies/{shared}/series/{b.p_series}", headers=auth)
    )
    assert {str(ds.SOPInstanceUID) for ds in series_parts} == mine & (b.p_sops | {b.q_misfiled})
    series_meta = client.get(
        f"/dicomweb/studies/{shared}/series/{b.p_series}/metadata", headers=auth
    )
    assert sops_in(series_meta.get_json()) == mine & (b.p_sops | {b.q_misfiled})
    export = client.get(f"/dicomweb/studies/{shared}/export", headers=auth)
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.data)) as zf:
        names = [n for n in zf.namelist() if n != "DICOMDIR"]
        exported = {str(dcmread(io.BytesIO(zf.read(n))).SOPInstanceUID) for n in names}
    assert exported == mine
    assert client.get(f"/dicomweb/studies/{shared}/thumbnail", headers=auth).status_code == 200


def _theirs_missing(client: Any, auth: dict[str, str], b: Boundaries, theirs: set[str]) -> None:
    for sop in sorted(theirs):
        series = b.p_series if sop == b.q_misfiled else b.q_series
        if sop in b.p_sops:
            series = b.p_series
        for path in _wado_paths(b.shared, series, sop)[3:]:
            rsp = client.get(path, headers={**auth, "Accept": "*/*"})
            assert rsp.status_code == 404, path


def test_a_study_uid_of_two_patients_serves_each_only_its_own(app, bounds):
    client = Reading(app.test_client())
    p_auth = bearer(smart_token(app, bounds.p))
    q_auth = bearer(smart_token(app, bounds.q))
    # Q first: the cache fills with what the PACS sends for the UID, both patients' instances
    _sees_only(client, q_auth, bounds, bounds.q_sops)
    _sees_only(client, p_auth, bounds, bounds.p_sops)
    _theirs_missing(client, p_auth, bounds, set(bounds.q_sops))
    _theirs_missing(client, q_auth, bounds, set(bounds.p_sops))
    # a series only Q has under the UID is P's missing series
    rsp = client.get(f"/dicomweb/studies/{bounds.shared}/series/{bounds.q_series}", headers=p_auth)
    assert rsp.status_code == 404
    rsp = client.get(
        f"/dicomweb/studies/{bounds.shared}/series/{bounds.q_series}/thumbnail", headers=p_auth
    )
    assert rsp.status_code == 404
    # and again, everything warm in the cache, in the other order
    _sees_only(client, p_auth, bounds, bounds.p_sops)
    _sees_only(client, q_auth, bounds, bounds.q_sops)


def test_the_cache_never_serves_another_patients_instance(app, bounds):
    """An instance the cache holds from the other patient's earlier request stays theirs."""
    client = Reading(app.test_client())
    q_auth = bearer(smart_token(app, bounds.q))
    p_auth = bearer(smart_token(app, bounds.p))
    series = f"/dicomweb/studies/{bounds.shared}/series/{bounds.p_series}"
    path = f"{series}/instances/{bounds.q_misfiled}"
    assert client.get(path, headers=q_auth).status_code == 200  # now cached
    for suffix in ("", "/metadata", "/frames/1", "/rendered"):
        rsp = client.get(path + suffix, headers={**p_auth, "Accept": "*/*"})
        assert rsp.status_code == 404, suffix
