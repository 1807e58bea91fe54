"""A path names one study, and only that study's data leaves; a study UID the PACS holds for two
patients leaves to each only its own instances. Against the real Orthanc, with real SMART
tokens (authorization on, no development open access).

The studies are ``bounds`` (conftest): P owns ``own`` and ``other_own``, Q owns ``theirs``, and
``shared`` is a Study Instance UID under which the PACS holds instances of both. Orthanc keeps
them apart (its study identity is PatientID + Study UID) but a C-GET by Study Instance UID
answers every instance under the UID, whoever's it is.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from dicomweb import multipart
from tests.dicomweb.web.conftest import (
    Boundaries,
    HisPacs,
    Reading,
    bearer,
    close_signed_in_app,
    signed_in_app,
    smart_token,
)

JSON = {"Accept": "application/dicom+json"}
MISSING = "2.25.314159265358979323846264338327950288"


@pytest.fixture
def app(his_pacs: HisPacs, bounds: Boundaries, tmp_path: Any) -> Iterator[Any]:
    made = signed_in_app(his_pacs, tmp_path)
    yield made
    close_signed_in_app(made)


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
    # QIDO under the own study lists only the own study's instances; a path naming another
    # study's series is a missing series, as in WADO-RS (the access contract's cells say so)
    rsp = client.get(
        f"/dicomweb/studies/{own.study}/series/{foreign.series}/instances", headers={**auth, **JSON}
    )
    missing = client.get(
        f"/dicomweb/studies/{own.study}/series/{MISSING}/instances", headers={**auth, **JSON}
    )
    assert rsp.status_code == missing.status_code == 404
    assert rsp.get_data() == missing.get_data()
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


# --- pages of a study's instances: only the caller's part, offsets counted in it -------------


def test_pages_of_a_shared_studys_instances_hold_only_the_own_part(app, bounds):
    """Under a Study Instance UID the PACS holds for P and Q, P's pages of the study's instances
    are slices of P's part alone: a series skipped before ``offset`` by its instance count is
    one of P's, never Q's (whose count would shift P's page)."""
    client = Reading(app.test_client())
    auth = {**bearer(smart_token(app, bounds.p)), **JSON}
    path = f"/dicomweb/studies/{bounds.shared}/instances"
    whole = client.get(path, headers=auth)
    assert whole.status_code == 200, whole.get_data(as_text=True)
    order = [row["00080018"]["Value"][0] for row in whole.get_json()]
    assert set(order) == bounds.p_sops
    for offset, limit in ((0, 1), (1, 1), (2, 5), (3, 2), (10, 1)):
        rsp = client.get(f"{path}?offset={offset}&limit={limit}", headers=auth)
        rows = rsp.get_json() if rsp.status_code == 200 else []
        assert rsp.status_code in (200, 204), rsp.get_data(as_text=True)
        assert [row["00080018"]["Value"][0] for row in rows] == order[offset : offset + limit]
