"""Benchmark: a 50 MB patient upload (``POST /fhir/Binary``) against a bare Flask endpoint that
streams the same body to disk, side by side under the same gunicorn settings.

    .venv/bin/python -m bench.bench_upload            # 5 rounds of each, interleaved
    .venv/bin/python -m bench.bench_upload --runs 3 --megabytes 20

The file is a real PNG of random pixels (which do not compress) just under the default
per-file limit of 50 MB. The gateway runs as it is deployed (``fhir-gateway serve``: gunicorn,
one gthread worker, development open access over an empty HIS, the default request log); the
bare endpoint is one Flask route that copies ``request.stream`` to a file in 1 MiB chunks,
served by gunicorn with the options ``fhir-gateway serve`` uses (``gateway.server
.gunicorn_options``: the same worker class, one worker, the same threads). The gateway's path
does more: the access decision, the quota reservation in the state database, SHA-1 of the
bytes, type detection, fsync and an atomic rename, the audit record.

Each round uploads once to each (the order alternating) with curl (a native client, so the
client does not take the two cores' time the servers need), its body read from a file. Peak
RSS growth of each worker is its VmHWM at the end minus its RSS after one small warm-up upload.
Prints a Markdown table; not a test.
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
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_dimse import _free_port, _vm_hwm_mb  # noqa: E402
from bench.bench_wado import _rss_mb, _worker_pid  # noqa: E402

CHUNK = 1024 * 1024


def bare_app(target: str) -> Any:
    """The baseline: a Flask endpoint that streams the request body to a file, nothing more."""
    from flask import Flask, request

    app = Flask("bare-upload")

    @app.post("/upload")
    def upload() -> tuple[str, int]:
        path = Path(target) / f"{time.monotonic_ns()}.part"
        size = 0
        with path.open("wb") as out:
            while True:
                data = request.stream.read(CHUNK)
                if not data:
                    break
                out.write(data)
                size += len(data)
        return str(size), 201

    @app.get("/health/live")
    def live() -> str:
        return "ok"

    return app


def serve_bare(port: int, target: str) -> None:
    """Run ``bare_app`` under gunicorn with the gateway's own options (one worker)."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    from gateway.server import gunicorn_options
    from gateway.settings import Settings

    options = gunicorn_options(
        Settings.from_mapping({"log_level": "WARNING"}), port=port, workers=1
    )
    options.pop("worker_exit", None)  # the gateway's hook closes what create_app opened
    options["proc_name"] = "bare-upload"

    class Bare(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return bare_app(target)

    Bare().run()


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health/live", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


def _upload(url: str, path: Path, headers: dict[str, str]) -> tuple[float, int]:
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{http_code}",
           "-H", "Expect:", "--data-binary", f"@{path}"]  # fmt: skip
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def _png(path: Path, nbytes: int) -> None:
    import numpy as np
    from PIL import Image

    side = int((nbytes / 3) ** 0.5)
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(path, format="PNG", compress_level=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--megabytes", type=float, default=49.5)
    parser.add_argument("--serve-bare", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(int(args.serve_bare[0]), args.serve_bare[1])
        return
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        root = Path(tmp)
        body = root / "scan.png"
        _png(body, int(args.megabytes * 1_000_000))
        size = body.stat().st_size
        small = root / "small.png"
        _png(small, 50_000)
        (root / "bare").mkdir()
        gw_port, bare_port = _free_port(), _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "FHIR_GATEWAY_HIS_URL": f"sqlite:///{root}/his.sqlite",
            "FHIR_GATEWAY_STATE_URL": f"sqlite:///{root}/state.sqlite",
            "FHIR_GATEWAY_PORT": str(gw_port),
            "FHIR_GATEWAY_WORKERS": "1",
            "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
            "FHIR_GATEWAY_UPLOADS_DIR": str(root / "uploads"),
            "FHIR_GATEWAY_UPLOADS_QUOTA_BYTES": str(2**31 - 1),
        }
        gateway = _start(
            [str(Path(sys.executable).parent / "fhir-gateway"), "serve"], env, root / "gw.log"
        )
        bare = _start(
            [
                sys.executable,
                "-m",
                "bench.bench_upload",
                "--serve-bare",
                str(bare_port),
                str(root / "bare"),
            ],
            env,
            root / "bare.log",
        )
        try:
            _wait(gw_port)
            _wait(bare_port)
            targets = {
                "gateway": (
                    f"http://127.0.0.1:{gw_port}/fhir/Binary",
                    {"Content-Type": "image/png", "X-Security-Context": "Patient/1"},
                    _worker_pid(gateway.pid),
                ),
                "bare Flask": (
                    f"http://127.0.0.1:{bare_port}/upload",
                    {"Content-Type": "image/png"},
                    _worker_pid(bare.pid),
                ),
            }
            ready = {}
            for name, (url, headers, worker) in targets.items():
                _, status = _upload(url, small, headers)
                assert status == 201, (name, status)
                ready[name] = _rss_mb(worker)
            times: dict[str, list[float]] = {name: [] for name in targets}
            order = list(targets)
            for run in range(args.runs):
                for name in order if run % 2 == 0 else reversed(order):
                    url, headers, _ = targets[name]
                    took, status = _upload(url, body, headers)
                    assert status == 201, (name, status, (root / "gw.log").read_text()[-2000:])
                    times[name].append(took)
            growth = {n: _vm_hwm_mb(targets[n][2]) - ready[n] for n in targets}
        finally:
            for proc in (gateway, bare):
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    mb = size / 1_000_000
    rate = {n: mb / statistics.median(t) for n, t in times.items()}
    print(f"upload of {size} bytes ({mb:.1f} MB), {args.runs} rounds, medians\n")
    print("| endpoint | median time | throughput | worker peak RSS growth |")
    print("|---|---|---|---|")
    for name in targets:
        print(
            f"| {name} | {statistics.median(times[name]):.3f} s | {rate[name]:.0f} MB/s "
            f"| {growth[name]:.1f} MB |"
        )
    print(
        f"\ngateway throughput / bare Flask: **{100 * rate['gateway'] / rate['bare Flask']:.1f}%**"
    )
    print("all times:", {n: [round(x, 3) for x in t] for n, t in times.items()})


if __name__ == "__main__":
    main()
