"""The OHIF viewer in headless Chromium opens a viewer link and renders the study (F15).

A live gateway (werkzeug in a thread) over the real Orthanc serves the viewer and DICOMweb; the
browser opens the link a patient's grant minted, and the test checks that every DICOMweb request
carries the viewer token and that a canvas shows the study's first image (non-blank pixels).
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
def live(his_pacs: Any, client_for: Any) -> Iterator[tuple[str, Any, int]]:
    """A live gateway whose grant covers the first study's patient: (origin, app, patient)."""
    pid = sorted(his_pacs.studies.values())[0][0]
    app = client_for({pid}).application
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app, pid
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


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
    link = app.test_client().post(f"/dicomweb/studies/{study}/viewer-link").get_json()
    url = urlsplit(link["url"])
    dicomweb: list[tuple[str, str | None]] = []
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
        missing = _missing_routes(app)
        if missing:
            pytest.skip(f"viewer booted; rendering waits on the DICOMweb routes {missing}")
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
    finally:
        context.close()
