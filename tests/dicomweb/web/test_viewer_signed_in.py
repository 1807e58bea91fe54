"""Viewer links behind real sign-in (F15): authorization on, no development open access.

A patient's SMART access token, from a real authorization-code launch against the gateway's
OAuth store, mints a viewer link; the viewer token then searches and retrieves that one study
(as ``Authorization: Bearer`` and as the ``token`` query parameter) and nothing else, and its
reads are audited in the state database as the minting subject's, about the study's patient.
Against the real Orthanc; the studies are ``bounds`` (conftest).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from smart_auth.audit.tables import audit_event, audit_patient
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
STOW = 'multipart/related; type="application/dicom"; boundary=b'


@pytest.fixture
def app(his_pacs: HisPacs, bounds: Boundaries, tmp_path: Any) -> Iterator[Any]:
    made = signed_in_app(his_pacs, tmp_path)
    yield made
    close_signed_in_app(made)


def _uids(rsp: Any, tag: str) -> set[str]:
    assert rsp.status_code == 200, rsp.get_data(as_text=True)
    return {row[tag]["Value"][0] for row in rsp.get_json()}


def _audit(app: Any) -> list[dict[str, Any]]:
    app.extensions["audit_writer"].flush()
    with app.extensions["state_engine"].connect() as conn:
        events = [dict(r._mapping) for r in conn.execute(sa.select(audit_event))]
        patients: dict[str, set[int]] = {}
        for event_id, pid in conn.execute(
            sa.select(audit_patient.c.event_id, audit_patient.c.his_patient_id)
        ):
            patients.setdefault(event_id, set()).add(int(pid))
    for event in events:
        event["patients"] = patients.get(event["id"], set())
    return events


def test_a_viewer_link_minted_with_a_real_token_serves_its_one_study(app, bounds):
    client = Reading(app.test_client())
    own = bounds.own
    minted = app.test_client().post(
        f"/dicomweb/studies/{own.study}/viewer-link", headers=bearer(smart_token(app, bounds.p))
    )
    assert minted.status_code == 201, minted.get_data(as_text=True)
    token = minted.get_json()["token"]
    assert token.startswith("vt1.")
    [link_event] = [e for e in _audit(app) if e["action"] == "viewer-link"]
    assert link_event["outcome"] == "allowed"
    minter = link_event["subject"]
    assert minter
    study = f"/dicomweb/studies/{own.study}"
    instance = f"{study}/series/{own.series}/instances/{own.sop}"
    others = (bounds.other_own.study, bounds.theirs.study, bounds.shared)
    for way in ("header", "query"):
        if way == "header":
            auth, q = bearer(token), ""
        else:
            auth, q = {}, f"token={token}"

        def get(path: str, headers: dict[str, str] | None = None, auth: Any = auth, q: str = q):
            sep = "&" if "?" in path else "?"
            return client.get(f"{path}{sep}{q}" if q else path, headers={**auth, **(headers or {})})

        # QIDO: the one study, its series, its instances
        assert _uids(get("/dicomweb/studies", JSON), "0020000D") == {own.study}
        assert own.series in _uids(get(f"{study}/series", JSON), "0020000E")
        rsp = get(f"{study}/series/{own.series}/instances", JSON)
        assert own.sop in _uids(rsp, "00080018")
        assert own.sop in _uids(get(f"{study}/instances", JSON), "00080018")
        # WADO: the study, its metadata, the instance, a frame, a rendering
        for path in (study, f"{study}/metadata", instance, f"{instance}/frames/1"):
            assert get(path, {"Accept": "*/*"}).status_code == 200, (way, path)
        assert get(f"{instance}/rendered", {"Accept": "image/png"}).status_code == 200
        # nothing else: P's other study, Q's, the shared UID are missing
        for other in others:
            assert get(f"/dicomweb/studies?StudyInstanceUID={other}", JSON).get_json() == []
            for suffix in ("", "/metadata", "/series", "/instances"):
                rsp = get(f"/dicomweb/studies/{other}{suffix}", {"Accept": "*/*"})
                assert rsp.status_code == 404, (way, other, suffix)
        # and it can neither store, nor export, nor mint a longer-lived link
        url = f"{study}?{q}" if q else study
        stow = client.client.post(url, data=b"--b--", headers={**auth, "Content-Type": STOW})
        assert stow.status_code == 403, way
        assert get(f"{study}/export").status_code == 403
        url = f"{study}/viewer-link?{q}" if q else f"{study}/viewer-link"
        assert client.client.post(url, headers=auth).status_code == 403
    # without the token, nothing: authorization is on
    assert client.get("/dicomweb/studies", headers=JSON).status_code == 401

    events = _audit(app)
    viewer = [e for e in events if e["client_id"] is None]
    assert {e["action"] for e in viewer} >= {"search", "wado-retrieve", "wado-metadata"}
    assert {e["outcome"] for e in viewer} >= {"allowed", "not-found", "denied"}
    for event in events:  # the viewer's and the minting app's alike: who, and about whom
        assert event["subject"] == minter, event
        assert event["patients"] == {bounds.p}, event
