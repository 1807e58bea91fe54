"""When the SMS provider or the mail server fails: retries with backoff, then the hospital's
list of undeliverable messages; a recipient the mail server refuses goes there at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector
from notifications import events as ev

from .conftest import REPO_ENV, Hospital, SmsProvider, env_of, settings_for
from .test_end_to_end import feed_started, store_of, wait_for, worker


def test_a_failing_provider_is_retried_with_backoff_then_listed_undeliverable(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    sms: tuple[SmsProvider, str],
    tmp_path: Path,
) -> None:
    provider, sms_url = sms
    settings = settings_for(
        his_copy,
        tmp_path,
        sms_url=sms_url,
        notify_email_kinds="",
        notify_sms_kinds="all",
        notify_max_attempts=4,
        notify_min_backoff_s=0.3,
        notify_max_backoff_s=2,
    )
    store = store_of(settings)
    first = hospital.first(t.lab_bulletin)
    second = hospital.first(t.lab_bulletin, t.lab_bulletin.c.id > first)
    provider.failures = 2  # the provider is down for the first two attempts
    with worker(settings, connector):
        wait_for(lambda: feed_started(store), what="the feed")
        owner = hospital.validate_bulletin(first)
        hospital.with_contacts(owner, "a@patients.test", "+40700000011")
        wait_for(lambda: [d["state"] for d in store.deliveries()] == ["sent"], what="sent")
        started = time.monotonic()
        assert provider.requests == 3
        assert store.deliveries()[0]["attempts"] == 3
        # now it is down for good: four attempts, growing waits, then the list
        provider.always_fail = True
        before = provider.requests
        other = hospital.validate_bulletin(second)
        hospital.with_contacts(other, "b@patients.test", "+40700000012")
        wait_for(
            lambda: store.deliveries()[-1]["state"] == "undeliverable",
            what="undeliverable",
        )
        took = time.monotonic() - started
    assert provider.requests - before == 4
    # backoff 0.3, 0.6, 1.2 s (at 80-100 %): the three waits between four attempts
    assert took > 0.8 * (0.3 + 0.6 + 1.2)
    listed = store.undeliverable_list()
    assert len(listed) == 1
    row = listed[0]
    assert row["channel"] == "sms"
    assert row["kind"] == ev.LAB_VALIDATED
    assert row["patient_id"] == other
    assert row["attempts"] == 4
    assert row["last_error"] == "SmsError"
    # the hospital reads the list with the command; no address and no text in it
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "notifications",
            "undeliverable",
        ],
        env={**REPO_ENV, **env_of(settings)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["id"], r["channel"], r["patient_id"]) for r in lines] == [(row["id"], "sms", other)]
    assert "+4070" not in out
    assert "patients.test" not in out


def test_a_refused_recipient_is_undeliverable_at_once(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    tmp_path: Path,
) -> None:
    from aiosmtpd.controller import Controller

    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            return "550 no such user"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = settings_for(his_copy, tmp_path, smtp_host="127.0.0.1", smtp_port=port)
        store = store_of(settings)
        with worker(settings, connector):
            wait_for(lambda: feed_started(store), what="the feed")
            owner = hospital.validate_bulletin(hospital.first(t.lab_bulletin))
            hospital.with_contacts(owner, "gone@patients.test", None)
            wait_for(
                lambda: [d["state"] for d in store.deliveries()] == ["undeliverable"],
                what="undeliverable",
            )
    finally:
        controller.stop()
    assert store.undeliverable_list()[0]["attempts"] == 1
    assert store.undeliverable_list()[0]["last_error"] == "recipient refused"


def test_the_desk_sets_a_patients_preferences(
    his_copy: str, connector: SqlConnector, tmp_path: Path
) -> None:
    settings = settings_for(his_copy, tmp_path)
    command = [sys.executable, "-c", "from gateway.cli import main; main()"]
    env = {**REPO_ENV, **env_of(settings)}

    def prefs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "notifications", "preferences", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert prefs("7").stdout.splitlines() == [
        "language: ro",
        "email: " + ",".join(sorted(ev.KINDS)),
        "sms: none",
    ]
    done = prefs("7", "--language", "pl", "--email", "none", "--sms", "lab-validated,document-new")
    assert done.returncode == 0
    assert prefs("7").stdout.splitlines() == [
        "language: pl",
        "email: none",
        "sms: document-new,lab-validated",
    ]
    wrong = prefs("7", "--sms", "results")
    assert wrong.returncode != 0
    assert "unknown event kinds: results" in wrong.stderr
    store = store_of(settings)
    assert store.preferences(7).channels(ev.DOCUMENT_NEW) == ["sms"]
    assert store.preferences(8).language == "ro"  # the others keep the defaults
