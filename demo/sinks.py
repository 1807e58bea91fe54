"""The demo's mail and SMS sinks: a local SMTP server (aiosmtpd) and a local HTTP endpoint in
the shape of the gateway's SMS provider (``{"to", "text"}`` JSON), which deliver nothing. Each
message is printed to the console (the one-time codes and links a demo sign-in needs) and
kept as a file: ``<dir>/mail/<n>.eml`` and ``<dir>/sms/<n>.json``.

``python -m demo.sinks --dir instance/demo-messages --smtp-port 8025 --sms-port 8026`` runs both
until stopped; the tests start them in-process with ``Sinks``."""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import json
import signal
import sys
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.controller import Controller


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a mail (its first text/plain part)."""
    part = message.get_body(preferencelist=("plain", "html"))
    return str(part.get_content()) if part is not None else ""


class Sinks:
    """Both sinks, listening on 127.0.0.1 only; ``mail`` and ``sms`` hold what arrived."""

    def __init__(
        self, directory: Path, smtp_port: int, sms_port: int, out: TextIO | None = None
    ) -> None:
        self.directory = directory
        self.out = out if out is not None else sys.stdout
        self.lock = threading.Lock()
        self.mail: list[EmailMessage] = []
        self.sms: list[dict[str, str]] = []
        (directory / "mail").mkdir(parents=True, exist_ok=True)
        (directory / "sms").mkdir(parents=True, exist_ok=True)
        self.smtp = Controller(_MailHandler(self), hostname="127.0.0.1", port=smtp_port)
        self.http = ThreadingHTTPServer(("127.0.0.1", sms_port), _sms_handler(self))
        self.sms_url = f"http://127.0.0.1:{self.http.server_port}/sms"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def start(self) -> Sinks:
        self.smtp.start()
        self.thread.start()
        self.say(
            f"demo mail sink: smtp://127.0.0.1:{self.smtp.port}, SMS sink: {self.sms_url}; "
            f"messages are printed here and kept in {self.directory}"
        )
        return self

    def stop(self) -> None:
        self.smtp.stop()
        self.http.shutdown()
        self.thread.join()
        self.http.server_close()

    def say(self, line: str) -> None:
        with self.lock:
            print(line, file=self.out, flush=True)

    def received_mail(self, raw: bytes) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mail.append(message)
            (self.directory / "mail" / f"{time.time_ns()}.eml").write_bytes(raw)
        body = "\n    ".join(line for line in text_of(message).splitlines() if line.strip())
        self.say(f"--- MAIL to {message['To']}: {message['Subject']}\n    {body}")

    def received_sms(self, doc: dict[str, str]) -> None:
        with self.lock:
            self.sms.append(doc)
            (self.directory / "sms" / f"{time.time_ns()}.json").write_text(
                json.dumps(doc, ensure_ascii=False), encoding="utf-8"
            )
        self.say(f"--- SMS to {doc.get('to')}: {doc.get('text')}")


class _MailHandler:
    def __init__(self, sinks: Sinks) -> None:
        self.sinks = sinks

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sinks.received_mail(envelope.original_content or envelope.content)
        return "250 OK"


def _sms_handler(sinks: Sinks) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                doc = json.loads(self.rfile.read(min(length, 64 * 1024)))
                message = {"to": str(doc["to"]), "text": str(doc["text"])}
            except (ValueError, KeyError, TypeError):
                self.send_response(400)
                self.end_headers()
                return
            sinks.received_sms(message)
            self.send_response(202)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("instance/demo-messages"))
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--sms-port", type=int, default=8026)
    args = parser.parse_args(argv)
    sinks = Sinks(args.dir, args.smtp_port, args.sms_port).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    sinks.stop()


if __name__ == "__main__":
    main()
