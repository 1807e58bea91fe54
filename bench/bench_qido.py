"""Benchmark: QIDO-RS through the gateway against Orthanc's own QIDO, side by side.

    .venv/bin/python bench/bench_qido.py                 # 300 timed requests per query
    .venv/bin/python bench/bench_qido.py --runs 100 --studies 40

Starts its own Orthanc (Debian package, TCP_NODELAY=1) in a temporary directory, stores
``--studies`` small synthetic studies spread over the demo patients, then serves the gateway
(development open access, DIMSE backend over a pooled association) as it is deployed:
``fhir-gateway serve``, gunicorn with ``--workers`` gthread workers (default 1: the client sends
one request at a time) and the default request log. The same HTTP client (requests, one
kept-alive connection per server) then times, in interleaved order so that machine load hits
both alike:

* studies of one patient: ``/studies?PatientID=...``;
* series of one study: ``/studies/{uid}/series``.

Prints a Markdown table of medians (p50) and p90, and the gateway/Orthanc ratio (target: p50
at most 2x). Not run by the tests.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from demo.orthanc import Modality, OrthancProcess, free_port  # noqa: E402
from demo.synthetic import DEMO_PATIENTS, StudySpec, build_study  # noqa: E402
from dicomweb.backends.dimse import DimseBackend  # noqa: E402
from dicomweb.backends.settings import PacsSettings  # noqa: E402

CALLING_AET, SCP_AET = "FHIRGW", "FHIRGW_SCP"


def _store(settings: PacsSettings, count: int) -> list[StudySpec]:
    specs = []
    start = datetime(2024, 1, 1, 8, 0)
    for n in range(count):
        modality = ("CT", "MR", "CR", "US")[n % 4]
        specs.append(
            StudySpec(
                study_uid=f"2.25.{uuid.uuid4().int}",
                patient=DEMO_PATIENTS[n % len(DEMO_PATIENTS)],
                accession_number=f"B{n:06d}",
                modality=modality,
                performed_at=start + timedelta(days=n),
                description=f"{modality} bench",
                body_part="CHEST",
                series_count=3,
                instance_count=6,
                referring_physician="Popescu^Mihai",
                max_size=32,
            )
        )
    with DimseBackend(settings) as backend:
        for spec in specs:
            result = backend.store(build_study(spec))
            assert result.ok, result.failures
    return specs


def _serve(
    port: int,
    orthanc: OrthancProcess,
    tmp: str,
    workers: int,
    extra: dict[str, str] | None = None,
    name: str = "gateway",
) -> subprocess.Popen[bytes]:
    """The gateway as it is deployed: ``fhir-gateway serve`` (gunicorn, gthread workers), over
    an empty HIS in ``tmp``, its output in ``tmp/{name}.log``; ``extra`` adds settings."""
    env = {
        **os.environ,
        "FHIR_GATEWAY_HIS_URL": f"sqlite:///{tmp}/his.sqlite",
        "FHIR_GATEWAY_STATE_URL": f"sqlite:///{tmp}/state.sqlite",
        "FHIR_GATEWAY_PORT": str(port),
        "FHIR_GATEWAY_WORKERS": str(workers),
        "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
        "FHIR_GATEWAY_PACS_ENABLED": "true",
        "FHIR_GATEWAY_PACS_BACKEND": "dimse",
        "FHIR_GATEWAY_PACS_HOST": "127.0.0.1",
        "FHIR_GATEWAY_PACS_PORT": str(orthanc.dicom_port),
        "FHIR_GATEWAY_PACS_CALLED_AET": orthanc.aet,
        "FHIR_GATEWAY_PACS_CALLING_AET": CALLING_AET,
        **(extra or {}),
    }
    log = Path(tmp) / f"{name}.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "fhir-gateway"), "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(url: str, session: requests.Session) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if session.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:  # not listening yet, or still starting
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def _time(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    rsp = session.get(url, headers={"Accept": "application/dicom+json"}, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    rsp.raise_for_status()
    assert rsp.json(), url
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--studies", type=int, default=40)
    parser.add_argument(
        "--workers", type=int, default=1, help="gunicorn workers (one client: one is enough)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scp_port = free_port()
        orthanc = OrthancProcess(
            Path(tmp) / "orthanc",
            http_port=free_port(),
            dicom_port=free_port(),
            modalities=(Modality(CALLING_AET, port=scp_port), Modality(SCP_AET, port=scp_port)),
        )
        orthanc.start()
        child: subprocess.Popen[bytes] | None = None
        try:
            settings = PacsSettings(
                port=orthanc.dicom_port,
                called_aet=orthanc.aet,
                calling_aet=CALLING_AET,
                storage_scp_aet=SCP_AET,
                storage_scp_port=scp_port,
            )
            specs = _store(settings, args.studies)
            port = free_port()
            child = _serve(port, orthanc, tmp, args.workers)
            gateway = f"http://127.0.0.1:{port}/dicomweb"
            native = orthanc.http_url + "/dicom-web"
            gw, oc = requests.Session(), requests.Session()
            oc.auth = (orthanc.config.username, orthanc.password)
            _wait(gateway + "/studies?limit=1", gw)
            patient = specs[0].patient.patient_id
            study = specs[0].study_uid
            queries = {
                "studies of one patient": f"/studies?PatientID={patient}",
                "series of one study": f"/studies/{study}/series",
            }
            times: dict[tuple[str, str], list[float]] = {}
            for name, path in queries.items():
                for _ in range(10):  # warm both: pooled association, Orthanc's caches
                    _time(gw, gateway + path)
                    _time(oc, native + path)
                for _ in range(args.runs):
                    times.setdefault((name, "gateway"), []).append(_time(gw, gateway + path))
                    times.setdefault((name, "orthanc"), []).append(_time(oc, native + path))
            print(f"{args.studies} studies x 3 series x 6 instances; {args.runs} runs per query\n")
            print("| query | gateway p50 | Orthanc p50 | ratio | gateway p90 | Orthanc p90 |")
            print("|---|---|---|---|---|---|")
            for name in queries:
                g, o = times[(name, "gateway")], times[(name, "orthanc")]
                gp50, op50 = statistics.median(g), statistics.median(o)
                gp90 = statistics.quantiles(g, n=10)[-1]
                op90 = statistics.quantiles(o, n=10)[-1]
                print(
                    f"| {name} | {gp50:.2f} ms | {op50:.2f} ms | {gp50 / op50:.2f}x "
                    f"| {gp90:.2f} ms | {op90:.2f} ms |"
                )
        finally:
            if child is not None:
                child.send_signal(signal.SIGTERM)
                child.wait(timeout=30)
            orthanc.stop()


if __name__ == "__main__":
    main()
