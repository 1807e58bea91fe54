"""Benchmark: whole-study WADO-RS through the gateway, cold (DIMSE) and warm (the cache).

    .venv/bin/python bench/bench_wado.py                 # 200- and 500-instance CT studies, 3 runs
    .venv/bin/python bench/bench_wado.py --sizes 200 --runs 2

Starts its own Orthanc (Debian package, TCP_NODELAY=1) in a temporary directory and stores
synthetic CT studies of 512x512 int16 slices (``demo.synthetic.ct_study``). The gateway runs
as it is deployed (``fhir-gateway serve``: gunicorn, one gthread worker; development open access
over an empty HIS; the default request log), twice: once without a cache (every request is a
streamed C-GET: the cold path) and once with the on-disk cache (first request fills it, the
next ones are warm). Beside them, interleaved run by run:

* plain pynetdicom C-GET on one association (``bench_dimse``'s worker), bytes discarded;
* DCMTK ``getscu`` writing to /dev/shm;
* Orthanc's own DICOMweb plugin, ``/dicom-web/studies/{uid}`` with ``transfer-syntax=*``.

HTTP bodies are read by curl (``--client requests``: by requests, in 1 MiB chunks) and
discarded. Peak RSS growth of the serving gateway is its worker's VmHWM at the end minus its
RSS once warmed up. Prints a Markdown table of medians; not a test.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_dimse import CALLING_AET, SCP_AET, _free_port, _getscu, _vm_hwm_mb, _Worker  # noqa: E402
from bench.bench_qido import _serve, _wait  # noqa: E402
from demo.orthanc import Modality, OrthancProcess  # noqa: E402

ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Gateway:
    """``fhir-gateway serve`` with one gthread worker, over the PACS, in its own directory."""

    def __init__(self, pacs: OrthancProcess, var_dir: Path, cache: Path | None) -> None:
        var_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        extra = {
            "FHIR_GATEWAY_DICOMWEB_CACHE_DIR": str(cache) if cache is not None else "",
            "FHIR_GATEWAY_PACS_STORAGE_SCP_PORT": str(_free_port()),
        }
        name = "warm" if cache is not None else "cold"
        self.proc = _serve(self.port, pacs, str(var_dir), 1, extra, name)
        self.base = f"http://127.0.0.1:{self.port}/dicomweb"
        _wait(f"http://127.0.0.1:{self.port}/health/live", requests.Session())
        self.worker = _worker_pid(self.proc.pid)
        self.rss_ready = 0.0

    def stop(self) -> float:
        """Stop; return the worker's RSS growth (peak minus ready) in MB."""
        growth = _vm_hwm_mb(self.worker) - self.rss_ready
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        return growth


def _worker_pid(master: int) -> int:
    """The one worker process of a gunicorn master."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("the gateway started no worker")


CLIENT = "curl"


def _get(url: str, headers: dict[str, str]) -> tuple[float, float, int]:
    """Time to first byte, total time, bytes of one streamed GET."""
    if CLIENT == "curl":
        return _curl(url, headers)
    started = time.perf_counter()
    first = 0.0
    size = 0
    with requests.get(url, headers=headers, stream=True, timeout=120) as rsp:
        rsp.raise_for_status()
        for chunk in rsp.iter_content(1 << 20):
            if not first:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, time.perf_counter() - started, size


def _curl(url: str, headers: dict[str, str]) -> tuple[float, float, int]:
    """The same GET with curl, body discarded: a native client, so that the client does not take
    the two cores' time from the servers it measures the way a Python client does."""
    cmd = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w",
           "%{time_starttransfer} %{time_total} %{size_download}"]  # fmt: skip
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--client",
        choices=("curl", "requests"),
        default="curl",
        help="HTTP client of the timed requests (curl: native, leaves the cores to the servers)",
    )
    args = parser.parse_args()
    global CLIENT
    CLIENT = args.client

    from demo.synthetic import ct_study
    from dicomweb.backends.dimse import DimseBackend
    from dicomweb.backends.settings import PacsSettings

    scp_port = _free_port()
    with tempfile.TemporaryDirectory() as var_dir:
        pacs = OrthancProcess(
            Path(var_dir) / "orthanc",
            _free_port(),
            _free_port(),
            modalities=(Modality(CALLING_AET, port=scp_port), Modality(SCP_AET, port=scp_port)),
        )
        (Path(var_dir) / "orthanc").mkdir()
        rows = [
            "| study | method | median s | MB/s | first byte ms | peak RSS growth MB |",
            "|---|---|---|---|---|---|",
        ]
        with pacs:
            token = base64.b64encode(f"{pacs.config.username}:{pacs.password}".encode()).decode()
            orthanc_headers = {"Accept": ACCEPT, "Authorization": f"Basic {token}"}
            for size in args.sizes:
                study = f"2.25.{int.from_bytes(os.urandom(12), 'big')}"
                with DimseBackend(PacsSettings(port=pacs.dicom_port)) as backend:
                    assert backend.store(ct_study(study, size)).ok
                mb = size * (512 * 512 * 2) / 1e6
                label = f"{size} x CT 512² ({mb:.0f} MB)"
                cache_dir = Path(var_dir) / f"cache-{size}"
                cold = Gateway(pacs, Path(var_dir) / f"cold-{size}", None)
                warm = Gateway(pacs, Path(var_dir) / f"warm-{size}", cache_dir)
                url = f"/studies/{study}"
                _get(cold.base + url, {"Accept": ACCEPT})  # associations and imports warmed
                cold.rss_ready = _rss_mb(cold.worker)
                fill = _get(warm.base + url, {"Accept": ACCEPT})
                warm.rss_ready = _rss_mb(warm.worker)
                plain = _Worker("plain", pacs.dicom_port, scp_port, study)
                times: dict[str, list[tuple[float, float]]] = {
                    k: [] for k in ("cold", "warm", "orthanc", "plain", "getscu")
                }
                for _ in range(args.runs):
                    times["cold"].append(_get(cold.base + url, {"Accept": ACCEPT})[:2])
                    times["warm"].append(_get(warm.base + url, {"Accept": ACCEPT})[:2])
                    orthanc_url = f"{pacs.http_url}/dicom-web/studies/{study}"
                    times["orthanc"].append(_get(orthanc_url, orthanc_headers)[:2])
                    times["plain"].append((0.0, plain.run()))
                    times["getscu"].append((0.0, _getscu(pacs.dicom_port, study)[0]))
                growth = {"cold": cold.stop(), "warm": warm.stop()}
                plain.finish()
                titles = {
                    "cold": "gateway WADO-RS, cold (streamed C-GET, no cache)",
                    "warm": "gateway WADO-RS, warm (on-disk cache)",
                    "orthanc": "Orthanc native DICOMweb WADO-RS",
                    "plain": "plain pynetdicom C-GET, one association",
                    "getscu": "DCMTK getscu",
                }
                rows.append(
                    f"| {label} | gateway, first request filling the cache | {fill[1]:.3f} | "
                    f"{mb / fill[1]:.0f} | {fill[0] * 1000:.0f} | |"
                )
                for key, title in titles.items():
                    total = statistics.median(t for _, t in times[key])
                    ttfb = statistics.median(f for f, _ in times[key]) * 1000
                    rss = f"{growth[key]:.0f}" if key in growth else ""
                    first = f"{ttfb:.0f}" if ttfb else ""
                    rows.append(
                        f"| {label} | {title} | {total:.3f} | {mb / total:.0f} | {first} | {rss} |"
                    )
                shutil.rmtree(cache_dir, ignore_errors=True)
        print(f"medians of {args.runs} runs\n")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
