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

Each Python method runs in its own long-lived process (peak RSS: its VmHWM); the runs are
interleaved, method after method, so that a change of machine load hits all of them alike.
The DimseBackend keeps its pooled association between runs, as a gateway worker does; the plain
C-GET opens a new one per run. Prints a Markdown table of medians. Not run by the tests.
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
    """Serve timed runs: one per line read on stdin; on end of input, report peak RSS."""
    backend = _backend(args, args.method.split(":")[1]) if args.method.startswith("dimse") else None
    print(json.dumps({"ready": True}), flush=True)
    for _line in sys.stdin:
        started = time.perf_counter()
        if backend is not None:
            size = sum(len(item) for item in backend.retrieve_study(args.study))
        else:
            size = _plain_c_get(args, nodelay=args.method == "plain")
        print(json.dumps({"time": time.perf_counter() - started, "bytes": size}), flush=True)
    if backend is not None:
        backend.close()
    print(json.dumps({"hwm_mb": _vm_hwm_mb(os.getpid())}), flush=True)


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


def _getscu(port: int, study: str) -> tuple[float, float]:
    """One getscu run: its time and its peak RSS in MB."""
    env = {**os.environ, "TCP_NODELAY": "1"}
    out_dir = Path(tempfile.mkdtemp(dir=SHM if SHM.is_dir() else None))
    cmd = ["getscu", "-aet", CALLING_AET, "-aec", "ORTHANC", "-S",
           "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
           "-od", str(out_dir), "127.0.0.1", str(port)]  # fmt: skip
    started = time.perf_counter()
    _out, rss = _run_child(cmd, env)
    elapsed = time.perf_counter() - started
    shutil.rmtree(out_dir)
    return elapsed, rss


def _small_requests(port: int, study: str, calls: int = 50) -> list[str]:
    """Median latency of C-ECHO and C-FIND: pooled association, plain without TCP_NODELAY,
    and a new association per request."""
    from pynetdicom import AE

    from dicomweb.backends import exchanges as ex
    from dicomweb.backends.contexts import FIND_MODEL, query_contexts
    from dicomweb.backends.dimse import DimseBackend
    from dicomweb.backends.query import identifier
    from dicomweb.backends.settings import PacsSettings

    def median_ms(action: Any) -> float:
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            action()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1000

    query = {"StudyInstanceUID": study}
    rows = []
    with DimseBackend(PacsSettings(port=port)) as backend:
        backend.echo()
        rows.append(("C-ECHO, DimseBackend (pooled, TCP_NODELAY)", median_ms(backend.echo)))
        rows.append(("C-FIND study, DimseBackend (pooled, TCP_NODELAY)",
                     median_ms(lambda: backend.find_studies(query))))  # fmt: skip
    ae = AE(CALLING_AET)
    assoc = ae.associate("127.0.0.1", port, ae_title="ORTHANC", contexts=query_contexts())
    rows.append(("C-ECHO, pynetdicom, kept association, no TCP_NODELAY",
                 median_ms(lambda: ex.c_echo(assoc, 1, 30))))  # fmt: skip
    ident = identifier("STUDY", query)
    find = lambda: list(assoc.send_c_find(ident, FIND_MODEL, msg_id=1))  # noqa: E731
    rows.append(("C-FIND study, pynetdicom, kept association, no TCP_NODELAY",
                 median_ms(find)))  # fmt: skip
    assoc.release()
    with DimseBackend(PacsSettings(port=port, max_idle_s=1e-6)) as fresh:
        rows.append(("C-FIND study, DimseBackend, new association per request",
                     median_ms(lambda: fresh.find_studies(query))))  # fmt: skip
    return [f"| {name} | {ms:.1f} |" for name, ms in rows]


class _Worker:
    """A long-lived worker process running one method, one timed run per request."""

    def __init__(self, method: str, port: int, scp_port: int, study: str) -> None:
        cmd = [sys.executable, __file__, "--worker", method, "--port", str(port),
               "--scp-port", str(scp_port), "--study", study]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        self.peak = 0.0
        self._read()  # ready

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a benchmark worker died")
        return dict(json.loads(line))

    def run(self) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        self.peak = max(self.peak, _vm_hwm_mb(self.proc.pid))
        return float(self._read()["time"])

    def finish(self) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.peak = max(self.peak, float(self._read()["hwm_mb"]))
        self.proc.wait(30)
        return self.peak


METHODS = [
    ("plain", "pynetdicom C-GET, one association, TCP_NODELAY"),
    ("plain-nagle", "pynetdicom C-GET, one association, no TCP_NODELAY"),
    ("dimse:c-get", "DimseBackend.retrieve_study, C-GET (streamed)"),
    ("dimse:c-move", "DimseBackend.retrieve_study, C-MOVE (streamed)"),
]
GETSCU = ("getscu", "DCMTK getscu (files to /dev/shm)")


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

    from demo.orthanc import Modality, OrthancProcess
    from demo.synthetic import ct_study
    from dicomweb.backends.dimse import DimseBackend
    from dicomweb.backends.settings import PacsSettings

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
                workers = {m: _Worker(m, pacs.dicom_port, scp_port, study) for m, _ in METHODS}
                times: dict[str, list[float]] = {m: [] for m, _ in [*METHODS, GETSCU]}
                peaks: dict[str, float] = {GETSCU[0]: 0.0}
                for _ in range(args.runs):  # interleaved: load changes hit every method alike
                    for method, _title in METHODS:
                        times[method].append(workers[method].run())
                    elapsed, rss = _getscu(pacs.dicom_port, study)
                    times[GETSCU[0]].append(elapsed)
                    peaks[GETSCU[0]] = max(peaks[GETSCU[0]], rss)
                for method, worker_ in workers.items():
                    peaks[method] = worker_.finish()
                for method, title in [*METHODS, GETSCU]:
                    median = statistics.median(times[method])
                    rows.append(f"| {label} | {title} | {median:.3f} | {mb / median:.0f} | "
                                f"{peaks[method]:.0f} |")  # fmt: skip
            print(f"Orthanc MaximumPduLength {args.orthanc_max_pdu}; medians of {args.runs} "
                  f"runs; Python baseline RSS (imports only) {baseline:.0f} MB\n")  # fmt: skip
            print("\n".join(rows))
            print("\n| request (median of 50) | ms |\n|---|---|")
            print("\n".join(_small_requests(pacs.dicom_port, study)))


if __name__ == "__main__":
    main()
