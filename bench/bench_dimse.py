"""Benchmark: retrieving a whole CT study over DIMSE from a local Orthanc.

    .venv/bin/python bench/bench_dimse.py            # 200- and 500-instance studies, 5 runs
    .venv/bin/python bench/bench_dimse.py --sizes 200 --runs 3 --orthanc-max-pdu 131072

Starts its own Orthanc (Debian package, TCP_NODELAY=1) in a temporary directory, stores
synthetic CT studies of 512x512 int16 slices, then times, per study:

* plain pynetdicom C-GET on one fresh association (with and without TCP_NODELAY), bytes
  discarded as they arrive;
* ``DimseBackend.retrieve_study`` in C-GET and in C-MOVE mode (pooled association, bounded
  queue, the consumer discards each instance);
* DCMTK ``getscu`` writing the files to /dev/shm.

Each method runs in its own process; its peak RSS comes from ``wait4``. Prints a Markdown
table of medians. Not run by the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CALLING_AET, SCP_AET = "FHIRGW", "FHIRGW_SCP"
SHM = Path("/dev/shm")  # noqa: S108 (a private mkdtemp inside it: getscu writes to memory)


# -- worker side: one method, several timed runs, in its own process ---------------------------


def _plain_c_get(args: argparse.Namespace, nodelay: bool) -> int:
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom import AE, build_context, build_role, evt

    from dicomweb.backends.contexts import GET_MODEL
    from dicomweb.backends.pool import NODELAY_HANDLER

    received = 0

    def on_c_store(event: evt.Event) -> int:
        nonlocal received
        received += len(event.encoded_dataset())
        return 0x0000

    ct = "1.2.840.10008.5.1.4.1.1.2"
    ae = AE(CALLING_AET)
    handlers: list[Any] = [(evt.EVT_C_STORE, on_c_store)]
    if nodelay:
        handlers.append(NODELAY_HANDLER)
    assoc = ae.associate(
        "127.0.0.1",
        args.port,
        ae_title="ORTHANC",
        contexts=[build_context(GET_MODEL), build_context(ct, ExplicitVRLittleEndian)],
        ext_neg=[build_role(ct, scp_role=True)],
        evt_handlers=handlers,
    )
    from pydicom.dataset import Dataset

    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = args.study
    for _status, _found in assoc.send_c_get(ident, GET_MODEL):
        pass
    assoc.release()
    return received


def _backend(args: argparse.Namespace, mode: str) -> Any:
    from dicomweb.backends.dimse import DimseBackend
    from dicomweb.backends.settings import PacsSettings, RetrieveMode

    retrieve_mode: RetrieveMode = "c-move" if mode == "c-move" else "c-get"
    settings = PacsSettings(
        port=args.port, retrieve_mode=retrieve_mode, storage_scp_port=args.scp_port
    )
    return DimseBackend(settings)


def worker(args: argparse.Namespace) -> None:
    times: list[float] = []
    backend = _backend(args, args.method.split(":")[1]) if args.method.startswith("dimse") else None
    for _ in range(args.runs):
        started = time.perf_counter()
        if backend is not None:
            size = sum(len(item) for item in backend.retrieve_study(args.study))
        else:
            size = _plain_c_get(args, nodelay=args.method == "plain")
        times.append(time.perf_counter() - started)
    if backend is not None:
        backend.close()
    print(json.dumps({"times": times, "bytes": size, "hwm_mb": _vm_hwm_mb(os.getpid())}))


# -- orchestrator -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _vm_hwm_mb(pid: int) -> float:
    """Peak resident set of a live process (VmHWM). ``getrusage``/``wait4`` would count the
    pages of the forking parent too: Linux keeps the pre-exec high-water mark in ru_maxrss."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, float]:
    """Run a process; return its stdout and its peak RSS in MB, sampled every 5 ms."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=REPO)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _vm_hwm_mb(proc.pid))
        time.sleep(0.005)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed with {proc.returncode}")
    return out, peak


def _getscu(port: int, study: str, runs: int) -> tuple[list[float], float]:
    times, peak = [], 0.0
    env = {**os.environ, "TCP_NODELAY": "1"}
    for _ in range(runs):
        out_dir = Path(tempfile.mkdtemp(dir=SHM if SHM.is_dir() else None))
        cmd = ["getscu", "-aet", CALLING_AET, "-aec", "ORTHANC", "-S",
               "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
               "-od", str(out_dir), "127.0.0.1", str(port)]  # fmt: skip
        started = time.perf_counter()
        _out, rss = _run_child(cmd, env)
        times.append(time.perf_counter() - started)
        peak = max(peak, rss)
        shutil.rmtree(out_dir)
    return times, peak


METHODS = [
    ("plain", "pynetdicom C-GET, one association, TCP_NODELAY"),
    ("plain-nagle", "pynetdicom C-GET, one association, no TCP_NODELAY"),
    ("dimse:c-get", "DimseBackend.retrieve_study, C-GET (streamed)"),
    ("dimse:c-move", "DimseBackend.retrieve_study, C-MOVE (streamed)"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--orthanc-max-pdu", type=int, default=16384)
    parser.add_argument("--worker", dest="method")
    parser.add_argument("--port", type=int)
    parser.add_argument("--scp-port", type=int)
    parser.add_argument("--study")
    args = parser.parse_args()
    if args.method:
        worker(args)
        return

    from dicomweb.backends.dimse import DimseBackend
    from dicomweb.backends.settings import PacsSettings
    from dicomweb.orthanc import Modality, OrthancProcess
    from dicomweb.synthetic import ct_study

    scp_port = _free_port()
    with tempfile.TemporaryDirectory() as var_dir:
        pacs = OrthancProcess(
            var_dir,
            _free_port(),
            _free_port(),
            modalities=(Modality(CALLING_AET, port=scp_port), Modality(SCP_AET, port=scp_port)),
            max_pdu_length=args.orthanc_max_pdu,
        )
        with pacs:
            rows = ["| study | method | median s | MB/s | peak RSS MB |", "|---|---|---|---|---|"]
            code = (
                "import os, pynetdicom, pydicom, numpy, dicomweb.backends, sys; "
                f"sys.path.insert(0, {str(REPO / 'bench')!r}); import bench_dimse as b; "
                "print(b._vm_hwm_mb(os.getpid()))"
            )
            out, _sampled = _run_child([sys.executable, "-c", code])
            baseline = float(out)
            for size in args.sizes:
                study = f"2.25.{int.from_bytes(os.urandom(12), 'big')}"
                started = time.perf_counter()
                with DimseBackend(PacsSettings(port=pacs.dicom_port)) as backend:
                    assert backend.store(ct_study(study, size)).ok
                stored_s = time.perf_counter() - started
                mb = size * (512 * 512 * 2) / 1e6
                label = f"{size} x CT 512² ({mb:.0f} MB)"
                print(f"stored {label} with C-STORE in {stored_s:.2f} s", file=sys.stderr)
                for method, title in METHODS:
                    cmd = [sys.executable, __file__, "--worker", method, "--port",
                           str(pacs.dicom_port), "--scp-port", str(scp_port), "--study", study,
                           "--runs", str(args.runs)]  # fmt: skip
                    out, sampled = _run_child(cmd)
                    result = json.loads(out)
                    rss = max(sampled, result["hwm_mb"])
                    median = statistics.median(result["times"])
                    rows.append(f"| {label} | {title} | {median:.3f} | {mb / median:.0f} | "
                                f"{rss:.0f} |")  # fmt: skip
                times, rss = _getscu(pacs.dicom_port, study, args.runs)
                median = statistics.median(times)
                rows.append(f"| {label} | DCMTK getscu (files to /dev/shm) | {median:.3f} | "
                            f"{mb / median:.0f} | {rss:.0f} |")  # fmt: skip
            print(f"Orthanc MaximumPduLength {args.orthanc_max_pdu}; medians of {args.runs} "
                  f"runs; Python baseline RSS (imports only) {baseline:.0f} MB\n")  # fmt: skip
            print("\n".join(rows))


if __name__ == "__main__":
    main()
