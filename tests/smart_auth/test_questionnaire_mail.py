"""The assignment mail (F18): each questionnaire the HIS assigns is mailed to the patient once,
in their language, with a link to it and no health data.

Real parts: a generated HIS of this module's own, the state database on SQLite and PostgreSQL,
and a real SMTP server (aiosmtpd, the accounts tests' ``smtp`` fixture) that receives the mail.
"Once" is held where it is hard: the sweep run twice, two sweeps (two workers, each with its
own engine) at the same moment, a sweep after a failed delivery, and the command itself.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from demo.generator import generate
from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector, make_engine
from mappers import IdentifierSystems
from smart_auth.accounts.mail import SmtpSender
from smart_auth.accounts.tables import account, identity
from smart_auth.questionnaires import AssignmentMail
from smart_auth.questionnaires.tables import questionnaire_notice
from smart_auth.state import create_state, make_state_engine
from tests.conftest import TODAY, scratch_postgres
from tests.smart_auth.accounts.conftest import Inbox

SYSTEMS = IdentifierSystems.from_base("http://hospital.test/id")
LINK = "https://portal.hospital.test/questionnaires/{id}"
NOW = dt.datetime(2026, 11, 2, 9, 0, 0)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on localhost (aiosmtpd) keeping what it receives, as the accounts
    tests have it."""
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def his_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('mail-his') / 'his.sqlite'}"
    engine = make_engine(url)
    generate(engine, patients=12, seed=3, today=TODAY)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.sqlite'}"
        return
    with scratch_postgres("questionnaire_mail") as url:
        yield url


@pytest.fixture
def state(state_url: str) -> Iterator[sa.Engine]:
    engine = make_state_engine(state_url)
    create_state(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def his(his_url: str) -> Iterator[SqlConnector]:
    """The HIS with no assignment but those each test makes (removed afterwards)."""
    connector = SqlConnector.from_url(his_url, SYSTEMS)
    with connector.engine.begin() as conn:
        conn.execute(t.questionnaire_assignment.delete())
    yield connector
    with connector.engine.begin() as conn:
        conn.execute(t.questionnaire_assignment.delete())
    connector.engine.dispose()


def patients(his: SqlConnector, n: int) -> list[int]:
    """``n`` patients, each given a known address: p<id>@example.org, country RO (odd) or PL."""
    p = t.patient.c
    with his.engine.begin() as conn:
        ids = list(conn.execute(sa.select(p.id).order_by(p.id).limit(n)).scalars())
        for pid in ids:
            conn.execute(
                sa.update(t.patient)
                .where(p.id == pid)
                .values(email=f"p{pid}@example.org", country="RO" if pid % 2 else "PL")
            )
    return ids


def assign(his: SqlConnector, patient: int, *, ago: dt.timedelta, status: str = "sent") -> int:
    qa = t.questionnaire_assignment
    sent = NOW - ago
    with his.engine.begin() as conn:
        his_id = int(conn.execute(sa.select(sa.func.max(qa.c.id))).scalar_one() or 0) + 1
        questionnaire = conn.execute(
            sa.select(t.questionnaire.c.id).where(t.questionnaire.c.code.like("onco-%")).limit(1)
        ).scalar_one()
        conn.execute(
            qa.insert().values(
                id=his_id,
                questionnaire_id=questionnaire,
                patient_id=patient,
                sent_at=sent,
                status=status,
                updated_at=sent,
                version=1,
            )
        )
    return his_id


def sweep(state: sa.Engine, his: SqlConnector, port: int, **kw: Any) -> AssignmentMail:
    sender = SmtpSender("127.0.0.1", port, "portal@hospital.test", timeout_s=5)
    clock = kw.pop("clock", lambda: NOW)
    return AssignmentMail(
        state, his, sender, lambda fhir_id: LINK.format(id=fhir_id), clock=clock, **kw
    )


def mailed(inbox: Inbox) -> list[tuple[str, str]]:
    """(recipient, link) of every mail received."""
    out = []
    for message in inbox.messages:
        body = message.get_payload(decode=True).decode()
        found = re.search(r"https://\S+", body)
        assert found is not None, body
        out.append((message["To"], found.group(0)))
    return sorted(out)


def test_each_new_assignment_is_mailed_once_in_the_patients_language(
    state: sa.Engine, his: SqlConnector, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    ro, pl, chose_en, no_email, answered, old = patients(his, 6)
    with his.engine.begin() as conn:
        conn.execute(sa.update(t.patient).where(t.patient.c.id == no_email).values(email=None))
    with state.begin() as conn:  # an account whose holder chose English
        account_id = conn.execute(
            account.insert().values(
                username="en", email="x@example.org", full_name="X", created_at=NOW, language="en"
            )
        ).inserted_primary_key[0]
        conn.execute(
            identity.insert().values(
                account_id=account_id, his_patient_id=chose_en, relation="self", verified_at=NOW
            )
        )
    ids = {
        "ro": assign(his, ro, ago=dt.timedelta(hours=2)),
        "pl": assign(his, pl, ago=dt.timedelta(hours=1)),
        "en": assign(his, chose_en, ago=dt.timedelta(minutes=5)),
        "none": assign(his, no_email, ago=dt.timedelta(minutes=4)),
        "answered": assign(his, answered, ago=dt.timedelta(hours=3), status="submitted"),
        "old": assign(his, old, ago=dt.timedelta(days=90)),
    }
    report = sweep(state, his, port).run()
    # the old one is not even read: a sweep starts no earlier than max_age ago
    assert (report.seen, report.sent, report.no_address, report.skipped) == (5, 3, 1, 1)
    assert report.failed == 0
    assert mailed(inbox) == sorted(
        [
            (f"p{ro}@example.org", LINK.format(id=ids["ro"])),
            (f"p{pl}@example.org", LINK.format(id=ids["pl"])),
            (f"p{chose_en}@example.org", LINK.format(id=ids["en"])),
        ]
    )
    by_to = {m["To"]: m for m in inbox.messages}
    assert by_to[f"p{ro}@example.org"]["Content-Language"] == "ro"
    assert by_to[f"p{pl}@example.org"]["Content-Language"] == "pl"
    assert by_to[f"p{chose_en}@example.org"]["Content-Language"] == "en"
    assert "chestionar" in by_to[f"p{ro}@example.org"]["Subject"]
    assert "ankiet" in by_to[f"p{pl}@example.org"]["Subject"]
    # no health data: not the questionnaire's title or code, not the patient's name
    with his.engine.connect() as conn:
        title, code = conn.execute(
            sa.select(t.questionnaire.c.title, t.questionnaire.c.code).where(
                t.questionnaire.c.code.like("onco-%")
            )
        ).first()
        names = conn.execute(
            sa.select(t.patient.c.given, t.patient.c.family).where(t.patient.c.id.in_([ro, pl]))
        ).all()
    for message in inbox.messages:
        text = message["Subject"] + message.get_payload(decode=True).decode()
        assert title not in text
        assert code not in text
        assert "onco" not in text.lower()
        for given, family in names:
            assert family not in text
            assert given not in text

    again = sweep(state, his, port).run()
    # it reads from its cursor less the look-back (the last two): both taken before
    assert (again.seen, again.sent, again.taken) == (2, 0, 2)
    assert len(inbox.messages) == 3
    with state.connect() as conn:
        outcomes = dict(
            conn.execute(
                sa.select(questionnaire_notice.c.assignment_id, questionnaire_notice.c.outcome)
            ).all()
        )
    assert outcomes == {
        ids["ro"]: "sent",
        ids["pl"]: "sent",
        ids["en"]: "sent",
        ids["none"]: "no-address",
    }


def test_the_next_sweep_mails_what_was_assigned_since_and_what_committed_late(
    state: sa.Engine, his: SqlConnector, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    first, second, late = patients(his, 3)
    assign(his, first, ago=dt.timedelta(minutes=30))
    assert sweep(state, his, port).run().sent == 1
    assign(his, second, ago=dt.timedelta(minutes=1))
    # sent before the cursor, committed by the HIS only now: within the look-back
    assign(his, late, ago=dt.timedelta(minutes=35))
    report = sweep(state, his, port).run()
    assert report.sent == 2
    assert sorted(m["To"] for m in inbox.messages) == sorted(
        f"p{pid}@example.org" for pid in (first, second, late)
    )


@pytest.mark.parametrize("workers", [2, 4])
def test_sweeps_on_several_workers_at_once_mail_each_assignment_once(
    state_url: str, state: sa.Engine, his: SqlConnector, smtp: tuple[Inbox, int], workers: int
) -> None:
    inbox, port = smtp
    people = patients(his, 10)
    ids = [assign(his, pid, ago=dt.timedelta(minutes=50 - i)) for i, pid in enumerate(people * 2)]
    barrier = threading.Barrier(workers)
    reports = []

    def worker() -> None:
        engine = make_state_engine(state_url)  # each worker its own engine and connections
        try:
            barrier.wait(timeout=30)
            reports.append(sweep(engine, his, port).run())
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(reports) == workers
    assert sum(r.sent for r in reports) == len(ids)
    assert sum(r.sent + r.taken for r in reports) == len(ids) * workers
    links = [link for _, link in mailed(inbox)]
    assert sorted(links) == sorted(LINK.format(id=i) for i in ids)  # each exactly once


def test_a_mail_that_failed_is_sent_by_a_later_sweep_once(
    state: sa.Engine, his: SqlConnector, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    (pid,) = patients(his, 1)
    his_id = assign(his, pid, ago=dt.timedelta(minutes=10))
    down = sweep(state, his, _free_port()).run()  # nobody listens: refused
    assert (down.sent, down.failed) == (0, 1)
    assert inbox.messages == []
    # not again within the same sweep: the next one, a minute later
    later = NOW + dt.timedelta(minutes=1)
    up = sweep(state, his, port, clock=lambda: later).run()
    assert (up.sent, up.retried) == (1, 1)
    assert mailed(inbox) == [(f"p{pid}@example.org", LINK.format(id=his_id))]
    assert sweep(state, his, port, clock=lambda: later + dt.timedelta(minutes=1)).run().sent == 0
    assert len(inbox.messages) == 1


def test_the_command_sweeps_and_a_second_run_mails_nothing(
    his_url: str,
    state_url: str,
    his: SqlConnector,
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.cli import main

    inbox, port = smtp
    (pid,) = patients(his, 1)
    his_id = assign(his, pid, ago=dt.timedelta(0))
    for name, value in {
        "HIS_URL": his_url,
        "STATE_URL": state_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "QUESTIONNAIRES_LINK": LINK,
    }.items():
        monkeypatch.setenv(f"FHIR_GATEWAY_{name}", value)
    # the command's clock is the real one: the assignment is a fresh one
    with his.engine.begin() as conn:
        conn.execute(
            sa.update(t.questionnaire_assignment)
            .where(t.questionnaire_assignment.c.id == his_id)
            .values(sent_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
        )
    runner = CliRunner()
    first = runner.invoke(main, ["questionnaires", "notify"])
    assert first.exit_code == 0, first.output
    assert "mailed: 1" in first.output
    second = runner.invoke(main, ["questionnaires", "notify"])
    assert second.exit_code == 0, second.output
    assert "mailed: 0" in second.output
    assert mailed(inbox) == [(f"p{pid}@example.org", LINK.format(id=his_id))]


def test_two_processes_sweeping_at_once_mail_each_assignment_once(
    his_url: str, state_url: str, state: sa.Engine, his: SqlConnector, smtp: tuple[Inbox, int]
) -> None:
    """Two ``fhir-gateway questionnaires notify`` started together, as two hosts' timers
    would: every assignment is mailed once between them."""
    import os
    import subprocess
    import sys

    inbox, port = smtp
    fresh = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ids = [assign(his, pid, ago=dt.timedelta(0)) for pid in patients(his, 8) * 3]
    with his.engine.begin() as conn:  # sent now, by the real clock the command uses
        conn.execute(sa.update(t.questionnaire_assignment).values(sent_at=fresh))
    env = {
        **os.environ,
        "FHIR_GATEWAY_HIS_URL": his_url,
        "FHIR_GATEWAY_STATE_URL": state_url,
        "FHIR_GATEWAY_SMTP_HOST": "127.0.0.1",
        "FHIR_GATEWAY_SMTP_PORT": str(port),
        "FHIR_GATEWAY_QUESTIONNAIRES_LINK": LINK,
        "FHIR_GATEWAY_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "gateway.cli", "questionnaires", "notify"]
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    mailed_counts = [int(re.search(rb"mailed: (\d+)", out).group(1)) for out, _ in outputs]
    assert sum(mailed_counts) == len(ids), outputs
    assert sorted(link for _, link in mailed(inbox)) == sorted(LINK.format(id=i) for i in ids)
