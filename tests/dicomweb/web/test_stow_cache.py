"""STOW-RS into a study the instance cache holds: the next retrieval shows the new instance.

The cache answers a study's (or series') instances and metadata without asking the PACS once it
holds them all; a store into that study must make it ask again.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicomweb import multipart
from dicomweb.backends.dimse import DimseBackend
from gateway.app import create_app
from tests.conftest import app_config
from tests.dicomweb.conftest import demo_patient, new_uid
from tests.dicomweb.web.test_stow import body, part10, post, study

JSON = {"Accept": "application/dicom+json"}


class CountingBackend(DimseBackend):
    """The real DIMSE backend, counting the retrievals (C-GETs) it starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retrievals = 0
        self._count_lock = threading.Lock()

    def _retrieve(self, level: str, **uids: str) -> Any:
        with self._count_lock:
            self.retrievals += 1
        return super()._retrieve(level, **uids)


@pytest.fixture
def cached(his_pacs: Any, tmp_path: Any) -> Iterator[tuple[Any, CountingBackend]]:
    settings = his_pacs.pacs.settings()
    backend = CountingBackend(settings)
    cfg = app_config(
        his_pacs.his_url, dev_open_access=True, dicomweb_cache_dir=str(tmp_path / "cache")
    )
    app = create_app(cfg, pacs=backend, pacs_settings=settings)
    yield app, backend
    backend.close()


def sops(rsp: Any) -> set[str]:
    assert rsp.status_code == 200, rsp.get_data(as_text=True)
    return {item["00080018"]["Value"][0] for item in rsp.get_json()}


def another_instance(ds: Dataset, number: int) -> Dataset:
    """One more instance of the same series: a copy with its own SOP Instance UID."""
    out = copy.deepcopy(ds)
    out.SOPInstanceUID = new_uid()
    out.InstanceNumber = number
    out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    return out


def test_metadata_after_a_stow_into_a_cached_study_shows_the_new_instance(cached):
    app, backend = cached
    client = app.test_client()
    first = study(demo_patient(7).patient_id, count=2)
    uid, series = str(first[0].StudyInstanceUID), str(first[0].SeriesInstanceUID)
    assert post(client, body(*map(part10, first))).status_code == 200
    study_meta = f"/dicomweb/studies/{uid}/metadata"
    series_meta = f"/dicomweb/studies/{uid}/series/{series}/metadata"
    stored = {str(ds.SOPInstanceUID) for ds in first}
    assert sops(client.get(study_meta, headers=JSON)) == stored
    assert backend.retrievals == 1
    # cached: neither the study's nor its series' metadata reaches the PACS again
    assert sops(client.get(study_meta, headers=JSON)) == stored
    assert sops(client.get(series_meta, headers=JSON)) == stored
    assert backend.retrievals == 1
    cache = app.extensions["dicomweb"].extras["cache"]
    assert cache.complete(uid) is not None

    extra = another_instance(first[-1], 3)
    rsp = post(client, body(part10(extra)), url=f"/dicomweb/studies/{uid}")
    assert rsp.status_code == 200, rsp.get_data(as_text=True)

    now = stored | {str(extra.SOPInstanceUID)}
    assert sops(client.get(series_meta, headers=JSON)) == now
    assert sops(client.get(study_meta, headers=JSON)) == now
    # and the whole study's retrieval too
    rsp = client.get(f"/dicomweb/studies/{uid}")
    assert rsp.status_code == 200
    assert len(multipart.read(rsp.data, rsp.headers["Content-Type"])) == 3


def test_stow_into_a_study_never_cached_leaves_the_cache_alone(cached):
    app, _ = cached
    client = app.test_client()
    datasets = study(demo_patient(8).patient_id, count=1)
    assert post(client, body(*map(part10, datasets))).status_code == 200
    cache = app.extensions["dicomweb"].extras["cache"]
    uid = str(datasets[0].StudyInstanceUID)
    assert cache.complete(uid) is None
    assert cache.total_bytes() == 0
    assert sops(client.get(f"/dicomweb/studies/{uid}/metadata", headers=JSON)) == {
        str(datasets[0].SOPInstanceUID)
    }
