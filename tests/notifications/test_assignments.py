"""One message per questionnaire assignment and channel (F18, F22): the notifications are the
only path. Two ``fhir-gateway worker`` processes share the state database (SQLite, PostgreSQL)
and the HIS: an assignment the HIS sends, one the patient opened before any poll saw it (the
change feed then sees no ``sent`` row; the assignment source does), one submitted, and one the
assignment mail sweep of earlier versions already mailed. Each of the first two reaches the
real SMTP server once and the SMS provider once, linking to its questionnaire, in the language
of the patient's account; the others nothing. ``fhir-gateway questionnaires notify`` only puts a
poll on the queue: it sends nothing itself, and the worker that runs the poll sends each once.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector
from mappers.ids import resource_id
from notifications import messages
from notifications.events import QUESTIONNAIRE_ASSIGNED
from smart_auth.accounts.tables import account, identity
from smart_auth.notifications.tables import job_message
from smart_auth.questionnaires.tables import questionnaire_notice, questionnaire_sweep
from tests.conftest import scratch_postgres
from tests.smart_auth.accounts.conftest import Inbox

from .conftest import REPO_ENV, Hospital, SmsProvider, env_of, now, settings_for
from .test_end_to_end import feed_started, store_of, wait_for, worker
from .test_workers import procs, start_worker  # noqa: F401 (a fixture)

NOTIFY = ("questionnaires", "notify")
LINK = "https://portal.hospital.test/questionnaires/{id}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared-state.sqlite'}"
        return
    with scratch_postgres("notify_assignments") as url:
        yield url


def assign(hospital: Hospital, patient: int, status: str, sent: dt.datetime) -> int:
    qa = t.questionnaire_assignment
    with hospital.engine.begin() as conn:
        questionnaire = conn.execute(sa.select(sa.func.min(t.questionnaire.c.id))).scalar_one()
        key = conn.execute(
            qa.insert().values(
                questionnaire_id=questionnaire,
                patient_id=patient,
                sent_at=sent,
                status=status,
                updated_at=sent,
                version=1 if status == "sent" else 2,
            )
        ).inserted_primary_key
    assert key is not None
    return int(key[0])


def four_patients(hospital: Hospital) -> list[int]:
    """Four patients reachable both ways, no assignment in the HIS but the test's own."""
    with hospital.engine.begin() as conn:
        conn.execute(t.questionnaire_assignment.delete())
        ids = list(
            conn.execute(sa.select(t.patient.c.id).order_by(t.patient.c.id).limit(4)).scalars()
        )
    for pid in ids:
        hospital.with_contacts(pid, f"p{pid}@patients.test", f"+40700{pid:06d}")
    return ids


def link_of(assignment: int) -> str:
    return LINK.format(
        id=resource_id("QuestionnaireResponse", "questionnaire_assignment", assignment)
    )


def test_two_workers_send_one_message_per_assignment_and_channel(
    his_copy: str,
    hospital: Hospital,
    smtp: tuple[Inbox, int],
    sms: tuple[SmsProvider, str],
    state_url: str,
    procs: list[subprocess.Popen[bytes]],  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    inbox, port = smtp
    provider, sms_url = sms
    settings = settings_for(
        his_copy,
        tmp_path,
        state_url=state_url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        sms_url=sms_url,
        notify_sms_kinds=QUESTIONNAIRE_ASSIGNED,
        notify_his_poll_s=0.3,
        notify_sweep_every_s=1,
        queue_lease_s=10,
        questionnaires_link=LINK,
    )
    sent_new, opened, submitted, mailed_before = four_patients(hospital)
    store = store_of(settings)
    # the assignment mail of an earlier version mailed one already, and stood at it
    old = assign(hospital, mailed_before, "sent", now() - dt.timedelta(hours=1))
    with store.engine.begin() as conn:
        conn.execute(
            questionnaire_notice.insert().values(
                assignment_id=old,
                his_patient_id=mailed_before,
                claimed_at=now(),
                outcome="sent",
                attempts=1,
            )
        )
        conn.execute(
            questionnaire_sweep.insert().values(
                name="assignments",
                sent_at=now() - dt.timedelta(hours=1),
                his_id=old,
                updated_at=now(),
            )
        )
        # the patient of the first one chose Polish for their account
        account_id = conn.execute(
            account.insert().values(
                email=f"p{sent_new}@patients.test",
                username=f"p{sent_new}",
                password_hash="x",
                full_name="A Patient",
                created_at=now(),
                failed_logins=0,
                email_code_on=False,
                must_change_password=False,
                language="pl",
            )
        ).inserted_primary_key
        assert account_id is not None
        conn.execute(
            identity.insert().values(
                account_id=account_id[0],
                his_patient_id=sent_new,
                relation="self",
                verified_at=now(),
            )
        )
    for n in (1, 2):
        procs.append(start_worker(settings, tmp_path / f"worker{n}.log"))
    wait_for(lambda: feed_started(store), what="the feed")
    first = assign(hospital, sent_new, "sent", now())
    second = assign(hospital, opened, "in-progress", now())  # opened before any poll
    assign(hospital, submitted, "submitted", now())
    wanted = 4  # two assignments, two channels
    wait_for(
        lambda: sum(d["state"] == "sent" for d in store.deliveries()) >= wanted,
        timeout_s=90,
        what="both assignments on both channels",
    )
    time.sleep(2)  # more polls and sweeps by both workers: nothing more is sent
    deliveries = store.deliveries()
    assert sorted((d["patient_id"], d["channel"], d["state"]) for d in deliveries) == sorted(
        (p, ch, "sent") for p in (sent_new, opened) for ch in ("email", "sms")
    )
    assert Counter(m["To"] for m in inbox.messages) == {
        f"p{sent_new}@patients.test": 1,
        f"p{opened}@patients.test": 1,
    }
    assert sorted(m["to"] for m in provider.accepted) == sorted(
        f"+40700{p:06d}" for p in (sent_new, opened)
    )
    # each links to its own questionnaire; the account's language, else the default (ro)
    assert provider.to(f"+40700{sent_new:06d}") == [
        messages.text(QUESTIONNAIRE_ASSIGNED, "pl", link_of(first))
    ]
    assert provider.to(f"+40700{opened:06d}") == [
        messages.text(QUESTIONNAIRE_ASSIGNED, "ro", link_of(second))
    ]
    by_to = {m["To"]: m for m in inbox.messages}
    assert by_to[f"p{sent_new}@patients.test"]["Content-Language"] == "pl"
    assert link_of(first) in by_to[f"p{sent_new}@patients.test"].get_content()
    for proc in procs:
        assert proc.poll() is None


def test_the_command_only_enqueues_a_poll(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    smtp: tuple[Inbox, int],
    tmp_path: Path,
) -> None:
    inbox, port = smtp
    settings = settings_for(
        his_copy,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        notify_his_poll_s=3600,  # no periodic poll after the first: only the command's
        notify_sweep_every_s=3600,
        notify_reminder_every_s=3600,
    )
    patient = four_patients(hospital)[0]
    store = store_of(settings)
    # the worker's first period starts the cursors; then it stops
    with worker(settings, connector):
        wait_for(lambda: feed_started(store), what="the feed")
    mine = assign(hospital, patient, "sent", now())

    def command() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from gateway.cli import main; main()", *NOTIFY],
            env={**REPO_ENV, **env_of(settings)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = command()
    assert done.returncode == 0, done.stderr
    assert "enqueued" in done.stdout
    with store.engine.connect() as conn:
        queued = conn.execute(sa.select(job_message.c.body)).scalars().all()
    assert len(queued) == 1
    assert '"actor_name":"poll_his"' in queued[0].replace(" ", "")
    assert store.deliveries() == []  # it sent nothing itself
    assert inbox.messages == []
    with worker(settings, connector):
        wait_for(lambda: len(inbox.messages) == 1, what="the mail")
        time.sleep(1)
    assert [m["To"] for m in inbox.messages] == [f"p{patient}@patients.test"]
    assert [d["key"] for d in store.deliveries()] == [f"questionnaire_assignment:{mine}:assigned"]
