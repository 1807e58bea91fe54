"""The patient portal's server time, page by page, beside the time of the FHIR requests each
page makes, in one run; and the bytes of JavaScript and CSS each page loads.

Run: ``.venv/bin/python -m bench.bench_portal [--patients N] [--rounds N] [--out FILE]``.

A generated HIS (SQLite; its history stretched to eleven years so that some patients have ten
years of it) is served by ``fhir-gateway serve`` (gunicorn, two workers, its authorization
server, JSON request log) and the portal by gunicorn (two workers, four threads), both on the
loopback. The patient whose first episode is the oldest (at least ten years back) with the
most laboratory bulletins gets an account (the registration desk's path, a known password,
the clause accepted, no second factor); headless Chromium signs them in through the portal
once, and the bench then asks each page ``--rounds`` times with that session, one request at
a time:

* the page's server time: from sending the request to its last byte, on the loopback (every
  page once per round, interleaved, so that all share the machine's conditions);
* the FHIR requests it made: the gateway's own request log (route and ``ms`` of each, written
  before its answer leaves), read between one page request and the next;
* JS and CSS: the bytes of every ``<script src>`` and stylesheet ``<link>`` the page names,
  fetched once (uncompressed).

Pages: home (``/``, the tiles; no FHIR request), ``/studies`` (the PL home variant),
``/record``, ``/results``, ``/imaging``. A page that answers 404 (not built in this tree) is
skipped and reported as such.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
PAGES = ("/", "/studies", "/record", "/results", "/imaging")
PASSWORD = "bench-portal-password"  # noqa: S105 (a throwaway account of a generated HIS)
HISTORY_YEARS = 11
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _generate(url: str, patients: int) -> None:
    """The demo generator with a longer history window (it keeps eight years by default)."""
    from demo.generator import generate
    from demo.synth import context
    from fhir_gateway.his.sql import make_engine

    kept = context.HISTORY_YEARS
    context.HISTORY_YEARS = HISTORY_YEARS
    try:
        engine = make_engine(url)
        generate(engine, patients=patients, seed=5, today=dt.date.today())
        engine.dispose()
    finally:
        context.HISTORY_YEARS = kept


def _patient(url: str) -> Any:
    """The adult with an email whose history starts at least ten years back, most bulletins
    first."""
    from fhir_gateway.his.schema import episode, guardian_link, lab_bulletin, patient

    ten_years = dt.datetime.now() - dt.timedelta(days=3653)
    first = (
        sa.select(sa.func.min(episode.c.started_at))
        .where(episode.c.patient_id == patient.c.id)
        .scalar_subquery()
    )
    labs = (
        sa.select(sa.func.count())
        .where(lab_bulletin.c.patient_id == patient.c.id)
        .scalar_subquery()
    )
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(patient, first.label("first"), labs.label("labs"))
            .where(
                first <= ten_years,
                patient.c.email.is_not(None),
                patient.c.deceased_at.is_(None),
                patient.c.id.not_in(sa.select(guardian_link.c.ward_id)),
            )
            .order_by(labs.desc(), patient.c.id)
            .limit(1)
        ).first()
    engine.dispose()
    if row is None:
        raise SystemExit("no patient with ten years of history: raise --patients")
    return row


def _prepare(config: dict[str, str], who: Any, portal_url: str) -> tuple[str, str, str]:
    """The account (email, password) and the portal's client (id, secret)."""
    from gateway.app import create_app
    from portal.client import Gateway
    from smart_auth.accounts.hospital import create_for_patient
    from smart_auth.accounts.passwords import hash_password
    from smart_auth.accounts.tables import account

    app = create_app(config)
    svc = app.extensions["accounts"]
    if svc.policy.national_id_kind != who.national_id_kind:
        import copy
        import dataclasses

        svc = copy.copy(svc)
        svc.policy = dataclasses.replace(svc.policy, national_id_kind=who.national_id_kind)
    email = f"bench-{who.id}@bench.invalid"
    made = create_for_patient(svc, who.national_id, email, "", "en", "http://bench.invalid/")
    if made.error or made.account_id is None:
        raise SystemExit(f"account not created: {made.error}")
    with svc.state.begin() as conn:
        conn.execute(
            account.update()
            .where(account.c.id == made.account_id)
            .values(
                password_hash=hash_password(PASSWORD),
                must_change_password=False,
                clause_version=svc.policy.clause_version,
                clause_accepted_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            )
        )
    client_id, secret = app.extensions["smart_oauth"].store.register_client(
        name="Patient portal",
        kind="app",
        auth_method="client_secret_basic",
        scope=Gateway.scope,
        redirect_uris=(f"{portal_url}/callback",),
    )
    app.extensions["state_engine"].dispose()
    assert secret is not None
    return email, client_id, secret


def _wait(url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not start")


@contextmanager
def _servers(env: dict[str, str], gport: int, pport: int, logs: Path) -> Iterator[Path]:
    """The gateway and the portal, from this checkout's code; the gateway's log file."""
    py = sys.executable
    gateway_log = logs / "gateway.log"
    with gateway_log.open("wb") as glog, (logs / "portal.log").open("wb") as plog:
        procs = [
            subprocess.Popen(
                [py, "-m", "gateway.cli", "serve", "--port", str(gport), "--workers", "2"],
                env=env,
                cwd=REPO,
                stdout=glog,
                stderr=glog,
            ),
            subprocess.Popen(
                [
                    py,
                    "-m",
                    "gunicorn",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--bind",
                    f"127.0.0.1:{pport}",
                    "portal.app:create_portal()",
                ],
                env=env,
                cwd=REPO,
                stdout=plog,
                stderr=plog,
            ),
        ]
        try:
            _wait(f"http://127.0.0.1:{gport}/health/ready")
            _wait(f"http://127.0.0.1:{pport}/")
            yield gateway_log
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)


def _sign_in(portal: str, email: str) -> dict[str, str]:
    """The portal's session cookie after a real sign-in in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(locale="en-GB")
        page.goto(f"{portal}/sign-in")
        page.get_by_label("Email or user name").fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(f"{portal}/")
        cookies = {c["name"]: c["value"] for c in page.context.cookies(portal)}
        browser.close()
    return cookies


def _assets(session: requests.Session, url: str, html: str) -> dict[str, int]:
    scripts = re.findall(r"<script[^>]*\ssrc=\"([^\"]+)\"", html)
    styles = re.findall(r"<link[^>]*rel=\"stylesheet\"[^>]*href=\"([^\"]+)\"", html)
    sizes = {"js": 0, "css": 0}
    for kind, found in (("js", scripts), ("css", styles)):
        for src in dict.fromkeys(found):
            sizes[kind] += len(session.get(urljoin(url, src), timeout=30).content)
    return sizes


def _fhir_lines(log: Path, offset: int) -> tuple[list[tuple[str, float]], int]:
    """The gateway's request lines after ``offset``: (method route, ms); the new offset."""
    with log.open("rb") as f:
        f.seek(offset)
        data = f.read()
    done = data.rfind(b"\n") + 1
    calls = []
    for line in data[:done].splitlines():
        if not line.startswith(b"{"):
            continue
        entry = json.loads(line)
        if entry.get("message") == "request":
            calls.append((f"{entry['method']} {entry['route']}", float(entry["ms"])))
    return calls, offset + done


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(patients: int, rounds: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    his_url = f"sqlite:///{tmp / 'his.sqlite'}"
    started = time.perf_counter()
    _generate(his_url, patients)
    print(f"HIS: {patients} patients in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    who = _patient(his_url)
    gport, pport = _free_port(), _free_port()
    portal = f"http://127.0.0.1:{pport}"
    config = {
        "FHIR_GATEWAY_HIS_URL": his_url,
        "FHIR_GATEWAY_DATA_DIR": str(tmp),
        "FHIR_GATEWAY_PUBLIC_BASE_URL": f"http://127.0.0.1:{gport}/fhir",
        "FHIR_GATEWAY_SECRET_KEY": "bench-portal-secret",
        "FHIR_GATEWAY_PACS_ENABLED": "false",
        "FHIR_GATEWAY_LOG_JSON": "true",
        "FHIR_GATEWAY_LOG_LEVEL": "INFO",
        "FHIR_GATEWAY_ACCOUNTS_SECOND_FACTOR": "none",
        "FHIR_GATEWAY_VIDEO_JITSI_SECRET": "bench-jitsi-secret-of-32-bytes!!",
    }
    email, client_id, secret = _prepare(config, who, portal)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FHIR_GATEWAY_")},
        **config,
        "PYTHONPATH": str(REPO),
        "FHIR_GATEWAY_PORTAL_FHIR_URL": f"http://127.0.0.1:{gport}/fhir",
        "FHIR_GATEWAY_PORTAL_PUBLIC_URL": portal,
        "FHIR_GATEWAY_PORTAL_CLIENT_ID": client_id,
        "FHIR_GATEWAY_PORTAL_CLIENT_SECRET": secret,
        "FHIR_GATEWAY_PORTAL_SECRET_KEY": "bench-portal-key",
    }
    out: dict[str, Any] = {
        "patient": {
            "id": who.id,
            "first_episode": str(who.first)[:10],
            "lab_bulletins": who.labs,
        },
        "rounds": rounds,
        "pages": {},
    }
    with _servers(env, gport, pport, tmp) as log:
        session = requests.Session()
        session.cookies.update(_sign_in(portal, email))
        served: dict[str, dict[str, int]] = {}
        for path in PAGES:
            first = session.get(f"{portal}{path}", timeout=60, allow_redirects=False)
            if first.status_code == 404:
                out["pages"][path] = {"skipped": "404: not built in this tree"}
                continue
            if first.status_code != 200:
                raise SystemExit(f"{path}: {first.status_code}")
            served[path] = _assets(session, f"{portal}{path}", first.text)
        _, offset = _fhir_lines(log, log.stat().st_size)
        page_ms: dict[str, list[float]] = {path: [] for path in served}
        fhir_ms: dict[str, list[float]] = {path: [] for path in served}
        fhir_sum: dict[str, list[float]] = {path: [] for path in served}
        routes: dict[str, dict[str, int]] = {path: {} for path in served}
        # interleaved: every page once per round, so they share the machine's conditions
        for _ in range(rounds):
            for path in served:
                t0 = time.perf_counter()
                answer = session.get(f"{portal}{path}", timeout=60)
                page_ms[path].append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
                calls, offset = _fhir_lines(log, offset)
                fhir_ms[path].extend(ms for _, ms in calls)
                fhir_sum[path].append(sum(ms for _, ms in calls))
                for route, _ in calls:
                    routes[path][route] = routes[path].get(route, 0) + 1
        for path, sizes in served.items():
            made, each = fhir_ms[path], routes[path]
            out["pages"][path] = {
                "page_p50_ms": round(statistics.median(page_ms[path]), 1),
                "page_p99_ms": round(_percentile(page_ms[path], 0.99), 1),
                "fhir_requests_per_page": round(sum(each.values()) / rounds, 2),
                "fhir_routes": {r: round(n / rounds, 2) for r, n in sorted(each.items())},
                "fhir_p50_ms": round(statistics.median(made), 1) if made else None,
                "fhir_p99_ms": round(_percentile(made, 0.99), 1) if made else None,
                "fhir_sum_p50_ms": round(statistics.median(fhir_sum[path]), 1),
                "js_bytes": sizes["js"],
                "css_bytes": sizes["css"],
            }
        out["pages"] = {path: out["pages"][path] for path in PAGES}
    shutil.rmtree(tmp, ignore_errors=True)  # the generated HIS and the servers' state
    return out


def table(result: dict[str, Any]) -> str:
    lines = [
        "| page | p50 ms | p99 ms | FHIR requests | FHIR p50 ms | FHIR p99 ms | "
        "FHIR sum p50 ms | JS bytes | CSS bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path, row in result["pages"].items():
        if "skipped" in row:
            lines.append(f"| `{path}` | skipped: {row['skipped']} | | | | | | | |")
            continue
        lines.append(
            f"| `{path}` | {row['page_p50_ms']} | {row['page_p99_ms']} | "
            f"{row['fhir_requests_per_page']} | {row['fhir_p50_ms'] or '-'} | "
            f"{row['fhir_p99_ms'] or '-'} | {row['fhir_sum_p50_ms']} | {row['js_bytes']} | "
            f"{row['css_bytes']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = measure(args.patients, args.rounds)
    result["date"] = dt.date.today().isoformat()
    print(json.dumps(result, indent=1))
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
