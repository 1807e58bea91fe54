"""The FHIR benchmark: ``make bench`` (or ``python -m bench.run``). Figures go to BENCHMARKS.md.

Builds (once, cached in bench/out/) the benchmark HIS of 100,000 patients (>= 5,000,000 lab
results) and a 10,000-patient one, each with one chronic patient holding 25,000 extra lab
results (for deep paging and a large $everything). Starts the gateway and the floor
(bench/floor.py) under the same gunicorn settings and loads them from wrk, side by side,
alternating, three rounds each; reports medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import sqlalchemy as sa

from demo.generator import generate
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import make_engine
from gateway.server import gunicorn_options
from gateway.settings import Settings

OUT = Path(__file__).parent / "out"
TODAY = dt.date(2026, 11, 1)
HEAVY_RESULTS = 25_000
VENV_BIN = Path(sys.executable).parent


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the benchmark HIS --------------------------------------------------------------------------


def prepare_his(patients: int) -> str:
    path = OUT / f"his-{patients}.sqlite"
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    OUT.mkdir(exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{tmp}")
    log(f"building a {patients}-patient HIS (cached in {path.name})")
    generate(
        engine,
        patients=patients,
        seed=42,
        today=TODAY,
        max_document_patients=2000,
        progress=lambda m: log(f"  {m}"),
    )
    _add_chronic_patient(engine)
    engine.dispose()
    tmp.rename(path)
    return url


def _add_chronic_patient(engine: sa.Engine) -> None:
    """Patient 1 becomes a chronic patient with 1,000 more bulletins of 25 analytes each."""
    lb, lr = t.lab_bulletin, t.lab_result
    with engine.begin() as conn:
        bulletin = dict(conn.execute(sa.select(lb).limit(1)).mappings().one())
        results = [
            dict(r)
            for r in conn.execute(
                sa.select(lr).where(lr.c.bulletin_id == bulletin["id"])
            ).mappings()
        ]
        next_bulletin = conn.execute(sa.select(sa.func.max(lb.c.id))).scalar_one() + 1
        start = dt.datetime(2016, 1, 4, 8, 0)
        new_b, new_r = [], []
        for i in range(HEAVY_RESULTS // 25):
            when = start + dt.timedelta(days=3 * i)
            bid = next_bulletin + i
            new_b.append(
                {
                    **bulletin,
                    "id": bid,
                    "number": f"LR_B{bid}",
                    "patient_id": 1,
                    "episode_id": None,
                    "document_id": None,
                    "collected_at": when,
                    "validated_at": when + dt.timedelta(hours=5),
                }
            )
            for j in range(25):
                r = results[j % len(results)]
                new_r.append({**r, "bulletin_id": bid, "patient_id": 1, "observed_at": when})
        for row in new_r:
            row.pop("id", None)
        conn.execute(sa.insert(lb), new_b)
        conn.execute(sa.insert(lr), new_r)
    log(f"  patient 1 now has {HEAVY_RESULTS} more lab results")


# --- servers -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(
    app: str, his_url: str, extra_env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``app`` under the gateway's gunicorn settings; development open access unless
    ``extra_env`` says otherwise."""
    port = port or _free_port()
    threads = (extra_env or {}).get("FHIR_GATEWAY_THREADS")  # gunicorn's flag, not the env
    settings = Settings.from_mapping(
        {"his_url": his_url, "port": str(port), **({"threads": threads} if threads else {})},
        environ=False,
    )
    opts = gunicorn_options(settings)
    env = {
        **os.environ,
        "FHIR_GATEWAY_HIS_URL": his_url,
        "FHIR_GATEWAY_PORT": str(port),
        "FHIR_GATEWAY_DEV_OPEN_ACCESS": "true",
        "FHIR_GATEWAY_SECRET_KEY": "bench",
        **(extra_env or {}),
    }
    cmd = [
        str(VENV_BIN / "gunicorn"),
        app,
        "--bind",
        opts["bind"],
        "--workers",
        str(opts["workers"]),
        "--worker-class",
        opts["worker_class"],
        "--threads",
        str(opts["threads"]),
        "--keep-alive",
        str(opts["keepalive"]),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:  # not listening yet, or busy starting its workers: wait
                requests.get(base + "/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise SystemExit(f"{app} did not start on {base}")
        yield base, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def worker_rss_mb(proc: subprocess.Popen) -> list[float]:
    import psutil

    return [round(c.memory_info().rss / 2**20, 1) for c in psutil.Process(proc.pid).children()]


# --- load ----------------------------------------------------------------------------------------

_LUA = """
math.randomseed(7)
local n = tonumber(os.getenv("BENCH_N"))
local prefix = os.getenv("BENCH_PREFIX")
request = function()
  return wrk.format("GET", prefix .. math.random(1, n))
end
"""


def wrk(url: str, *, seconds: int, random_ids: tuple[str, int] | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency"]
    env = dict(os.environ)
    if random_ids:
        script = OUT / "random_ids.lua"
        script.write_text(_LUA)
        cmd += ["-s", str(script)]
        env["BENCH_PREFIX"], env["BENCH_N"] = random_ids[0], str(random_ids[1])
    out = subprocess.run([*cmd, url], capture_output=True, text=True, env=env, check=True).stdout
    return wrk_figures(out)


def wrk_figures(out: str) -> dict[str, float]:
    """Throughput, p50/p99 latency (ms) and the count of non-2xx answers of a wrk report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": _latency(out, "50%"),
        "p99": _latency(out, "99%"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def _latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"{pct}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def median_runs(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def side_by_side(targets: dict[str, tuple], rounds: int, seconds: int) -> dict[str, dict]:
    """Each round loads every target once, in turn; medians per target."""
    runs: dict[str, list] = {name: [] for name in targets}
    for rnd in range(rounds):
        for name, (url, ids) in targets.items():
            runs[name].append(wrk(url, seconds=seconds, random_ids=ids))
            if runs[name][-1]["errors"]:
                raise SystemExit(f"{name} answered errors: the comparison would be meaningless")
            log(f"  round {rnd + 1} {name}: {runs[name][-1]}")
    return {name: median_runs(r) for name, r in runs.items()}


# --- scenarios -----------------------------------------------------------------------------------


def page_url(base: str, path: str, pages: int) -> str:
    """The URL of page ``pages`` of a search, found by following next links."""
    url = base + path
    for _ in range(pages - 1):
        bundle = requests.get(url, timeout=30).json()
        url = next(x["url"] for x in bundle["link"] if x["relation"] == "next")
    return url


def run(rounds: int, seconds: int) -> dict:
    big, small = prepare_his(100_000), prepare_his(10_000)
    results: dict = {"machine": _machine(), "date": dt.date.today().isoformat()}
    with make_engine(big).connect() as conn:
        results["his"] = {
            "patients": conn.execute(
                sa.select(sa.func.count()).select_from(t.patient)
            ).scalar_one(),
            "lab_results": conn.execute(
                sa.select(sa.func.count()).select_from(t.lab_result)
            ).scalar_one(),
        }
    obs = "/fhir/Observation?patient=1&category=laboratory&_sort=-date&_count=100"
    with (
        serve("gateway.wsgi:app", big) as (gw, gw_proc),
        serve("bench.floor:app", big) as (fl, _),
    ):
        n = results["his"]["patients"]
        log("Patient/{id} reads, random ids, concurrency 8")
        results["patient_read"] = side_by_side(
            {
                "gateway": (gw, (f"{gw}/fhir/Patient/", n)),
                "floor": (fl, (f"{fl}/floor/Patient/", n)),
            },
            rounds,
            seconds,
        )
        page200 = page_url(gw, obs, 200)
        floor200 = _floor_page(big, 200)
        log("lab Observations of the chronic patient, _count=100, newest first")
        results["observation_pages"] = side_by_side(
            {
                "gateway page 1": (gw + obs, None),
                "floor page 1": (f"{fl}/floor/Observation?patient=1&_count=100", None),
                "gateway page 200": (page200, None),
                "floor page 200": (
                    f"{fl}/floor/Observation?patient=1&_count=100&before={floor200}",
                    None,
                ),
            },
            rounds,
            seconds,
        )
        results["everything"] = _everything(gw, gw_proc)
        results["worker_rss_mb"] = worker_rss_mb(gw_proc)
    with (
        serve("gateway.wsgi:app", small) as (gw_small, _),
        serve("gateway.wsgi:app", big) as (gw_big, _),
    ):
        log("the same search on the 10,000- and the 100,000-patient HIS")
        results["his_size"] = side_by_side(
            {
                "10k patients": (gw_small + obs, None),
                "100k patients": (gw_big + obs, None),
            },
            rounds,
            seconds,
        )
    return results


def _floor_page(his_url: str, page: int) -> str:
    lr = t.lab_result
    stmt = (
        sa.select(lr.c.observed_at, lr.c.id)
        .where(lr.c.patient_id == 1)
        .order_by(lr.c.observed_at.desc(), lr.c.id.desc())
        .offset(100 * (page - 1) - 1)
        .limit(1)
    )
    with make_engine(his_url).connect() as conn:
        at, rid = conn.execute(stmt).one()
    return f"{at.isoformat()}|{rid}"


def _everything(base: str, proc: subprocess.Popen) -> dict:
    """Walk Patient/1/$everything; the largest worker RSS is sampled meanwhile."""
    import threading

    before = max(worker_rss_mb(proc))
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], *worker_rss_mb(proc))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    url = f"{base}/fhir/Patient/1/$everything?_count=1000"
    started, resources, pages = time.perf_counter(), 0, 0
    while url:
        bundle = requests.get(url, timeout=120).json()
        resources += sum(1 for e in bundle.get("entry", []) if e["search"]["mode"] == "match")
        pages += 1
        url = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), None)
    seconds = round(time.perf_counter() - started, 2)
    done.set()
    sampler.join()
    return {
        "resources": resources,
        "pages": pages,
        "seconds": seconds,
        "worker_rss_before_mb": before,
        "worker_rss_peak_mb": peak[0],
    }


def _machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "unknown CPU",
    )
    return f"{os.cpu_count()} cores, {cpu}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    random.seed(0)
    results = run(args.rounds, args.seconds)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
