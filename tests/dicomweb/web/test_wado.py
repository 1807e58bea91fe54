"""WADO-RS through the gateway against the real Orthanc holding the test HIS's studies."""

from __future__ import annotations

import base64
import io
import urllib.request

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from dicomweb import multipart
from dicomweb.transcode import stored_syntax
from tests.credentials import patient_client
from tests.dicomweb.conftest import dataset_bytes
from tests.dicomweb.web.conftest import close_signed_in_app, make_app, signed_in_app

EXPLICIT, IMPLICIT = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


@pytest.fixture(scope="module")
def wado_app(his_pacs, tmp_path_factory):
    cache = tmp_path_factory.mktemp("wado-cache")
    app = make_app(his_pacs, dicomweb_cache_dir=str(cache))
    yield app
    app.extensions["test_backend"].close()


@pytest.fixture
def client(wado_app):
    return wado_app.test_client()


def _study(his_pacs):
    return sorted(his_pacs.studies)[0]


def _parts(rsp):
    assert rsp.status_code == 200, rsp.data[:200]
    return multipart.read(rsp.data, rsp.headers["Content-Type"])


def _orthanc(his_pacs, path, accept):
    proc = his_pacs.pacs.process
    req = urllib.request.Request(proc.http_url + path)  # noqa: S310 (loopback Orthanc)
    token = base64.b64encode(f"{proc.config.username}:{proc.password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=30) as rsp:  # noqa: S310 (loopback Orthanc)
        return rsp.read(), rsp.headers["Content-Type"]


def test_study_retrieve_equals_the_stored_instances(client, his_pacs):
    study = _study(his_pacs)
    rsp = client.get(f"/dicomweb/studies/{study}")
    ctype = rsp.headers["Content-Type"]
    assert ctype.startswith('multipart/related; type="application/dicom"; boundary=')
    parts = _parts(rsp)
    assert parts
    orthanc = his_pacs.pacs.process.client
    for headers, body in parts:
        assert headers["content-type"].startswith("application/dicom")
        ds = dcmread(io.BytesIO(body))
        assert headers["content-location"].endswith(f"/instances/{ds.SOPInstanceUID}")
        assert f"/studies/{study}/series/{ds.SeriesInstanceUID}/" in headers["content-location"]
        stored = orthanc.instance_file(str(ds.SOPInstanceUID))
        assert dataset_bytes(body) == dataset_bytes(stored)
        assert stored_syntax(body) == EXPLICIT


def test_boundaries_are_random(client, his_pacs):
    study = _study(his_pacs)
    series = _series_and_sop(client, study)[0]
    a = client.get(f"/dicomweb/studies/{study}/series/{series}").headers["Content-Type"]
    b = client.get(f"/dicomweb/studies/{study}/series/{series}").headers["Content-Type"]
    assert a != b


def _series_and_sop(client, study):
    meta = client.get(f"/dicomweb/studies/{study}/metadata").get_json()
    first = meta[0]
    return first["0020000E"]["Value"][0], first["00080018"]["Value"][0]


def test_star_equals_orthancs_own_wado_rs(client, his_pacs):
    study = _study(his_pacs)
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    mine = _parts(client.get(f"/dicomweb/studies/{study}", headers={"Accept": accept}))
    body, ctype = _orthanc(his_pacs, f"/dicom-web/studies/{study}", accept)
    theirs = multipart.read(body, ctype)
    key = lambda body: str(dcmread(io.BytesIO(body), stop_before_pixels=True).SOPInstanceUID)  # noqa: E731
    mine_by = {key(b): b for _, b in mine}
    theirs_by = {key(b): b for _, b in theirs}
    assert mine_by.keys() == theirs_by.keys()
    for uid, data in mine_by.items():
        assert dataset_bytes(data) == dataset_bytes(theirs_by[uid])


@pytest.mark.parametrize(
    "accept",
    [
        "multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2",
        'multipart/related; type="application/dicom"; transfer-syntax="1.2.840.10008.1.2"',
        "image/png;q=0.1, multipart/related; type=application/dicom;"
        " transfer-syntax=1.2.840.10008.1.2; q=0.9",
    ],
)
def test_implicit_vr_is_transcoded(client, his_pacs, accept):
    study = _study(his_pacs)
    series, sop = _series_and_sop(client, study)
    url = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    ((headers, body),) = _parts(client.get(url, headers={"Accept": accept}))
    assert stored_syntax(body) == IMPLICIT
    assert "transfer-syntax=1.2.840.10008.1.2" in headers["content-type"]
    original = dcmread(io.BytesIO(his_pacs.pacs.process.client.instance_file(sop)))
    ds = dcmread(io.BytesIO(body))
    assert ds.PixelData == original.PixelData
    assert ds.PatientID == original.PatientID


def test_accept_query_parameter_overrides_the_header(client, his_pacs):
    study = _study(his_pacs)
    series, sop = _series_and_sop(client, study)
    url = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    wanted = "multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2"
    rsp = client.get(url, query_string={"accept": wanted}, headers={"Accept": "image/png"})
    ((_, body),) = _parts(rsp)
    assert stored_syntax(body) == IMPLICIT


@pytest.mark.parametrize(
    "accept",
    [
        "multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50",
        "image/png",
        "multipart/related; type=application/dicom; q=0",
    ],
)
def test_unproducible_representations_are_406(client, his_pacs, accept):
    study = _study(his_pacs)
    rsp = client.get(f"/dicomweb/studies/{study}", headers={"Accept": accept})
    assert rsp.status_code == 406


def test_unknown_study_is_404(client):
    assert client.get("/dicomweb/studies/1.2.3.4.5.6.7.8.9").status_code == 404
    assert client.get("/dicomweb/studies/../etc").status_code == 404


def test_metadata_has_bulk_data_uris_at_the_gateway(client, his_pacs):
    study = _study(his_pacs)
    rsp = client.get(f"/dicomweb/studies/{study}/metadata")
    assert rsp.status_code == 200
    assert rsp.headers["Content-Type"] == "application/dicom+json"
    items = rsp.get_json()
    assert items
    for item in items:
        assert item["0020000D"]["Value"] == [study]
        uri = item["7FE00010"]["BulkDataURI"]
        sop = item["00080018"]["Value"][0]
        assert uri.startswith("http://localhost/dicomweb/studies/") or uri.startswith("http")
        assert uri.endswith(f"/instances/{sop}/bulkdata/7FE00010")
    series, sop = items[0]["0020000E"]["Value"][0], items[0]["00080018"]["Value"][0]
    one = client.get(f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/metadata")
    assert one.get_json()[0]["00080018"]["Value"] == [sop]
    ser = client.get(f"/dicomweb/studies/{study}/series/{series}/metadata").get_json()
    assert {i["0020000E"]["Value"][0] for i in ser} == {series}
    base = client.application.extensions["dicomweb"].base_url
    assert items[0]["7FE00010"]["BulkDataURI"].startswith(base + "/studies/")


def test_bulkdata_is_the_pixel_data(client, his_pacs):
    study = _study(his_pacs)
    series, sop = _series_and_sop(client, study)
    url = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/bulkdata/7FE00010"
    ((headers, body),) = _parts(client.get(url))
    # the part names the syntax of the bytes sent: native pixel data, Explicit VR Little Endian
    assert headers["content-type"] == (
        "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    )
    original = dcmread(io.BytesIO(his_pacs.pacs.process.client.instance_file(sop)))
    assert body == original.PixelData
    missing = url.replace("7FE00010", "00091234")
    assert client.get(missing).status_code == 404
    assert client.get(url.replace("7FE00010", "zz")).status_code == 400


def test_frames(client, his_pacs):
    study = _study(his_pacs)
    series, sop = _series_and_sop(client, study)
    base = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames"
    accept = "multipart/related; type=application/octet-stream; transfer-syntax=*"
    rsp = client.get(f"{base}/1", headers={"Accept": accept})
    ((headers, body),) = _parts(rsp)
    assert 'type="application/octet-stream"' in rsp.headers["Content-Type"]
    original = dcmread(io.BytesIO(his_pacs.pacs.process.client.instance_file(sop)))
    assert body == original.PixelData
    assert headers["content-location"].endswith("/frames/1")
    assert client.get(f"{base}/2").status_code == 404
    assert client.get(f"{base}/0").status_code == 400
    assert client.get(f"{base}/x").status_code == 400


def test_rendered_applies_the_window(client, his_pacs):
    study = _study(his_pacs)
    series, sop = _series_and_sop(client, study)
    base = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    rsp = client.get(f"{base}/rendered", headers={"Accept": "image/png"})
    assert rsp.status_code == 200
    assert rsp.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(rsp.data))
    original = dcmread(io.BytesIO(his_pacs.pacs.process.client.instance_file(sop)))
    assert image.size == (original.Columns, original.Rows)
    assert image.mode == "L"
    # a window far below every value renders white; far above renders black
    low = client.get(f"{base}/rendered?window=-100000,10,linear", headers={"Accept": "image/png"})
    assert set(np.unique(np.asarray(Image.open(io.BytesIO(low.data))))) == {255}
    high = client.get(f"{base}/rendered?window=100000,10", headers={"Accept": "image/png"})
    assert set(np.unique(np.asarray(Image.open(io.BytesIO(high.data))))) == {0}
    jpeg = client.get(f"{base}/rendered?viewport=16,16&quality=50")
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(jpeg.data)).size) <= 16
    assert client.get(f"{base}/rendered?window=1").status_code == 400
    assert client.get(f"{base}/frames/1/rendered").status_code == 200
    assert client.get(f"{base}/frames/9/rendered").status_code == 404
    assert client.get(f"{base}/thumbnail").status_code == 200
    assert client.get(f"/dicomweb/studies/{study}/thumbnail").status_code == 200
    assert client.get(f"/dicomweb/studies/{study}/series/{series}/thumbnail").status_code == 200


def test_grant_limited_client_sees_only_its_studies(his_pacs, client, wado_app, tmp_path):
    mine_pid = his_pacs.studies[_study(his_pacs)][0]
    other = next(uid for uid, (pid, _) in his_pacs.studies.items() if pid != mine_pid)
    series, sop = _series_and_sop(client, other)  # open access warms the shared cache
    client.get(f"/dicomweb/studies/{other}")
    cache_dir = wado_app.config["SETTINGS"].dicomweb_cache_dir
    app = signed_in_app(his_pacs, tmp_path, dicomweb_cache_dir=cache_dir)
    limited = patient_client(app, mine_pid, "patient/*.rs")
    inst = f"/dicomweb/studies/{other}/series/{series}/instances/{sop}"
    for url in (
        f"/dicomweb/studies/{other}",
        f"/dicomweb/studies/{other}/metadata",
        f"/dicomweb/studies/{other}/series/{series}",
        inst,
        f"{inst}/metadata",
        f"{inst}/frames/1",
        f"{inst}/rendered",
        f"{inst}/bulkdata/7FE00010",
        f"/dicomweb/studies/{other}/thumbnail",
    ):
        assert limited.get(url).status_code == 404, url
    assert limited.get(f"/dicomweb/studies/{_study(his_pacs)}").status_code == 200
    close_signed_in_app(app)


def test_instance_of_another_study_is_404(client, his_pacs):
    a, b = sorted(his_pacs.studies)[:2]
    series, sop = _series_and_sop(client, b)
    assert client.get(f"/dicomweb/studies/{a}/series/{series}/instances/{sop}").status_code == 404
