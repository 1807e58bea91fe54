"""Under the real server (``fhir-gateway serve``, gunicorn): an export whose PACS goes away
mid-way ends with a truncated chunked body, never with a complete-looking archive or an HTML
error page, and the server logs the break without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from demo.orthanc import free_port
from demo.synthetic import StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from tests.dicomweb.conftest import CALLING_AET, demo_patient, new_uid, start_pacs
from tests.gunicorn_serving import wait_ready


def _drain(chunks: Iterator[bytes], received: list[int]) -> None:
    for chunk in chunks:
        received.append(len(chunk))


def test_an_export_whose_pacs_dies_mid_way_is_truncated(sqlite_his: str, tmp_path: Path):
    pacs = start_pacs(tmp_path / "orthanc")
    study_uid = new_uid()
    try:
        spec = StudySpec(
            study_uid=study_uid,
            patient=demo_patient(9),
            accession_number="ABORT1",
            modality="CT",
            performed_at=datetime(2025, 1, 1, 8, 0),
            instance_count=300,
            max_size=256,
        )
        with DimseBackend(pacs.settings()) as backend:
            assert backend.store(build_study(spec)).ok
        port = free_port()
        env = {
            **os.environ,
            "FHIR_GATEWAY_HIS_URL": sqlite_his,
            "FHIR_GATEWAY_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
            "FHIR_GATEWAY_PORT": str(port),
            "FHIR_GATEWAY_WORKERS": "1",
            "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
            "FHIR_GATEWAY_PACS_ENABLED": "true",
            "FHIR_GATEWAY_PACS_BACKEND": "dimse",
            "FHIR_GATEWAY_PACS_HOST": "127.0.0.1",
            "FHIR_GATEWAY_PACS_PORT": str(pacs.process.dicom_port),
            "FHIR_GATEWAY_PACS_CALLED_AET": pacs.process.aet,
            "FHIR_GATEWAY_PACS_CALLING_AET": CALLING_AET,
            "FHIR_GATEWAY_PACS_DIMSE_TIMEOUT_S": "5",
        }
        cli = Path(sys.executable).parent / "fhir-gateway"
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen([str(cli), "serve"], env=env, stdout=log, stderr=log)
            try:
                wait_ready(port, log_path)
                url = f"http://127.0.0.1:{port}/dicomweb/studies/{study_uid}/export"
                rsp = requests.get(url, stream=True, timeout=30)
                assert rsp.status_code == 200
                assert rsp.headers.get("Transfer-Encoding") == "chunked"
                chunks = rsp.iter_content(64 * 1024)
                body = next(chunks)
                assert body.startswith(b"PK")
                pacs.process.kill()  # the PACS goes away mid-retrieval
                received = [len(body)]
                with pytest.raises(requests.exceptions.ChunkedEncodingError):
                    _drain(chunks, received)
                assert sum(received) < 300 * 256 * 256 * 2
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        text = log_path.read_text()
        assert "export broke off mid-way" in text, text[-3000:]
        assert "Traceback" not in text, text[-3000:]
        assert "<html" not in text.lower()
    finally:
        pacs.process.stop()  # a no-op once killed
