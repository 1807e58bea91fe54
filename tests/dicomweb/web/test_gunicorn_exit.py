"""A gunicorn worker that holds a pooled PACS association still stops cleanly on SIGTERM.

pynetdicom runs each association's DUL in a non-daemon thread. Python's shutdown waits for such
threads before atexit handlers run, so an idle association left in the pool kept the worker alive
until the master's graceful timeout (20 s) ran out and it killed the worker with SIGKILL, losing
whatever atexit would have flushed (the audit writer's queue). The worker_exit hook closes the pool
first; the worker then stops in about two seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from demo.orthanc import free_port
from gateway.server import gunicorn_options
from gateway.settings import Settings
from tests.dicomweb.conftest import CALLING_AET
from tests.dicomweb.web.conftest import HisPacs
from tests.gunicorn_serving import wait_ready

JSON = {"Accept": "application/dicom+json"}
GRACEFUL_S = gunicorn_options(Settings())["graceful_timeout"]


def test_worker_with_a_pooled_association_exits_on_sigterm(his_pacs: HisPacs, tmp_path: Path):
    process = his_pacs.pacs.process
    port = free_port()
    env = {
        **os.environ,
        "FHIR_GATEWAY_HIS_URL": his_pacs.his_url,
        "FHIR_GATEWAY_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "FHIR_GATEWAY_PORT": str(port),
        "FHIR_GATEWAY_WORKERS": "1",
        "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
        "FHIR_GATEWAY_PACS_ENABLED": "true",
        "FHIR_GATEWAY_PACS_BACKEND": "dimse",
        "FHIR_GATEWAY_PACS_HOST": "127.0.0.1",
        "FHIR_GATEWAY_PACS_PORT": str(process.dicom_port),
        "FHIR_GATEWAY_PACS_CALLED_AET": process.aet,
        "FHIR_GATEWAY_PACS_CALLING_AET": CALLING_AET,
    }
    cli = Path(sys.executable).parent / "fhir-gateway"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(cli), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, log_path)
            # a QIDO leaves its association idle in the worker's pool
            studies = f"http://127.0.0.1:{port}/dicomweb/studies"
            rsp = requests.get(studies, headers=JSON, timeout=10)
            assert rsp.status_code == 200, rsp.text
            assert rsp.json()
            proc.send_signal(signal.SIGTERM)
            # a worker still waiting for its threads is SIGKILLed when the graceful timeout
            # runs out, and the master exits just after: it must be done well before that
            rc = proc.wait(timeout=GRACEFUL_S - 5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log_path.read_text()
    assert rc == 0, text[-2000:]
    assert "Worker exiting" in text
    if "Traceback" in text:
        pytest.fail("the server logged a traceback:\n" + text[-2000:])
