"""WADO-RS streaming and the cache, against the real Orthanc: a viewer's requests reach the
PACS once; retrieval streams (the first part leaves before the last instance arrives)."""

from __future__ import annotations

import io
import threading

import pytest
from pydicom import dcmread

from dicomweb import multipart
from dicomweb.backends.dimse import DimseBackend
from gateway.app import create_app
from tests.conftest import app_config
from tests.dicomweb.conftest import dataset_bytes


class CountingBackend(DimseBackend):
    """The real DIMSE backend, counting the C-GETs it starts and keeping their retrievals."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.retrievals = []
        self.lock = threading.Lock()

    def _retrieve(self, level, **uids):
        retrieval = super()._retrieve(level, **uids)
        with self.lock:
            self.retrievals.append((level, retrieval))
        return retrieval


@pytest.fixture
def counted(his_pacs, stored, tmp_path):
    settings = his_pacs.pacs.settings(queue_size=2)
    backend = CountingBackend(settings)
    cfg = app_config(his_pacs.his_url, dicomweb_cache_dir=str(tmp_path / "cache"))
    app = create_app(cfg, pacs=backend, pacs_settings=settings)
    yield app, backend
    backend.close()


def _uids(parts):
    return sorted(
        str(dcmread(io.BytesIO(b), stop_before_pixels=True).SOPInstanceUID) for _, b in parts
    )


def test_a_viewers_requests_reach_the_pacs_once(counted, stored):
    app, backend = counted
    client = app.test_client()
    study = stored["CT"].spec.study_uid
    cold = client.get(f"/dicomweb/studies/{study}")
    assert cold.status_code == 200
    cold_parts = multipart.read(cold.data, cold.headers["Content-Type"])
    assert len(cold_parts) == stored["CT"].instances
    assert len(backend.retrievals) == 1
    warm = client.get(f"/dicomweb/studies/{study}")
    warm_parts = multipart.read(warm.data, warm.headers["Content-Type"])
    assert _uids(warm_parts) == _uids(cold_parts)
    by_uid = {
        u: b
        for u, (_, b) in zip(
            _uids(cold_parts), sorted(cold_parts, key=lambda p: _uids([p])[0]), strict=True
        )
    }
    for _, body in warm_parts:
        uid = _uids([(None, body)])[0]
        assert dataset_bytes(body) == dataset_bytes(by_uid[uid])
    meta = client.get(f"/dicomweb/studies/{study}/metadata").get_json()
    assert len(meta) == stored["CT"].instances
    series = meta[0]["0020000E"]["Value"][0]
    client.get(f"/dicomweb/studies/{study}/series/{series}/metadata")
    for item in meta[:5]:
        sop = item["00080018"]["Value"][0]
        ser = item["0020000E"]["Value"][0]
        base = f"/dicomweb/studies/{study}/series/{ser}/instances/{sop}"
        assert client.get(f"{base}/frames/1").status_code == 200
        assert client.get(f"{base}/rendered").status_code == 200
        assert client.get(f"{base}/metadata").status_code == 200
    assert len(backend.retrievals) == 1  # everything after the first came from the cache


def test_evicted_study_is_retrieved_again(his_pacs, stored, tmp_path):
    settings = his_pacs.pacs.settings()
    backend = CountingBackend(settings)
    cfg = app_config(
        his_pacs.his_url, dicomweb_cache_dir=str(tmp_path / "c"), dicomweb_cache_max_bytes=20_000
    )
    app = create_app(cfg, pacs=backend, pacs_settings=settings)
    try:
        client = app.test_client()
        study = stored["CT"].spec.study_uid
        for _ in range(2):
            rsp = client.get(f"/dicomweb/studies/{study}")
            assert (
                len(multipart.read(rsp.data, rsp.headers["Content-Type"])) == stored["CT"].instances
            )
        assert len(backend.retrievals) == 2  # too small to hold the study: no false hit
        cache = app.extensions["dicomweb"].extras["cache"]
        assert cache.total_bytes() <= 20_000
    finally:
        backend.close()


def test_retrieval_streams_before_the_last_instance_arrives(counted, stored):
    app, backend = counted
    client = app.test_client()
    study = stored["CT"].spec.study_uid
    # a client accepting gzip (as browsers and requests do) still gets a stream
    rsp = client.get(
        f"/dicomweb/studies/{study}", buffered=False, headers={"Accept-Encoding": "gzip"}
    )
    chunks = iter(rsp.response)
    first = next(chunks)
    assert first.startswith(b"\r\n--")
    ((_level, retrieval),) = backend.retrievals
    # the bounded queue (2) holds the PACS back: far fewer than 30 instances have arrived
    assert retrieval.received < 10
    assert retrieval.outcome is None
    rsp.close()
    retrieval.close()
    # a retrieval abandoned half-way never marks the study complete
    assert app.extensions["dicomweb"].extras["cache"].complete(study) is None
