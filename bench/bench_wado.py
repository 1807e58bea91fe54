"""Benchmark: whole-study WADO-RS through the gateway, cold (DIMSE) and warm (the cache).

    .venv/bin/python bench/bench_wado.py                 # 200- and 500-instance CT studies, 3 runs
    .venv/bin/python bench/bench_wado.py --sizes 200 --runs 2

Starts its own Orthanc (Debian package, TCP_NODELAY=1) in a temporary directory and stores
synthetic CT studies of 512x512 int16 slices (``dicomweb.synthetic.ct_study``). The gateway runs
in its own process (werkzeug, threaded, development open access over an empty HIS), twice: once
without a cache (every request is a streamed C-GET: the cold path) and once with the on-disk
cache (first request fills it, the next ones are warm). Beside them, interleaved run by run:

* plain pynetdicom C-GET on one association (``bench_dimse``'s worker), bytes discarded;
* DCMTK ``getscu`` writing to /dev/shm;
* Orthanc's own DICOMweb plugin, ``/dicom-web/studies/{uid}`` with ``transfer-syntax=*``.

HTTP bodies are read by curl (``--client requests``: by requests, in 1 MiB chunks) and
discarded. Peak RSS growth of the serving gateway is
its VmHWM at the end minus its RSS once ready. Prints a Markdown table of medians; not a test.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
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

ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def serve(args: argparse.Namespace) -> None:
    """The gateway process: one app over the PACS, served until killed."""
    from werkzeug.serving import make_server

    from dicomweb.backends.dimse import DimseBackend
    from dicomweb.backends.settings import PacsSettings
    from fhir_gateway import create_app

    settings = PacsSettings(port=args.pacs_port, storage_scp_port=_free_port())
    config = {
        "his_url": f"sqlite:///{args.his}",
        "dev_open_access": True,
        "secret_key": "bench",
        "log_level": "WARNING",
        "dicomweb_cache_dir": args.cache or "",
    }
    app = create_app(config, pacs=DimseBackend(settings), pacs_settings=settings)
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print("ready", flush=True)
    server.serve_forever()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Gateway:
    def __init__(self, pacs_port: int, his: Path, cache: Path | None) -> None:
        self.port = _free_port()
        cmd = [sys.executable, __file__, "--serve", "--port", str(self.port),
               "--pacs-port", str(pacs_port), "--his", str(his)]  # fmt: skip
        if cache is not None:
            cmd += ["--cache", str(cache)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the gateway did not start")
        self.base = f"http://127.0.0.1:{self.port}/dicomweb"
        self.rss_ready = 0.0

    def stop(self) -> float:
        """Stop; return the RSS growth (peak minus ready) in MB."""
        growth = _vm_hwm_mb(self.proc.pid) - self.rss_ready
        self.proc.terminate()
        self.proc.wait(30)
        return growth


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
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int)
    parser.add_argument("--pacs-port", type=int)
    parser.add_argument("--his")
    parser.add_argument("--cache")
    parser.add_argument(
        "--client",
        choices=("curl", "requests"),
        default="curl",
        help="HTTP client of the timed requests (curl: native, leaves the cores to the servers)",
    )
    args = parser.parse_args()
    global CLIENT
    CLIENT = args.client
    if args.serve:
        serve(args)
        return

    from dicomweb.backends.dimse import DimseBackend
    from dicomweb.backends.settings import PacsSettings
    from dicomweb.orthanc import Modality, OrthancProcess
    from dicomweb.synthetic import ct_study

    scp_port = _free_port()
    with tempfile.TemporaryDirectory() as var_dir:
        pacs = OrthancProcess(
            Path(var_dir) / "orthanc",
            _free_port(),
            _free_port(),
            modalities=(Modality(CALLING_AET, port=scp_port), Modality(SCP_AET, port=scp_port)),
        )
        (Path(var_dir) / "orthanc").mkdir()
        his = Path(var_dir) / "his.sqlite"
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
                cold = Gateway(pacs.dicom_port, his, None)
                warm = Gateway(pacs.dicom_port, his, cache_dir)
                url = f"/studies/{study}"
                _get(cold.base + url, {"Accept": ACCEPT})  # associations and imports warmed
                cold.rss_ready = _rss_mb(cold.proc.pid)
                fill = _get(warm.base + url, {"Accept": ACCEPT})
                warm.rss_ready = _rss_mb(warm.proc.pid)
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
