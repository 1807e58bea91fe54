"""A gunicorn worker SIGKILLed while a file is arriving leaves nothing behind: once its lease
runs out, the next worker's sweep removes the partial file and the reservation, and the quota
counts none of it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
import sqlalchemy as sa

from demo.orthanc import free_port
from smart_auth.uploads.tables import upload_binary
from tests.gunicorn_serving import wait_ready
from tests.uploads import samples

pytestmark = pytest.mark.slow


def _worker(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = psutil.Process(master).children()
        if len(children) == 1:
            return children[0].pid
        time.sleep(0.1)
    raise AssertionError("gunicorn has no single worker")


def _wait(predicate: object, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_worker_killed_mid_upload_leaves_nothing_behind(sqlite_his: str, tmp_path: Path) -> None:
    port = free_port()
    state_url = f"sqlite:///{tmp_path}/state.sqlite"
    store = tmp_path / "uploads"
    env = {
        **os.environ,
        "FHIR_GATEWAY_HIS_URL": sqlite_his,
        "FHIR_GATEWAY_STATE_URL": state_url,
        "FHIR_GATEWAY_PORT": str(port),
        "FHIR_GATEWAY_WORKERS": "1",
        "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
        "FHIR_GATEWAY_SECRET_KEY": "test-secret",
        "FHIR_GATEWAY_UPLOADS_DIR": str(store),
        "FHIR_GATEWAY_UPLOADS_LEASE_S": "5",
        "FHIR_GATEWAY_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    cli = Path(sys.executable).parent / "fhir-gateway"
    log_path = tmp_path / "server.log"
    engine = sa.create_engine(state_url)
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(cli), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, log_path)
            worker = _worker(proc.pid)
            body = samples.png_of_size(6_000_000)
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(
                (
                    "POST /fhir/Binary HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{port}\r\n"
                    "Content-Type: image/png\r\n"
                    "X-Security-Context: Patient/1\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
            )
            sock.sendall(body[:3_000_000])  # half of it, then the worker dies

            def receiving() -> list[str]:
                with engine.connect() as conn:
                    return list(
                        conn.execute(
                            sa.select(upload_binary.c.id).where(
                                upload_binary.c.state == "receiving"
                            )
                        ).scalars()
                    )

            def partial_bytes() -> int:
                return sum(p.stat().st_size for p in (store / "partial").glob("*.part"))

            _wait(lambda: receiving() and partial_bytes() >= 2_000_000, "the upload never began")
            (killed,) = receiving()
            os.kill(worker, signal.SIGKILL)
            _wait(
                lambda: (
                    not psutil.pid_exists(worker)
                    or psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
                ),
                "the worker did not die",
            )
            sock.close()
            wait_ready(port, log_path)  # the next worker
            assert receiving() == [killed]  # its reservation is there until the lease runs out
            time.sleep(6)
            small = samples.pdf()
            answer = requests.post(
                f"http://127.0.0.1:{port}/fhir/Binary",
                data=small,
                headers={"Content-Type": "application/pdf", "X-Security-Context": "Patient/1"},
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
            assert receiving() == []
            assert list((store / "partial").iterdir()) == []
            objects = [p for p in (store / "objects").rglob("*") if p.is_file()]
            assert [p.name for p in objects] == [answer.json()["id"].removeprefix("upload-")]
            usage = requests.get(
                f"http://127.0.0.1:{port}/fhir/Patient/1/$upload-usage", timeout=30
            ).json()
            used = next(p["valueInteger"] for p in usage["parameter"] if p["name"] == "used")
            assert used == len(small)
        finally:
            engine.dispose()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
