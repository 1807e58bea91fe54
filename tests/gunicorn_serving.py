"""Waiting for a ``fhir-gateway serve`` (gunicorn) child process that a test started."""

from __future__ import annotations

import time
from pathlib import Path

import requests


def wait_ready(port: int, log_path: Path, timeout_s: float = 30.0) -> None:
    """Return once ``/health/ready`` answers; fail with the end of the server's log if not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).ok:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not start: " + log_path.read_text()[-2000:])
