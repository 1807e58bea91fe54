"""Benchmark: the price of authorization, and the token endpoint's throughput.

    .venv/bin/python -m bench.bench_auth                   # 10,000-patient HIS, 10 rounds of 3 s
    .venv/bin/python -m bench.bench_auth --patients 100000 --rounds 20

Two gateways over the same benchmark HIS (``bench.run.prepare_his``, built once into bench/out/)
under the gateway's own gunicorn settings, side by side, loaded in turn by ``wrk -t2 -c8``:

* **open**: authorization switched off (development open access);
* **SMART**: authorization on, the embedded default state database (SQLite), audit trail on,
  with the default token memory (``FHIR_GATEWAY_OAUTH_TOKEN_CACHE_S=5``);
* **SMART, no token memory**: the same with ``FHIR_GATEWAY_OAUTH_TOKEN_CACHE_S=0`` (every
  request looks its token up in the state database);
* **SMART, journal not synced**: SMART with ``FHIR_GATEWAY_AUDIT_JOURNAL_SYNC=none`` (each
  audit journal line left to the kernel) against the default ``fdatasync`` of the other
  gateways (each line on the disk before its answer leaves): the price of surviving a power
  cut;
* **SMART, journal synced, 4 threads**: SMART with ``FHIR_GATEWAY_THREADS=4``: while one
  answer of a worker waits for the disk, its other threads work, and answers given together
  share one sync.

``--accounts`` patient accounts (one HIS patient each) get their access and refresh tokens
through the real token endpoint (authorization-code grant, PKCE S256, public client), from codes
written the way the consent page writes them (what the browser part of a launch would do: it is
not what is measured here). Then ``--rounds`` rounds of reads (the three gateways in turn,
the order rotated from round to round), followed by ``--rounds`` rounds of the token endpoint
(they write to the state database, so they come after the reads):

* ``Patient/{id}`` reads: each request picks one account at random and reads that account's
  patient, with its bearer token on SMART and without on open;
* authorization-code exchanges: fresh single-use codes (the code lifetime is 60 s, so they are
  written right before each round), each POSTed once to ``/oauth/token``;
* refreshes: each wrk connection rotates its own refresh-token chains (every answer brings the
  next refresh token, RFC 9700 rotation; the used one is dead).

Every answer must be 2xx: a single error makes the run fail. Medians of the rounds, and the
median of the rounds' SMART/open ratios (short rounds, many of them: on a shared two-core
machine throughput drifts by a third within a minute); prints a Markdown table and writes
bench/out/auth-results.json. Not a test.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from bench.run import (
    OUT,
    _machine,
    log,
    median_runs,
    prepare_his,
    serve,
    worker_rss_mb,
    wrk_figures,
)

REDIRECT = "https://app.example/callback"
SCOPE = "launch/patient offline_access patient/*.rs"
THREADS, CONNECTIONS = 2, 8

# Each wrk thread has its own Lua state; ``setup`` numbers them so that each reads its own file.
_LUA_COMMON = """
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
local function lines(name)
  local out = {}
  local f = assert(io.open(name .. "." .. tid))
  for line in f:lines() do out[#out + 1] = line end
  f:close()
  return out
end
"""

# Patient reads: "<patient id> <token>" per line; no token on the open gateway.
_LUA_READS = (
    _LUA_COMMON
    + """
function init(args)
  math.randomseed(7 + tid)
  rows = {}
  for _, line in ipairs(lines(os.getenv("BENCH_FILE"))) do
    local id, token = line:match("^(%S+) ?(%S*)$")
    rows[#rows + 1] = {id, token}
  end
end
request = function()
  local row = rows[math.random(1, #rows)]
  local headers = {}
  if row[2] ~= "" then headers["Authorization"] = "Bearer " .. row[2] end
  return wrk.format("GET", "/fhir/Patient/" .. row[1], headers)
end
"""
)

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# Code exchanges: one form body per line, each used once.
_LUA_EXCHANGES = (
    _LUA_COMMON
    + """
function init(args)
  bodies = lines(os.getenv("BENCH_FILE"))
  pos = 0
end
request = function()
  pos = pos + 1
  local body = bodies[pos] or "grant_type=authorization_code&code=exhausted"
  return wrk.format("POST", "/oauth/token",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""
)

# Refreshes: a pool of refresh tokens per thread; each answer puts the next one back.
_LUA_REFRESH = (
    _LUA_COMMON
    + """
function init(args)
  pool = lines(os.getenv("BENCH_FILE"))
  client = os.getenv("BENCH_CLIENT")
end
request = function()
  local token = table.remove(pool, 1) or "exhausted"
  return wrk.format("POST", "/oauth/token",
    {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=refresh_token&client_id=" .. client .. "&refresh_token=" .. token)
end
response = function(status, headers, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then pool[#pool + 1] = token end
end
"""
)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


class State:
    """The SMART gateway's state database, written the way the gateway writes it."""

    def __init__(self, his_url: str, state_url: str) -> None:
        from gateway.app import create_app
        from smart_auth.accounts.tables import account, identity

        self.app = create_app(
            {
                "his_url": his_url,
                "state_url": state_url,
                "dev_open_access": False,
                "secret_key": "bench",
                "log_level": "WARNING",
            }
        )
        self.store = self.app.extensions["smart_oauth"].store
        self.engine = self.app.extensions["state_engine"]
        self.client_id, _ = self.store.register_client(
            name="Benchmark app",
            kind="app",
            auth_method="none",
            scope=SCOPE,
            redirect_uris=(REDIRECT,),
        )
        self.verifier, self.challenge = _pkce()
        self._account, self._identity = account, identity

    def add_accounts(self, patient_ids: list[int]) -> dict[int, int]:
        """One account per HIS patient, acting for that patient; account id by patient id."""
        now = dt.datetime.now()
        found: dict[int, int] = {}
        with self.engine.begin() as conn:
            for pid in patient_ids:
                name = f"bench{pid}"
                account_id = conn.execute(
                    self._account.insert().values(
                        username=name, email=f"{name}@example.org", full_name=name, created_at=now
                    )
                ).inserted_primary_key[0]
                conn.execute(
                    self._identity.insert().values(
                        account_id=account_id, his_patient_id=pid, relation="self", verified_at=now
                    )
                )
                found[pid] = int(account_id)
        return found

    def codes(self, accounts: list[tuple[int, int]]) -> list[str]:
        """Authorization codes for (patient id, account id) pairs, as the consent page saves
        them after the patient allowed the launch (PKCE S256, 60 s lifetime)."""
        from smart_auth.oauth.store import digest
        from smart_auth.oauth.tables import oauth_code

        now = int(time.time())
        codes, rows = [], []
        for pid, account_id in accounts:
            code = secrets.token_urlsafe(32)
            codes.append(code)
            rows.append(
                {
                    "code_hash": digest(code),
                    "client_id": self.client_id,
                    "account_id": account_id,
                    "redirect_uri": REDIRECT,
                    "scope": SCOPE,
                    "patient_id": pid,
                    "fhir_user": None,
                    "nonce": None,
                    "code_challenge": self.challenge,
                    "code_challenge_method": "S256",
                    "auth_time": now,
                    "expires_at": now + 60,
                }
            )
        with self.engine.begin() as conn:
            conn.execute(oauth_code.insert(), rows)
        return codes

    def exchange_body(self, code: str) -> str:
        return (
            f"grant_type=authorization_code&code={quote(code)}&redirect_uri={quote(REDIRECT)}"
            f"&client_id={self.client_id}&code_verifier={self.verifier}"
        )


def _split(lines: list[str], name: str) -> Path:
    """Write ``lines`` dealt round-robin into one file per wrk thread; the files' stem."""
    stem = OUT / name
    for t in range(THREADS):
        (OUT / f"{name}.{t + 1}").write_text("\n".join(lines[t::THREADS]) + "\n")
    return stem


def _wrk(url: str, script: str, file: Path, seconds: int, **env: str) -> dict[str, float]:
    lua = OUT / "bench_auth.lua"
    lua.write_text(script)
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(lua)]
    environ = {**os.environ, "BENCH_FILE": str(file), **env}
    text = subprocess.run(
        [*cmd, url], capture_output=True, text=True, env=environ, check=True
    ).stdout
    figures = wrk_figures(text)
    if "Socket errors:" in text:  # timeouts or resets count as errors too
        figures["errors"] += 1
    return figures


def _check(name: str, result: dict[str, float]) -> None:
    log(f"  {name}: {result}")
    if result["errors"]:
        raise SystemExit(f"{name} answered errors: the comparison would be meaningless")


def _tokens(state: State, base: str, accounts: dict[int, int]) -> dict[int, dict[str, str]]:
    """Access and refresh tokens of every account, from the real token endpoint."""
    pairs = list(accounts.items())
    tokens: dict[int, dict[str, str]] = {}
    session = requests.Session()
    for start in range(0, len(pairs), 500):  # codes live 60 s: write them in batches
        batch = pairs[start : start + 500]
        for (pid, _), code in zip(batch, state.codes(batch), strict=True):
            answer = session.post(
                base + "/oauth/token", data=state.exchange_body(code), headers=_FORM, timeout=30
            )
            answer.raise_for_status()
            body = answer.json()
            assert body["patient"] == str(pid), body
            tokens[pid] = {"access": body["access_token"], "refresh": body["refresh_token"]}
    return tokens


def _verify(open_base: str, smart_base: str, tokens: dict[int, dict[str, str]]) -> None:
    """The comparison is only fair if both gateways answer the same reads, and SMART really
    checks: a token reads its own patient, and another patient answers 404."""
    (pid, tok), (other, _) = list(tokens.items())[:2]
    auth = {"Authorization": f"Bearer {tok['access']}"}
    own = requests.get(f"{smart_base}/fhir/Patient/{pid}", headers=auth, timeout=10)
    plain = requests.get(f"{open_base}/fhir/Patient/{pid}", timeout=10)
    assert own.status_code == plain.status_code == 200, (own.status_code, plain.status_code)
    assert own.json()["id"] == plain.json()["id"] == str(pid)
    another = requests.get(f"{smart_base}/fhir/Patient/{other}", headers=auth, timeout=10)
    assert another.status_code == 404
    assert requests.get(f"{smart_base}/fhir/Patient/{pid}", timeout=10).status_code == 401


def run(patients: int, accounts_n: int, rounds: int, seconds: int) -> dict[str, Any]:
    his = prepare_his(patients)
    state_path = OUT / "auth-state.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_path}{suffix}").unlink(missing_ok=True)
    state_url = f"sqlite:///{state_path}"
    state = State(his, state_url)
    patient_ids = sorted(secrets.SystemRandom().sample(range(1, patients + 1), accounts_n))
    accounts = state.add_accounts(patient_ids)
    log(f"{len(accounts)} accounts in the state database")
    # The per-address limit of the credential endpoints (AUTH_RATE_LIMIT) would refuse a load
    # generator that sends everything from one address: off, to measure the endpoints themselves.
    smart_env = {
        "FHIR_GATEWAY_DEV_OPEN_ACCESS": "false",
        "FHIR_GATEWAY_STATE_URL": state_url,
        "FHIR_GATEWAY_AUTH_RATE_LIMIT": "0",
    }
    uncached_env = {**smart_env, "FHIR_GATEWAY_OAUTH_TOKEN_CACHE_S": "0"}
    nosync_env = {**smart_env, "FHIR_GATEWAY_AUDIT_JOURNAL_SYNC": "none"}
    threads_env = {**smart_env, "FHIR_GATEWAY_THREADS": "4"}
    open_state = OUT / "auth-state-open.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{open_state}{suffix}").unlink(missing_ok=True)
    open_env = {"FHIR_GATEWAY_STATE_URL": f"sqlite:///{open_state}"}  # its audit trail
    results: dict[str, Any] = {
        "machine": _machine(),
        "date": dt.date.today().isoformat(),
        "patients": patients,
        "accounts": accounts_n,
        "rounds": rounds,
        "seconds": seconds,
    }
    with (
        serve("gateway.wsgi:app", his, open_env) as (open_base, _),
        serve("gateway.wsgi:app", his, smart_env) as (smart_base, smart_proc),
        serve("gateway.wsgi:app", his, uncached_env) as (uncached_base, _),
        serve("gateway.wsgi:app", his, nosync_env) as (nosync_base, _),
        serve("gateway.wsgi:app", his, threads_env) as (threads_base, _),
    ):
        started = time.perf_counter()
        tokens = _tokens(state, smart_base, accounts)
        log(f"{len(tokens)} token pairs in {time.perf_counter() - started:.1f} s (one client)")
        _verify(open_base, smart_base, tokens)
        _verify(open_base, uncached_base, tokens)
        _verify(open_base, nosync_base, tokens)
        _verify(open_base, threads_base, tokens)
        read_open = _split([str(pid) for pid in tokens], "auth-reads-open")
        read_smart = _split([f"{pid} {t['access']}" for pid, t in tokens.items()], "auth-reads")
        refresh_pool = [t["refresh"] for t in tokens.values()]
        per_round = len(refresh_pool) // rounds
        runs: dict[str, list[dict[str, float]]] = {
            "open": [],
            "smart": [],
            "uncached": [],
            "nosync": [],
            "threads": [],
            "exchange": [],
            "refresh": [],
        }
        reads = [
            ("open", "Patient/{id}, open", open_base, read_open),
            ("smart", "Patient/{id}, SMART", smart_base, read_smart),
            ("uncached", "Patient/{id}, SMART, no token memory", uncached_base, read_smart),
            ("nosync", "Patient/{id}, SMART, journal not synced", nosync_base, read_smart),
            ("threads", "Patient/{id}, SMART, journal synced, 4 threads", threads_base, read_smart),
        ]
        for rnd in range(rounds):  # reads first: the token rounds below write to the state DB
            log(f"reads, round {rnd + 1}")
            turn = rnd % len(reads)
            for name, title, base, file in reads[turn:] + reads[:turn]:  # rotated
                runs[name].append(_wrk(base, _LUA_READS, file, seconds))
                _check(title, runs[name][-1])
        for rnd in range(rounds):
            log(f"token endpoint, round {rnd + 1}")
            # enough codes for 2,000 exchanges a second; the run fails if they run out
            chosen = secrets.SystemRandom().choices(patient_ids, k=2000 * seconds)
            pairs = [(pid, accounts[pid]) for pid in chosen]
            bodies = [state.exchange_body(code) for code in state.codes(pairs)]
            runs["exchange"].append(
                _wrk(smart_base, _LUA_EXCHANGES, _split(bodies, "auth-codes"), seconds)
            )
            _check("code exchanges", runs["exchange"][-1])
            chains = refresh_pool[rnd * per_round : (rnd + 1) * per_round]
            runs["refresh"].append(
                _wrk(
                    smart_base,
                    _LUA_REFRESH,
                    _split(chains, "auth-refresh"),
                    seconds,
                    BENCH_CLIENT=state.client_id,
                )
            )
            _check("refreshes", runs["refresh"][-1])
        results["worker_rss_mb"] = worker_rss_mb(smart_proc)
    results.update({name: median_runs(r) for name, r in runs.items()})
    results["runs"] = runs
    # the ratio of each round's pair (run seconds apart), then their median: slow drifts of a
    # shared machine cancel out within a round
    for name, base, key in (
        ("smart", "open", "ratio"),
        ("uncached", "open", "ratio_uncached"),
        ("smart", "nosync", "ratio_synced"),
        ("threads", "nosync", "ratio_synced_threads"),
    ):
        pairs = zip(runs[name], runs[base], strict=True)
        results[key] = round(statistics.median(a["rps"] / b["rps"] for a, b in pairs), 3)
    return results


def table(r: dict[str, Any]) -> str:
    o, s, u, n, t = r["open"], r["smart"], r["uncached"], r["nosync"], r["threads"]
    e, f = r["exchange"], r["refresh"]
    return "\n".join(
        [
            f"{r['machine']}; HIS of {r['patients']:,} patients; {r['accounts']:,} accounts; "
            f"wrk -t{THREADS} -c{CONNECTIONS}, {r['seconds']} s, medians of {r['rounds']} rounds",
            "",
            "| scenario | throughput | p50 | p99 |",
            "|---|---|---|---|",
            f"| `Patient/{{id}}`, authorization off | {o['rps']:,.0f} reads/s | {o['p50']} ms "
            f"| {o['p99']} ms |",
            f"| `Patient/{{id}}`, SMART bearer token | {s['rps']:,.0f} reads/s | {s['p50']} ms "
            f"| {s['p99']} ms |",
            f"| `Patient/{{id}}`, SMART, no token memory | {u['rps']:,.0f} reads/s | {u['p50']} ms "
            f"| {u['p99']} ms |",
            f"| `Patient/{{id}}`, SMART, journal not synced | {n['rps']:,.0f} reads/s "
            f"| {n['p50']} ms | {n['p99']} ms |",
            f"| `Patient/{{id}}`, SMART, journal synced, 4 threads | {t['rps']:,.0f} reads/s "
            f"| {t['p50']} ms | {t['p99']} ms |",
            f"| authorization-code exchanges (PKCE S256) | {e['rps']:,.0f} /s | {e['p50']} ms "
            f"| {e['p99']} ms |",
            f"| refresh-token rotations | {f['rps']:,.0f} /s | {f['p50']} ms | {f['p99']} ms |",
            "",
            f"SMART / open, median of the rounds' ratios: **{r['ratio']:.1%}** (target >= 85%); "
            f"without token memory: **{r['ratio_uncached']:.1%}**; journal synced / not "
            f"synced (SMART): **{r['ratio_synced']:.1%}**, with 4 threads: "
            f"**{r['ratio_synced_threads']:.1%}**",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()
    if args.accounts < args.rounds * CONNECTIONS * 2:
        parser.error("too few accounts for the refresh chains of every round")
    results = run(args.patients, args.accounts, args.rounds, args.seconds)
    (OUT / "auth-results.json").write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    sys.exit(main())
