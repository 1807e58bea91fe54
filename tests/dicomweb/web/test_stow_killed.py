"""A worker killed in the middle of a PACS store leaves its STOW-RS in the audit trail.

The store is announced (``access.audit.intend``) before the PACS is asked: a real gunicorn
worker SIGKILLed while a stalled PACS (the fault proxy between the gateway and Orthanc) holds
the store leaves an audit event of outcome ``unknown`` naming the study once the next worker
has drained the journal: a BALP-valid AuditEvent, outcome 8 (serious failure).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests
import sqlalchemy as sa

from demo.faultproxy import FaultProxy
from demo.orthanc import free_port
from mappers.audit_event import from_audit_row
from smart_auth.audit.tables import audit_event, audit_patient
from tests.dicomweb.conftest import CALLING_AET, Pacs
from tests.dicomweb.web.test_stow import CT, body, part10, study
from tests.gunicorn_serving import wait_ready
from tests.smart_auth.test_audit_balp import assert_balp

REPO = Path(__file__).resolve().parents[3]


def _worker(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = psutil.Process(master).children()
        if children:
            return int(children[0].pid)
        time.sleep(0.05)
    raise AssertionError("gunicorn started no worker")


def _stow_events(state_url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(state_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit_event).where(
                    audit_event.c.action == "create", audit_event.c.resource_type == "ImagingStudy"
                )
            ).all()
            out = []
            for row in rows:
                patients = conn.execute(
                    sa.select(audit_patient.c.his_patient_id).where(
                        audit_patient.c.event_id == row.id
                    )
                ).scalars()
                out.append(from_audit_row(row._mapping, list(patients)))
            return out
    finally:
        engine.dispose()


def test_a_worker_killed_while_the_pacs_stores_leaves_an_unknown_outcome_stow_event(
    sqlite_his: str, pacs: Pacs, tmp_path: Path
) -> None:
    state_url = f"sqlite:///{tmp_path}/state.sqlite"
    port = free_port()
    with FaultProxy("127.0.0.1", pacs.process.dicom_port, lifetime_s=300) as proxy:
        env = {
            **os.environ,
            "FHIR_GATEWAY_HIS_URL": sqlite_his,
            "FHIR_GATEWAY_STATE_URL": state_url,
            "FHIR_GATEWAY_PORT": str(port),
            "FHIR_GATEWAY_WORKERS": "1",
            "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
            "FHIR_GATEWAY_SECRET_KEY": "test-secret",
            "FHIR_GATEWAY_PACS_ENABLED": "true",
            "FHIR_GATEWAY_PACS_HOST": "127.0.0.1",
            "FHIR_GATEWAY_PACS_PORT": str(proxy.port),
            "FHIR_GATEWAY_PACS_CALLED_AET": pacs.process.aet,
            "FHIR_GATEWAY_PACS_CALLING_AET": CALLING_AET,
            "FHIR_GATEWAY_PACS_STORAGE_SCP_PORT": str(free_port()),
            "FHIR_GATEWAY_DICOMWEB_CACHE_DIR": str(tmp_path / "cache"),
            "FHIR_GATEWAY_AUDIT_JOURNAL_DIR": str(tmp_path / "journal"),
            "FHIR_GATEWAY_OUTBOX_DIR": str(tmp_path / "outbox"),
            "PYTHONPATH": str(REPO),
        }
        cli = Path(sys.executable).parent / "fhir-gateway"
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(cli), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_ready(port, log_path)
            worker = _worker(proc.pid)
            datasets = study("STOW-KILL-1", count=2)
            uid = str(datasets[0].StudyInstanceUID)
            proxy.mode = "stall"  # the PACS hangs: the store waits in its middle
            answers: list[Any] = []

            def upload() -> None:
                try:
                    answers.append(
                        requests.post(
                            f"http://127.0.0.1:{port}/dicomweb/studies",
                            data=body(*map(part10, datasets)),
                            headers={"Content-Type": CT, "Accept": "application/dicom+json"},
                            timeout=60,
                        )
                    )
                except requests.RequestException as exc:
                    answers.append(exc)

            sender = threading.Thread(target=upload, daemon=True)
            sender.start()
            deadline = time.monotonic() + 20
            while proxy.accepted == 0:  # the worker reached the PACS with the store
                assert time.monotonic() < deadline, "the store never reached the PACS"
                time.sleep(0.02)
            time.sleep(0.5)
            os.kill(worker, signal.SIGKILL)
            sender.join(30)
            assert answers, "the upload got no end at all"
            assert isinstance(answers[0], requests.RequestException), answers  # cut off
            proxy.mode = "pass"
            wait_ready(port, log_path)  # the next worker started, and drained the journal
            deadline = time.monotonic() + 30
            while not (events := _stow_events(state_url)):
                assert time.monotonic() < deadline, "no audit event of the cut-off STOW"
                time.sleep(0.2)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    (event,) = events
    assert event["outcome"] == "8"
    assert event["outcomeDesc"] == "unknown: create ImagingStudy"
    assert event["action"] == "C"
    identifiers = [e["what"].get("identifier", {}) for e in event.get("entity", [])]
    assert {"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"} in identifiers
    assert_balp(event)
