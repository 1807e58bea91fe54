"""The portal benchmark's documented command keeps working (``python -m bench.bench_portal``):
a short run signs in through the real pages in headless Chromium and measures every page, with
the FHIR requests each makes and the bytes of script and style each loads. It runs as its own
process, as documented (and so beside, not inside, the browser of the other tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.portal.conftest import pytestmark  # noqa: F401 (Chromium and the portal's assets)

REPO = Path(__file__).resolve().parents[1]
#: the FHIR requests each page makes (its searches), as BENCHMARKS.md gives them
REQUESTS = {"/": 0, "/studies": 2, "/record": 3, "/results": 1, "/imaging": 2}


def test_a_short_run_measures_every_page(tmp_path: Path) -> None:
    out = tmp_path / "portal.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_portal",
            "--patients",
            "120",
            "--rounds",
            "2",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    pages = json.loads(out.read_text())["pages"]
    assert set(pages) == set(REQUESTS)
    for path, requests in REQUESTS.items():
        row = pages[path]
        assert row["page_p50_ms"] > 0, path
        assert row["fhir_requests_per_page"] == requests, path
        assert row["js_bytes"] == 0, path  # only the uploads page has a script
        assert row["css_bytes"] > 200_000, path  # NHS.UK frontend's stylesheet, served here
