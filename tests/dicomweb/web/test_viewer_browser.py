"""The OHIF viewer in headless Chromium opens a viewer link and renders the study (F15).

A live gateway (werkzeug in a thread) over the real Orthanc serves the viewer and DICOMweb, with
authorization on and no development open access: the link is minted with a patient's real SMART
token (an authorization-code launch against the gateway's OAuth store). The browser opens it, and
the test checks that every DICOMweb request carries the viewer token, that the gateway answered
OHIF's QIDO-RS searches (200, not 401/403), and that a canvas shows the study's first image
(non-blank pixels).
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from werkzeug.serving import make_server

from tests.dicomweb.web.conftest import close_signed_in_app, signed_in_app, smart_token

OHIF = Path("var/ohif/dist")
CHROMIUM = "/usr/bin/chromium"
#: The DICOMweb routes OHIF needs to show a study (PS3.18 §10.4, §10.6).
NEEDED = (
    "/dicomweb/studies",
    "/dicomweb/studies/<study>/series",
    "/dicomweb/studies/<study>/series/<series>/metadata",
    "/dicomweb/studies/<study>/series/<series>/instances/<instance>/frames/<frames>",
)

pytestmark = pytest.mark.skipif(
    not (OHIF / "index.html").is_file() or not Path(CHROMIUM).is_file(),
    reason="OHIF (scripts/install-ohif.sh) or Chromium missing",
)


@pytest.fixture
def live(his_pacs: Any, tmp_path: Path) -> Iterator[tuple[str, Any, int]]:
    """A live gateway with authorization on, and the patient of the first study:
    (origin, app, patient)."""
    pid = sorted(his_pacs.studies.values())[0][0]
    app = signed_in_app(his_pacs, tmp_path)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app, pid
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        close_signed_in_app(app)


def _missing_routes(app: Any) -> list[str]:
    """NEEDED routes the gateway does not serve (their converter names may differ)."""
    rules = {_shape(rule.rule) for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    return [route for route in NEEDED if _shape(route) not in rules]


def _shape(rule: str) -> str:
    return "/".join("<>" if part.startswith("<") else part for part in rule.split("/"))


def _non_blank(png: bytes) -> bool:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)
    return bool(pixels.std() > 8 and (pixels > 40).mean() > 0.02)


def test_a_viewer_link_opens_the_study_and_shows_its_first_image(live, his_pacs, browser):
    origin, app, pid = live
    study = his_pacs.studies_of(pid)[0]
    client = app.test_client()
    # authorization is on: nothing without a token, not even the link
    assert client.post(f"/dicomweb/studies/{study}/viewer-link").status_code == 401
    auth = {"Authorization": f"Bearer {smart_token(app, pid)}"}
    minted = client.post(f"/dicomweb/studies/{study}/viewer-link", headers=auth)
    assert minted.status_code == 201, minted.get_data(as_text=True)
    link = minted.get_json()
    url = urlsplit(link["url"])
    dicomweb: list[tuple[str, str | None]] = []
    searches: list[tuple[str, int]] = []  # OHIF's QIDO-RS searches and the gateway's answers
    # one browser context per test, on the process's shared Chromium
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.on(
            "request",
            lambda r: (
                dicomweb.append((r.url, r.headers.get("authorization")))
                if "/dicomweb/" in r.url
                else None
            ),
        )
        page.on(
            "response",
            lambda r: (
                searches.append((r.url, r.status))
                if urlsplit(r.url).path.startswith("/dicomweb/studies")
                and urlsplit(r.url).path.endswith(("/studies", "/series", "/instances"))
                else None
            ),
        )
        page.goto(f"{origin}{url.path}?{url.query}")
        # The viewer booted from /viewer and asked the gateway for the study.
        page.wait_for_function(
            "() => performance.getEntriesByType('resource')"
            ".some(e => e.name.includes('/dicomweb/studies'))",
            timeout=60_000,
        )
        assert dicomweb, "the viewer sent no DICOMweb request"
        assert all(auth == f"Bearer {link['token']}" for _, auth in dicomweb), dicomweb
        assert "token=" not in page.url  # OHIF moved the token out of the address bar
        assert _missing_routes(app) == []
        canvas = page.wait_for_selector(
            "div[data-viewport-uid] canvas, .cornerstone-canvas", timeout=90_000
        )
        assert canvas is not None
        shown = b""
        for _ in range(120):  # a bound on attempts, not a timing assertion
            # The canvas's own pixels (cornerstone copies each frame into a 2D canvas),
            # not a screenshot, which would include the text overlays above it.
            data_url = canvas.evaluate("c => c.toDataURL('image/png')")
            png = base64.b64decode(data_url.split(",", 1)[1])
            if _non_blank(png):
                shown = png
                break
            page.wait_for_timeout(500)
        assert shown, "the viewport stayed blank"
        # the image came through QIDO-RS that took the viewer token (and only its study)
        assert searches, "OHIF ran no QIDO-RS search"
        assert all(status == 200 for _, status in searches), searches
    finally:
        context.close()
