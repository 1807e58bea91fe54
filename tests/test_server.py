"""The gateway for real: gunicorn on a port, talked to over HTTP by real FHIR clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.gunicorn_serving import wait_ready


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sqlite_his: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    env = {
        **os.environ,
        "FHIR_GATEWAY_HIS_URL": sqlite_his,
        "FHIR_GATEWAY_PORT": str(port),
        "FHIR_GATEWAY_WORKERS": "2",
        "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
    }
    cli = Path(sys.executable).parent / "fhir-gateway"
    log_path = tmp_path_factory.mktemp("gunicorn") / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([str(cli), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, log_path)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_http_round_trip_under_gunicorn(server):
    cs = requests.get(f"{server}/metadata", timeout=5)
    assert cs.status_code == 200
    assert cs.headers["Content-Type"].startswith("application/fhir+json")
    bundle = requests.get(
        f"{server}/Patient?_count=5", timeout=5, headers={"Accept-Encoding": "gzip"}
    )
    assert bundle.headers["Content-Encoding"] == "gzip"
    entries = bundle.json()["entry"]
    # the links are built from the configured base, and work on any worker (the secret the
    # server made for itself is shared by its workers)
    nxt = next(x["url"] for x in bundle.json()["link"] if x["relation"] == "next")
    assert nxt.startswith(server)
    for _ in range(4):
        assert requests.get(nxt, timeout=5).status_code == 200
    pid = entries[0]["resource"]["id"]
    assert requests.get(f"{server}/Patient/{pid}", timeout=5).json()["id"] == pid


def test_python_fhirclient_reads_resources(server):
    from fhirclient import client
    from fhirclient.models.observation import Observation
    from fhirclient.models.patient import Patient

    smart = client.FHIRClient(settings={"app_id": "gateway-tests", "api_base": server})
    assert smart.server.capabilityStatement.fhirVersion == "4.0.1"
    found = list(Patient.where(struct={"_count": "3"}).perform_resources_iter(smart.server))
    assert len(found) >= 3
    patient = Patient.read(found[0].id, smart.server)
    assert patient.identifier
    assert patient.birthDate
    search = Observation.where(struct={"patient": patient.id, "_count": "5"})
    obs = list(search.perform_resources_iter(smart.server))
    assert obs
    for o in obs:
        assert o.subject.reference == f"Patient/{patient.id}"


def test_fhirpy_walks_every_page(server):
    from fhirpy import SyncFHIRClient

    fhir = SyncFHIRClient(server)
    paged = fhir.resources("Encounter").limit(7).fetch_all()
    everything = requests.get(f"{server}/Encounter?_count=1000", timeout=10).json()
    assert [r.id for r in paged] == [e["resource"]["id"] for e in everything["entry"]]
    assert len(paged) > 7
