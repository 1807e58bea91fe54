"""Rendered study and series (PS3.18 §10.4.1.1.3): a multipart/related of one rendered image
per instance (its first frame), in the image type the Accept header asks for."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dicomweb import multipart


def _instances(client, study: str, series: str | None = None) -> list[str]:
    path = f"/dicomweb/studies/{study}" + (f"/series/{series}" if series else "") + "/instances"
    return [i["00080018"]["Value"][0] for i in client.get(path).get_json()]


def _study(his_pacs) -> str:
    return sorted(his_pacs.studies)[0]


@pytest.mark.parametrize(
    ("accept", "media", "fmt"),
    [
        ('multipart/related; type="image/png"', "image/png", "PNG"),
        ("multipart/related; type=image/jpeg", "image/jpeg", "JPEG"),
        ("image/png", "image/png", "PNG"),
        ("*/*", "image/jpeg", "JPEG"),
    ],
)
def test_a_rendered_study_is_one_image_per_instance(dw_client, his_pacs, accept, media, fmt):
    study = _study(his_pacs)
    rsp = dw_client.get(f"/dicomweb/studies/{study}/rendered", headers={"Accept": accept})
    assert rsp.status_code == 200, rsp.get_data(as_text=True)[:300]
    top = rsp.headers["Content-Type"]
    assert top.startswith("multipart/related")
    assert f'type="{media}"' in top
    parts = multipart.read(rsp.data, top)
    sops = _instances(dw_client, study)
    assert len(parts) == len(sops)
    located = set()
    for headers, body in parts:
        assert headers["content-type"] == media
        assert Image.open(io.BytesIO(body)).format == fmt
        assert headers["content-location"].endswith("/rendered")
        located.add(headers["content-location"].split("/instances/")[1].split("/")[0])
    assert located == set(sops)


def test_a_rendered_series_holds_its_instances_only(dw_client, his_pacs):
    study = _study(his_pacs)
    meta = dw_client.get(f"/dicomweb/studies/{study}/series").get_json()
    series = meta[0]["0020000E"]["Value"][0]
    rsp = dw_client.get(
        f"/dicomweb/studies/{study}/series/{series}/rendered?viewport=32,32",
        headers={"Accept": 'multipart/related; type="image/png"'},
    )
    assert rsp.status_code == 200
    parts = multipart.read(rsp.data, rsp.headers["Content-Type"])
    assert len(parts) == len(_instances(dw_client, study, series))
    for headers, body in parts:
        assert f"/series/{series}/instances/" in headers["content-location"]
        assert max(Image.open(io.BytesIO(body)).size) <= 32


def test_rendered_study_refuses_what_it_cannot_give(dw_client, his_pacs):
    study = _study(his_pacs)
    base = f"/dicomweb/studies/{study}/rendered"
    rsp = dw_client.get(base, headers={"Accept": "application/dicom"})
    assert rsp.status_code == 406
    assert rsp.mimetype == "application/dicom+json"
    rsp = dw_client.get(base + "?window=a,b,c", headers={"Accept": "image/png"})
    assert rsp.status_code == 400
    rsp = dw_client.get("/dicomweb/studies/1.2.3.4/rendered", headers={"Accept": "image/png"})
    assert rsp.status_code == 404


def test_another_patients_study_is_404_rendered(his_pacs, client_for):
    owners = sorted({pid for pid, _ in his_pacs.studies.values()})
    mine, theirs = owners[0], owners[1]
    other_study = his_pacs.studies_of(theirs)[0]
    client = client_for({mine})
    for path in (f"/studies/{other_study}/rendered", f"/studies/{other_study}/series/1.2/rendered"):
        rsp = client.get("/dicomweb" + path, headers={"Accept": "image/png"})
        assert rsp.status_code == 404
