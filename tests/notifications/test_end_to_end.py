"""Every event kind, end to end: a change in the HIS (or a booking, or an appointment coming
near) becomes exactly one mail in the SMTP server's inbox and one SMS at the provider per
event, sent by a running worker on the embedded queue, in the patient's language, with a link
and nothing of the record."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from fhir_gateway.his import schema as t
from fhir_gateway.his.connector import CHANGE_SOURCES
from fhir_gateway.his.sql import SqlConnector
from gateway.settings import Settings
from notifications import events as ev
from notifications.store import Preferences, Store
from notifications.worker import build, run
from smart_auth.state import create_state, make_state_engine
from tests.smart_auth.accounts.conftest import Inbox

from .conftest import Hospital, SmsProvider, now, settings_for


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def worker(settings: Settings, connector: SqlConnector, **kw: object) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(
        target=run, args=(settings,), kwargs={"his": connector, "stop": stop, **kw}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


def store_of(settings: Settings) -> Store:
    engine = make_state_engine(settings.state_url)
    create_state(engine)
    return Store(engine, Preferences("ro", frozenset(), frozenset()))


def feed_started(store: Store) -> bool:
    return all(store.cursor(source) is not None for source in CHANGE_SOURCES)


def test_every_event_kind_reaches_mail_and_sms_once(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    smtp: tuple[Inbox, int],
    sms: tuple[SmsProvider, str],
    tmp_path: Path,
) -> None:
    inbox, port = smtp
    provider, sms_url = sms
    settings = settings_for(
        his_copy,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        sms_url=sms_url,
        notify_sms_kinds="all",
        notify_reminder_every_s=0.5,
        notify_reminder_before_h=3,
    )
    store = store_of(settings)
    build(settings, his=connector)  # the state schema
    with hospital.engine.begin() as conn:  # every patient reachable both ways
        for pid in conn.execute(sa.select(t.patient.c.id)).scalars().all():
            conn.execute(
                sa.update(t.patient)
                .where(t.patient.c.id == pid)
                .values(email=f"p{pid}@patients.test", phone=f"+40700{pid:06d}")
            )
    with worker(settings, connector):
        wait_for(lambda: feed_started(store), what="the change feed's first cursor")
        # what the hospital does, after notifications were switched on
        expected: dict[str, int] = {}  # event kind -> patient
        bulletin = hospital.first(t.lab_bulletin, t.lab_bulletin.c.status != "validated")
        expected[ev.LAB_VALIDATED] = hospital.validate_bulletin(bulletin)
        para = hospital.first(t.paraclinical_test)
        expected[ev.PARACLINICAL_VALIDATED] = hospital.validate_paraclinical(para)
        order = hospital.first(t.imaging_order, t.imaging_order.c.status != "cancelled")
        expected[ev.RADIOLOGY_SIGNED] = hospital.sign_report(order)
        patient, _doc = hospital.add_document(hospital.first(t.document))
        expected[ev.DOCUMENT_NEW] = patient
        hospital.assign_questionnaire(patient)
        expected[ev.QUESTIONNAIRE_ASSIGNED] = patient
        # booked in two hours: booked, then (the reminder window is three hours) due
        appointment = hospital.book(patient, now() + dt.timedelta(hours=2))
        expected[ev.APPOINTMENT_BOOKED] = patient
        expected[ev.APPOINTMENT_DUE] = patient
        wait_for(
            lambda: (
                {d["kind"] for d in store.deliveries() if d["state"] == "sent"}
                >= {ev.APPOINTMENT_BOOKED, ev.APPOINTMENT_DUE}
            ),
            what="booked and due",
        )
        hospital.move(appointment, now() + dt.timedelta(days=5))
        expected[ev.APPOINTMENT_CHANGED] = patient
        wait_for(
            lambda: any(d["kind"] == ev.APPOINTMENT_CHANGED for d in store.deliveries()),
            what="changed",
        )
        hospital.cancel(appointment)
        expected[ev.APPOINTMENT_CANCELLED] = patient
        wanted = {(kind, ch) for kind in expected for ch in ("email", "sms")}
        assert all(
            connector.contacts(p).email and connector.contacts(p).mobile for p in expected.values()
        )
        wait_for(
            lambda: (
                {(d["kind"], d["channel"]) for d in store.deliveries() if d["state"] == "sent"}
                >= wanted
            ),
            what="every kind on both channels",
        )
        time.sleep(1.5)  # a few more polls and sweeps: nothing is sent again

    deliveries = store.deliveries()
    assert {d["state"] for d in deliveries} == {"sent"}
    assert {(d["kind"], d["channel"]) for d in deliveries} == wanted
    for d in deliveries:
        assert d["patient_id"] == expected[d["kind"]]
    # exactly one message per event and channel, to the addresses the HIS holds
    mails = Counter(m["To"] for m in inbox.messages)
    by_patient = Counter(expected.values())
    for patient, count in by_patient.items():
        contacts = connector.contacts(patient)
        assert mails[contacts.email] == count
        assert len(provider.to(str(contacts.mobile))) == count
    assert len(inbox.messages) == len(expected) == len(provider.accepted)
    # in the patient's language (the deployment's default here: Romanian), with the link,
    # and nothing of the record: no name, no number, no title
    with hospital.engine.connect() as conn:
        people = conn.execute(
            sa.select(t.patient.c.family, t.patient.c.given, t.patient.c.national_id).where(
                t.patient.c.id.in_(list(expected.values()))
            )
        ).all()
        number = conn.execute(
            sa.select(t.lab_bulletin.c.number).where(t.lab_bulletin.c.id == bulletin)
        ).scalar_one()
    private = [number, *(value for person in people for value in person)]
    for message in inbox.messages:
        body = message.get_content()
        assert "https://portal.hospital.test/account/" in body
        assert message["Content-Language"] == "ro"
        assert "portalul pacientului" in body
        for word in private:
            assert str(word) not in body
            assert str(word) not in str(message["Subject"])
    for sent in provider.accepted:
        assert sent["text"].endswith("https://portal.hospital.test/account/")


def test_preferences_choose_channels_kinds_and_language(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    smtp: tuple[Inbox, int],
    sms: tuple[SmsProvider, str],
    tmp_path: Path,
) -> None:
    inbox, port = smtp
    provider, sms_url = sms
    settings = settings_for(
        his_copy, tmp_path, smtp_host="127.0.0.1", smtp_port=port, sms_url=sms_url
    )
    store = store_of(settings)
    build(settings, his=connector)
    first = hospital.first(t.lab_bulletin, t.lab_bulletin.c.status != "validated")
    second = hospital.first(
        t.lab_bulletin, t.lab_bulletin.c.status != "validated", t.lab_bulletin.c.id > first
    )
    with hospital.engine.connect() as conn:
        owners = dict(
            conn.execute(
                sa.select(t.lab_bulletin.c.id, t.lab_bulletin.c.patient_id).where(
                    t.lab_bulletin.c.id.in_([first, second])
                )
            ).all()
        )
    for n, owner in enumerate(sorted(set(owners.values()))):
        hospital.with_contacts(owner, f"owner{n}@patients.test", f"+4070000000{n}")
    # the first patient: SMS only, in Polish, lab results only; the second: the defaults
    # (email for everything, in Romanian)
    store.set_preferences(
        owners[first], Preferences("pl", frozenset(), frozenset({ev.LAB_VALIDATED}))
    )
    with worker(settings, connector):
        wait_for(lambda: feed_started(store), what="the feed")
        hospital.validate_bulletin(first)
        hospital.validate_bulletin(second)
        wait_for(
            lambda: (
                len(store.deliveries()) >= 2
                and all(d["state"] == "sent" for d in store.deliveries())
            ),
            what="both deliveries",
        )
    rows = {(d["patient_id"], d["channel"]) for d in store.deliveries()}
    assert (owners[first], "sms") in rows
    assert (owners[first], "email") not in rows
    first_mobile = str(connector.contacts(owners[first]).mobile)
    assert provider.to(first_mobile) == [
        "W portalu pacjenta dostępny jest nowy wynik. https://portal.hospital.test/account/"
    ]
    if owners[first] != owners[second]:
        assert (owners[second], "email") in rows
        assert (owners[second], "sms") not in rows
        assert [m["To"] for m in inbox.messages] == [connector.contacts(owners[second]).email]


def test_a_change_committed_late_with_an_earlier_stamp_is_still_seen(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    smtp: tuple[Inbox, int],
    tmp_path: Path,
) -> None:
    """A HIS transaction stamps its rows when it starts and commits seconds later, after the
    feed's cursor went past that stamp: the re-read window still finds it, once."""
    inbox, port = smtp
    settings = settings_for(his_copy, tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    store = store_of(settings)
    first = hospital.first(t.lab_bulletin)
    with worker(settings, connector):
        wait_for(lambda: feed_started(store), what="the feed")
        owner = hospital.validate_bulletin(first)
        hospital.with_contacts(owner, "early@patients.test", None)
        wait_for(lambda: len(inbox.messages) == 1, what="the first")
        cursor = store.cursor("lab_bulletin")
        assert cursor is not None
        # stamped 3 s before the cursor, committed now
        late = hospital.first(t.lab_bulletin, t.lab_bulletin.c.id > first)
        with hospital.engine.begin() as conn:
            conn.execute(
                sa.update(t.lab_bulletin)
                .where(t.lab_bulletin.c.id == late)
                .values(
                    status="validated",
                    updated_at=cursor[0] - dt.timedelta(seconds=3),
                    version=t.lab_bulletin.c.version + 1,
                )
            )
            other = conn.execute(
                sa.select(t.lab_bulletin.c.patient_id).where(t.lab_bulletin.c.id == late)
            ).scalar_one()
        hospital.with_contacts(other, "late@patients.test", None)
        if other == owner:
            hospital.with_contacts(owner, "late@patients.test", None)
        wait_for(lambda: len(inbox.messages) == 2, what="the late one")
        time.sleep(1.5)  # re-read by several polls: recorded once
    assert [m["To"] for m in inbox.messages][1] == "late@patients.test"
    assert len(inbox.messages) == 2
    assert len(store.deliveries()) == 2
