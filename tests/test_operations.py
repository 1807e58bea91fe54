"""Operations: health, gzip, CORS, request ids, logs without patient data, HIS faults, 401."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import socket

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import app_config


def test_liveness_and_readiness(client):
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json(force=True)["checks"]["his"] == "pass"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_his_is_503_with_retry_after():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing"
    app = create_app(app_config(url, his_timeout_s=2))
    client = app.test_client()
    r = client.get("/fhir/Patient/1")
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    body = r.get_json(force=True)
    assert body["issue"][0]["code"] == "transient"
    assert "psycopg" not in r.get_data(as_text=True).lower()
    assert client.get("/health/ready").status_code == 503
    assert client.get("/health/live").status_code == 200


def test_reading_needs_authorization_by_default(his_url):
    client = create_app(app_config(his_url, dev_open_access=False)).test_client()
    r = client.get("/fhir/Patient/1")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.get_json(force=True)["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Patient").status_code == 401
    assert client.get("/fhir/metadata").status_code == 200


def test_gzip_when_accepted(client):
    plain = client.get("/fhir/metadata")
    zipped = client.get("/fhir/metadata", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json(force=True)
    assert "Content-Encoding" not in plain.headers


def test_cors_metadata_open_api_configured(his_url):
    app = create_app(app_config(his_url, cors_origins="https://app.example"))
    client = app.test_client()
    pre = client.options(
        "/fhir/metadata",
        headers={"Origin": "https://anyone.example", "Access-Control-Request-Method": "GET"},
    )
    assert pre.headers["Access-Control-Allow-Origin"] in ("*", "https://anyone.example")
    api = client.options(
        "/fhir/Patient",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert api.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "authorization" in api.headers["Access-Control-Allow-Headers"].lower()
    other = client.options(
        "/fhir/Patient",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_request_id_is_echoed_or_made(client):
    assert (
        client.get("/health/live", headers={"X-Request-ID": "abc123"}).headers["X-Request-ID"]
        == "abc123"
    )
    made = client.get("/health/live", headers={"X-Request-ID": "bad id; drop"}).headers[
        "X-Request-ID"
    ]
    assert made.isalnum()
    assert len(made) == 32


def test_logs_carry_no_patient_data(client, his_engine, caplog):
    with his_engine.connect() as conn:
        national_id, family = conn.execute(
            sa.select(t.patient.c.national_id, t.patient.c.family).limit(1)
        ).one()
    with caplog.at_level(logging.INFO):
        client.get(f"/fhir/Patient?identifier={national_id}")
        client.get(f"/fhir/Patient?family={family}")
        client.get(f"/fhir/Patient?identifier={national_id}&_count=bad")
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "request" in text
    assert national_id not in text
    assert family not in text


@pytest.fixture
def broken_his(sqlite_his, tmp_path):
    """A copy of the SQLite HIS with one malformed patient row."""
    src = sqlite_his.removeprefix("sqlite:///")
    dst = tmp_path / "broken.sqlite"
    shutil.copy(src, dst)
    url = f"sqlite:///{dst}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        pid = conn.execute(sa.select(t.patient.c.id).order_by(t.patient.c.id).limit(1)).scalar_one()
        conn.execute(sa.update(t.patient).where(t.patient.c.id == pid).values(gender="X"))
    engine.dispose()
    return url, pid


def test_malformed_his_row_is_reported_not_a_500(broken_his, caplog):
    url, pid = broken_his
    client = create_app(app_config(url)).test_client()
    with caplog.at_level(logging.WARNING):
        read = client.get(f"/fhir/Patient/{pid}")
    assert read.status_code == 422
    assert "gender" in read.get_json(force=True)["issue"][0]["diagnostics"]
    assert any("malformed" in r.getMessage() for r in caplog.records)
    bundle = client.get(f"/fhir/Patient?_id={pid},{pid + 1}").get_json(force=True)
    modes = sorted(e["search"]["mode"] for e in bundle["entry"])
    assert modes == ["match", "outcome"]
    outcome = next(e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome")
    assert outcome["issue"][0]["severity"] == "warning"


def test_unexpected_errors_are_500_outcomes_without_internals(his_url, caplog):
    class Exploding:
        def authenticate(self, headers):  # type: ignore[no-untyped-def]
            raise RuntimeError("secret internals 1860101123456")

    client = create_app(app_config(his_url), authenticator=Exploding()).test_client()
    with caplog.at_level(logging.ERROR):
        r = client.get("/fhir/Patient/1")
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert "secret" not in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body
    assert r.get_json(force=True)["issue"][0]["code"] == "exception"
    logged = "\n".join(f"{rec.getMessage()} {rec.__dict__.get('error')}" for rec in caplog.records)
    assert "RuntimeError" in logged
    assert "1860101123456" not in logged


def test_pacs_library_never_logs_patient_data_at_info():
    """pynetdicom logs whole C-FIND identifiers at INFO; the gateway keeps it to warnings."""
    import logging

    from fhir_gateway import logs

    logs.configure("INFO", True)
    assert not logging.getLogger("pynetdicom").isEnabledFor(logging.INFO)
    assert logging.getLogger("pynetdicom").isEnabledFor(logging.WARNING)


def test_check_config_prints_no_secret(his_url):
    """Secrets are shown as set or not, URLs without their password."""
    from click.testing import CliRunner

    from gateway.cli import main

    env = {
        "FHIR_GATEWAY_HIS_URL": his_url,
        "FHIR_GATEWAY_STATE_URL": "postgresql+psycopg://gw:state-pass-1@db.example/state",
        "FHIR_GATEWAY_SECRET_KEY": "signing-key-2",
        "FHIR_GATEWAY_ACCOUNTS_ADMIN_TOKEN": "admin-token-3",
        "FHIR_GATEWAY_SMTP_PASSWORD": "smtp-pass-4",
        "FHIR_GATEWAY_SMS_TOKEN": "sms-token-5",
        "FHIR_GATEWAY_PACS_DICOMWEB_PASSWORD": "pacs-pass-6",
        "FHIR_GATEWAY_PACS_DICOMWEB_URL": "http://viewer:pacs-pass-7@pacs.example/dicom-web",
    }
    result = CliRunner().invoke(main, ["check-config"], env=env)
    assert result.exit_code == 0, result.output
    for secret in ("state-pass-1", "signing-key-2", "admin-token-3", "smtp-pass-4", "sms-token-5"):
        assert secret not in result.output
    assert "pacs-pass-6" not in result.output
    assert "pacs-pass-7" not in result.output
    assert "smtp_password = (set)" in result.output
    assert "sms_token = (set)" in result.output
    assert "smtp_user = " in result.output
    assert "postgresql+psycopg://gw:***@db.example/state" in result.output


def test_gunicorn_instances_share_no_control_socket():
    from gateway.server import gunicorn_options
    from gateway.settings import Settings

    assert gunicorn_options(Settings.from_mapping({}))["control_socket_disable"] is True


def test_mail_carries_date_and_message_id(tmp_path):
    """RFC 5322 §3.6: every message the gateway writes has a Date and a unique Message-ID."""
    from email import message_from_bytes
    from email.utils import parsedate_to_datetime

    from smart_auth.accounts.mail import Message, OutboxSender

    sender = OutboxSender(tmp_path, "portal@hospital.example")
    for _ in range(2):
        sender.send(Message(to="ana@example.org", subject="Cod", body="123456", language="ro"))
    mails = [message_from_bytes(p.read_bytes()) for p in sorted(tmp_path.glob("*.eml"))]
    assert len(mails) == 2
    for mail in mails:
        assert parsedate_to_datetime(mail["Date"]).tzinfo is not None
        assert mail["Message-ID"].endswith("@hospital.example>")
    assert mails[0]["Message-ID"] != mails[1]["Message-ID"]


def test_every_option_has_a_section_and_the_readme_shows_the_reference():
    """The configuration is documented in sections, the README's reference is the generated one."""
    from dataclasses import fields
    from pathlib import Path

    from gateway.settings import Settings, options_markdown, section_of

    for option in fields(Settings):
        section_of(option.name)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert options_markdown() in readme


def test_liveness_answers_while_every_api_thread_waits_on_a_hung_his(postgres_his, tmp_path):
    """The real ``fhir-gateway serve``, one worker with one API thread, its HIS (PostgreSQL)
    behind the fault proxy: once the HIS hangs and API requests hold the thread, /health/live
    still answers within a second (it has a thread of its own), while readiness says 503."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    import requests

    from tests.faults.proxy import FaultProxy
    from tests.gunicorn_serving import wait_ready

    real = sa.make_url(postgres_his)
    with FaultProxy(real.host or "127.0.0.1", real.port or 5432, lifetime_s=240) as proxy:
        port = _closed_port()
        env = {
            **os.environ,
            **{f"FHIR_GATEWAY_{k.upper()}": str(v) for k, v in app_config("").items()},
            "FHIR_GATEWAY_HIS_URL": real.set(port=proxy.port).render_as_string(False),
            "FHIR_GATEWAY_HIS_TIMEOUT_S": "20",
            "FHIR_GATEWAY_PORT": str(port),
            "FHIR_GATEWAY_WORKERS": "1",
            "FHIR_GATEWAY_THREADS": "1",
        }
        base = f"http://127.0.0.1:{port}"
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log:
            cli = Path(sys.executable).parent / "fhir-gateway"
            proc = subprocess.Popen(
                [str(cli), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                wait_ready(port, log_path)
                assert requests.get(f"{base}/fhir/Patient?_count=1", timeout=10).ok
                proxy.mode = "stall"
                stuck = [
                    threading.Thread(
                        target=_swallow, args=(f"{base}/fhir/Patient?_count={n + 1}",), daemon=True
                    )
                    for n in range(3)
                ]
                for t in stuck:
                    t.start()
                time.sleep(1.0)  # the API thread now waits on the HIS, the others queue
                took = []
                for _ in range(3):
                    start = time.monotonic()
                    live = requests.get(f"{base}/health/live", timeout=5)
                    took.append(time.monotonic() - start)
                    assert live.status_code == 200
                assert max(took) < 1.0, took
                # a kept-alive connection asks again on the same socket: still its own thread
                with requests.Session() as session:
                    for _ in range(2):
                        start = time.monotonic()
                        assert session.get(f"{base}/health/live", timeout=5).ok
                        assert time.monotonic() - start < 1.0
            finally:
                proxy.mode = "close"
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=40)


def _swallow(url: str) -> None:
    import contextlib

    import requests

    with contextlib.suppress(requests.RequestException):
        requests.get(url, timeout=60)


def test_result_access_while_the_his_is_down_is_503_not_500():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing"
    app = create_app(app_config(url, his_timeout_s=2, dev_open_access=False))
    try:
        r = app.test_client().post(
            "/auth/result-access", data={"code": "123456", "national_id": "1800101000000"}
        )
        assert r.status_code == 503
        assert int(r.headers["Retry-After"]) > 0
        assert r.headers["Cache-Control"] == "no-store"
        assert r.get_json()["error"] == "temporarily_unavailable"
    finally:
        app.extensions["audit_writer"].close()


def test_mail_and_sms_give_up_on_a_hung_server_within_their_timeouts():
    """An SMTP server that accepts and never greets, an SMS provider that never answers (the
    fault proxy stalling in front of a listening socket): each send fails within its
    configured timeout instead of holding the request."""
    import threading
    import time

    from smart_auth.accounts import mail_sender, sms_sender
    from smart_auth.accounts.mail import Message
    from smart_auth.accounts.sms import Sms
    from tests.faults.proxy import FaultProxy

    with socket.create_server(("127.0.0.1", 0)) as silent:
        upstream = silent.getsockname()[1]
        with FaultProxy("127.0.0.1", upstream, mode="stall", lifetime_s=60) as proxy:
            settings = Settings.from_mapping(
                {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": proxy.port,
                    "smtp_timeout_s": 1,
                    "sms_url": f"http://127.0.0.1:{proxy.port}/send",
                    "sms_timeout_s": 1,
                },
                environ=False,
            )
            sends = {
                "mail": lambda: mail_sender(settings).send(
                    Message(to="ana@example.org", subject="Cod", body="1", language="ro")
                ),
                "sms": lambda: sms_sender(settings).send(
                    Sms(to="+40700000000", text="1", language="ro")
                ),
            }
            for name, send in sends.items():
                failed: list[BaseException] = []

                def run(send=send, failed=failed) -> None:  # type: ignore[no-untyped-def]
                    try:
                        send()
                    except Exception as exc:
                        failed.append(exc)

                start = time.monotonic()
                worker = threading.Thread(target=run, daemon=True)
                worker.start()
                worker.join(6)
                assert failed, f"{name}: no failure within 6 s"
                assert time.monotonic() - start < 4, name


def test_only_liveness_probes_take_the_liveness_thread():
    """The request line is peeked at, never consumed; anything unsure takes the API threads."""
    import io
    from types import SimpleNamespace

    from gateway.server import _asks_liveness

    def conn_with(sent: bytes, buffered: bytes = b"") -> tuple[bool, bytes]:
        a, b = socket.socketpair()
        with a, b:
            a.sendall(sent)
            b.setblocking(False)
            parser = SimpleNamespace(unreader=SimpleNamespace(buf=io.BytesIO(buffered)))
            conn = SimpleNamespace(sock=b, parser=parser if buffered else None)
            asks = _asks_liveness(conn)
            return asks, b.recv(100) if sent else b""

    assert conn_with(b"GET /health/live HTTP/1.1\r\n") == (True, b"GET /health/live HTTP/1.1\r\n")
    assert conn_with(b"HEAD /health/live HTTP/1.1\r\n")[0]
    assert not conn_with(b"GET /health/ready HTTP/1.1\r\n")[0]
    assert not conn_with(b"GET /fhir/Patient HTTP/1.1\r\n")[0]
    assert not conn_with(b"")[0]  # nothing there yet
    assert conn_with(b"", buffered=b"GET /health/live HTTP/1.1\r\n")[0]
    assert not conn_with(b"GET /health/live HTTP/1.1\r\n", buffered=b"POST /fhir")[0]
