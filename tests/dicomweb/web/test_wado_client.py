"""dicomweb-client (a real DICOMweb client) retrieving through the gateway over real HTTP."""

from __future__ import annotations

import io
import threading

import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from werkzeug.serving import make_server

from tests.dicomweb.conftest import dataset_bytes
from tests.dicomweb.web.conftest import make_app


@pytest.fixture(scope="module")
def served(his_pacs, tmp_path_factory):
    app = make_app(his_pacs, dicomweb_cache_dir=str(tmp_path_factory.mktemp("client-cache")))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield DICOMwebClient(url=f"http://127.0.0.1:{server.server_port}/dicomweb")
    server.shutdown()
    thread.join(10)
    app.extensions["test_backend"].close()


def test_retrieve_and_iterate_a_study(served, stored, pacs):
    spec = stored["CT"].spec
    instances = served.retrieve_study(spec.study_uid)
    assert len(instances) == stored["CT"].instances
    orthanc = pacs.process.client
    for ds in instances[:3]:
        stored_file = orthanc.instance_file(str(ds.SOPInstanceUID))
        assert ds.PixelData == dcmread(io.BytesIO(stored_file)).PixelData
        assert ds.PatientID == dcmread(io.BytesIO(stored_file)).PatientID
        assert dataset_bytes(stored_file)
    iterated = list(served.iter_study(spec.study_uid))
    assert sorted(str(d.SOPInstanceUID) for d in iterated) == sorted(
        str(d.SOPInstanceUID) for d in instances
    )


def test_metadata_and_frames(served, stored):
    spec = stored["MR"].spec
    meta = served.retrieve_study_metadata(spec.study_uid)
    assert len(meta) == stored["MR"].instances
    first = meta[0]
    series, sop = first["0020000E"]["Value"][0], first["00080018"]["Value"][0]
    one = served.retrieve_instance(spec.study_uid, series, sop)
    assert str(one.SOPInstanceUID) == sop
    frames = served.retrieve_instance_frames(spec.study_uid, series, sop, frame_numbers=[1])
    assert frames == [one.PixelData]
    series_items = list(served.iter_series(spec.study_uid, series))
    assert {str(d.SeriesInstanceUID) for d in series_items} == {series}
