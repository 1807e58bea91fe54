"""Result-code attempt limits across real worker processes and hosts.

Two ``fhir-gateway serve`` servers (gunicorn, two workers each: two hosts) over one state
database, SQLite file or PostgreSQL. N wrong result codes for one national ID, sent from one
client address (a loopback source address of its own each round) at the same moment (a
barrier, one thread and connection each, half to each server): exactly the limit are judged
(400), the rest refused 429 with Retry-After.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import scratch_postgres
from tests.gunicorn_serving import wait_ready
from tests.smart_auth.race import together

LIMIT = 5
N = 12
ROUNDS = 3

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def servers(request: pytest.FixtureRequest, sqlite_his: str, tmp_path: Path) -> Iterator[list[int]]:
    with ExitStack() as stack:
        state = f"sqlite:///{tmp_path / 'state.sqlite'}"
        if request.param == "postgresql":
            state = stack.enter_context(scratch_postgres("limits_served"))
        cli = Path(sys.executable).parent / "fhir-gateway"
        ports, procs = [], []
        try:
            for host in range(2):
                port = _free_port()
                env = {
                    **os.environ,
                    "FHIR_GATEWAY_HIS_URL": sqlite_his,
                    "FHIR_GATEWAY_STATE_URL": state,
                    "FHIR_GATEWAY_PORT": str(port),
                    "FHIR_GATEWAY_WORKERS": "2",
                    "FHIR_GATEWAY_RESULTS_MAX_ATTEMPTS": str(LIMIT),
                    "FHIR_GATEWAY_OUTBOX_DIR": str(tmp_path / f"outbox{host}"),
                    "FHIR_GATEWAY_DICOMWEB_CACHE_DIR": "",
                }
                log_path = tmp_path / f"server{host}.log"
                log = stack.enter_context(log_path.open("wb"))
                procs.append(
                    subprocess.Popen(
                        [str(cli), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
                wait_ready(port, log_path, timeout_s=60)
                ports.append(port)
            yield ports
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=30)


def _post(port: int, source: str, form: dict[str, str]) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request(
            "POST",
            "/auth/result-access",
            body=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        answer = conn.getresponse()
        answer.read()
        return answer.status, answer.getheader("Retry-After")
    finally:
        conn.close()


def test_result_code_attempts_together_on_two_hosts_judge_exactly_the_limit(
    servers: list[int],
) -> None:
    for round_ in range(ROUNDS):
        source = f"127.0.{10 + round_}.1"
        form = {"code": "000001", "national_id": f"{round_ + 1}" * 13}
        answers = together(N, lambda i, s=source, f=form: _post(servers[i % 2], s, f))
        codes = [status for status, _ in answers]
        assert codes.count(400) == LIMIT, (round_, codes)
        assert codes.count(429) == N - LIMIT, (round_, codes)
        for status, retry_after in answers:
            if status == 429:
                assert retry_after is not None
                assert int(retry_after) >= 1
