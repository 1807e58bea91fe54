"""Viewer links and the OHIF files the gateway serves (F15), against the real Orthanc."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from dicomweb.viewer_tokens import ViewerClaim
from dicomweb.web.viewer import app_config
from tests.dicomweb.web.conftest import grant_of

OHIF = Path("var/ohif/dist")
needs_ohif = pytest.mark.skipif(
    not (OHIF / "index.html").is_file(), reason="OHIF not installed (scripts/install-ohif.sh)"
)


def _patient_with_study(his_pacs):
    uid, (pid, mrn) = sorted(his_pacs.studies.items())[0]
    other = next(u for u, (p, _) in sorted(his_pacs.studies.items()) if p != pid)
    return pid, mrn, uid, other


def test_a_caller_gets_a_viewer_link_for_a_study_it_may_see(his_pacs, client_for):
    pid, mrn, uid, _ = _patient_with_study(his_pacs)
    client = client_for({pid})
    answer = client.post(f"/dicomweb/studies/{uid}/viewer-link")
    assert answer.status_code == 201
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    url = urlsplit(body["url"])
    assert url.path == "/viewer/viewer"
    query = parse_qs(url.query)
    assert query["StudyInstanceUIDs"] == [uid]
    assert query["token"] == [body["token"]]
    assert body["expires_in"] == 900
    tokens = client.application.extensions["dicomweb"].extras["viewer_tokens"]
    subject = grant_of(client).subject  # the launching account's
    assert tokens.verify(body["token"]) == ViewerClaim(uid, mrn, pid, subject)


def test_no_link_for_a_study_of_another_patient_or_none(his_pacs, client_for):
    pid, _, _, other = _patient_with_study(his_pacs)
    client = client_for({pid})
    assert client.post(f"/dicomweb/studies/{other}/viewer-link").status_code == 404
    assert client.post("/dicomweb/studies/1.2.3.4.5.404/viewer-link").status_code == 404


def test_the_config_points_ohif_at_the_gateway():
    js = app_config("/dicomweb")
    assert 'window.location.origin + "/dicomweb"' in js
    assert '"routerBasename":"/viewer"' in js
    assert '"defaultDataSourceName":"gateway"' in js
    for root in ("qidoRoot", "wadoRoot", "wadoUriRoot"):
        assert f"configuration.{root} = base;" in js


@needs_ohif
def test_the_viewer_files_are_served_under_viewer(dw_client):
    index = dw_client.get("/viewer/")
    assert index.status_code == 200
    page = index.get_data(as_text=True)
    assert 'window.PUBLIC_URL="/viewer/"' in page
    assert 'src="/viewer/app-config.js"' in page
    assert 'src="/app' not in page
    route = dw_client.get("/viewer/viewer?StudyInstanceUIDs=1.2.3")
    assert route.get_data() == index.get_data()
    config = dw_client.get("/viewer/app-config.js")
    assert config.mimetype == "text/javascript"
    assert "/dicomweb" in config.get_data(as_text=True)
    bundle = next(OHIF.glob("app.bundle.*.js")).name
    js = dw_client.get(f"/viewer/{bundle}").get_data(as_text=True)
    assert '__webpack_require__.p = "/viewer/";' in js
    wasm = next(OHIF.glob("*.wasm")).name
    served = dw_client.get(f"/viewer/{wasm}")
    assert served.mimetype == "application/wasm"
    assert served.get_data() == (OHIF / wasm).read_bytes()
    served.close()
    assert dw_client.get("/viewer/missing.js").status_code == 404
    assert dw_client.get("/viewer/../setup.cfg").status_code == 404
