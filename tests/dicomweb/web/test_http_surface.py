"""DICOMweb's HTTP surface outside its routes: unknown addresses answer in DICOMweb's error
format (PS3.18 §8.6), and browsers' CORS preflights are answered for the configured origins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.dicomweb.web.conftest import make_app

ERROR_COMMENT = "00000902"
ORIGIN = "https://viewer.hospital.example"


def dicom_error(rsp: Any) -> str:
    assert rsp.mimetype == "application/dicom+json", rsp.get_data(as_text=True)[:200]
    body = rsp.get_json()
    assert "resourceType" not in body
    return str(body[0][ERROR_COMMENT]["Value"][0])


@pytest.mark.parametrize(
    "path",
    [
        "/dicomweb/nothing",
        "/dicomweb/studies/1.2.3/nothing",
        "/dicomweb/studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1/nothing",
        "/dicomweb/patients",
        "/dicomweb/",
        "/dicomweb",
        "/dicomweb/studies/",
        "/dicomweb/a/b/c/d/e/f",
    ],
)
def test_an_unknown_dicomweb_address_is_a_dicom_json_404(dw_client, path):
    for method in ("GET", "POST", "DELETE"):
        rsp = dw_client.open(path, method=method)
        assert rsp.status_code == 404, (method, rsp.get_data(as_text=True)[:200])
        assert dicom_error(rsp)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/dicomweb/studies"),
        ("PUT", "/dicomweb/studies/1.2.3"),
        ("POST", "/dicomweb/series"),
        ("PATCH", "/dicomweb/instances"),
    ],
)
def test_a_method_a_dicomweb_route_does_not_take_is_a_dicom_json_405(dw_client, method, path):
    rsp = dw_client.open(path, method=method)
    assert rsp.status_code == 405, rsp.get_data(as_text=True)[:200]
    assert dicom_error(rsp)
    assert "GET" in rsp.headers["Allow"]


def test_fhir_keeps_its_own_404(dw_client):
    rsp = dw_client.get("/fhir/Nothing/here/at/all")
    assert rsp.status_code == 404
    assert rsp.get_json()["resourceType"] == "OperationOutcome"


def test_known_routes_still_answer(dw_client):
    assert dw_client.get("/dicomweb/studies?limit=1").status_code == 200


@pytest.fixture(scope="module")
def cors_client(his_pacs: Any) -> Iterator[Any]:
    app = make_app(his_pacs, cors_origins=ORIGIN)
    yield app.test_client()
    app.extensions["test_backend"].close()


PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization, accept",
}


@pytest.mark.parametrize(
    "path",
    [
        "/dicomweb/studies",
        "/dicomweb/studies/1.2.3/series",
        "/dicomweb/studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1",
        "/dicomweb/studies/1.2.3/metadata",
        "/dicomweb/instances",
    ],
)
def test_a_preflight_from_a_configured_origin_is_answered(cors_client, path):
    rsp = cors_client.options(path, headers=PREFLIGHT)
    assert rsp.status_code == 200, rsp.get_data(as_text=True)[:200]
    assert rsp.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip().lower() for h in rsp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "accept"} <= allowed
    assert "GET" in rsp.headers["Access-Control-Allow-Methods"]


def test_a_stow_preflight_allows_post_and_content_type(cors_client):
    headers = {
        **PREFLIGHT,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    rsp = cors_client.options("/dicomweb/studies", headers=headers)
    assert rsp.status_code == 200
    assert "POST" in rsp.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in rsp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed


def test_responses_expose_the_dicomweb_headers(cors_client):
    rsp = cors_client.get("/dicomweb/studies?limit=1", headers={"Origin": ORIGIN})
    assert rsp.status_code == 200
    assert rsp.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {h.strip().lower() for h in rsp.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"content-location", "content-type", "warning"} <= exposed


def test_another_origin_gets_no_cors_headers(cors_client):
    headers = {**PREFLIGHT, "Origin": "https://evil.example"}
    rsp = cors_client.options("/dicomweb/studies", headers=headers)
    assert "Access-Control-Allow-Origin" not in rsp.headers
    rsp = cors_client.get("/dicomweb/studies?limit=1", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in rsp.headers


def test_without_configured_origins_no_cors_headers(dw_client):
    rsp = dw_client.options("/dicomweb/studies", headers=PREFLIGHT)
    assert "Access-Control-Allow-Origin" not in rsp.headers
