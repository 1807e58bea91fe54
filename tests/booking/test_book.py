"""Appointment/$book (IHE ITI-117): booking a free slot, the loser's 409, cancelling and moving
within the window, FHIR's status transitions, one notification event per change (what the
HIS change feed finds too, under the same key), and the join link of a
video appointment checked against Jitsi's documented token claims.

The app runs with development open access (the access contract in tests/access holds who may
book); the HIS is this module's own, with slots in the real future (``add_slots``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import OctKey

from fhir_gateway.his import schema as t
from gateway.app import create_app
from mappers.appointment import VIRTUAL_SERVICE
from notifications.events import from_change
from smart_auth.notifications.tables import job_message
from tests.booking.his import (
    add_slots,
    appointments_of_slot,
    book_body,
    patients,
    slot_facts,
    utcnow,
)
from tests.conftest import app_config

SECRET = "jitsi-shared-secret-of-the-test-deployment"
JITSI = "https://meet.hospital.test"


@pytest.fixture(scope="module")
def app(booking_his: str) -> Flask:
    return create_app(
        app_config(
            booking_his,
            video_jitsi_url=JITSI,
            video_jitsi_secret=SECRET,
            video_jitsi_app_id="hospital-portal",
            video_jitsi_audience="jitsi",
            video_join_before_min=10,
            booking_change_window_h=24,
        )
    )


@pytest.fixture
def http(app: Flask) -> FlaskClient:
    return app.test_client()


def book(http: FlaskClient, slot: int, patient: int | None, **extra: Any) -> Any:
    return http.post("/fhir/Appointment/$book", json=book_body(slot, patient, **extra))


def booked(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.get_data(as_text=True)[:400]
    bundle = answer.get_json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["total"] == 1
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    assert bundle["entry"][0]["fullUrl"].endswith(f"/Appointment/{resource['id']}")
    return resource


def change(http: FlaskClient, appointment: dict[str, Any], **fields: Any) -> Any:
    return http.post("/fhir/Appointment/$book", json={**appointment, **fields})


def queued_events(app: Flask) -> list[dict[str, Any]]:
    """The events the booking put on the job queue for a worker to record, in order."""
    with app.extensions["state_engine"].connect() as conn:
        bodies = conn.execute(sa.select(job_message.c.body).order_by(job_message.c.id)).scalars()
        messages = [json.loads(b) for b in bodies]
    return [m["args"][0] for m in messages if m["actor_name"] == "record_event"]


def events(app: Flask, appointment_id: str) -> list[tuple[str, int]]:
    """The events queued for the appointment, in order; and the HIS change feed's view of it
    is the last of them (the feed would record nothing more)."""
    mine = [e for e in queued_events(app) if e["resource_id"] == appointment_id]
    assert all(e["resource_type"] == "Appointment" for e in mine)
    feed = [
        from_change(c)
        for c in app.extensions["his"].changes("appointment", None, 100_000)
        if c.id == int(appointment_id)
    ]
    assert [f.key for f in feed if f is not None] == [mine[-1]["key"]]
    return [(e["kind"], e["patient_id"]) for e in mine]


def outcome(answer: Any, status: int, code: str) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)[:400]
    body = answer.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    return str(body["issue"][0]["diagnostics"])


def test_booking_takes_the_slot_in_the_his_and_records_the_event(
    app: Flask, http: FlaskClient, booking_his: str
) -> None:
    slot = add_slots(booking_his, 1)[0]
    patient = patients(booking_his, 1)[0]
    appointment = booked(book(http, slot, patient, comment="first visit"))
    facts = slot_facts(booking_his, slot)
    assert appointment["status"] == "booked"
    assert appointment["slot"] == [{"reference": f"Slot/{slot}"}]
    assert {"reference": f"Patient/{patient}"} in [p["actor"] for p in appointment["participant"]]
    assert {"reference": f"Practitioner/{facts.doctor_id}"} in [
        p["actor"] for p in appointment["participant"]
    ]
    assert appointment["start"] == facts.start_at.isoformat() + "Z"
    assert appointment["comment"] == "first visit"
    # the hospital's own system sees it at once: the slot busy, one appointment holding it
    assert facts.status == "busy"
    [row] = appointments_of_slot(booking_his, slot)
    assert (row.patient_id, row.status, row.held_slot_id) == (patient, "booked", slot)
    assert events(app, appointment["id"]) == [("appointment-booked", patient)]
    # and the Slot as FHIR serves it
    assert http.get(f"/fhir/Slot/{slot}").get_json()["status"] == "busy"
    read = http.get(f"/fhir/Appointment/{appointment['id']}").get_json()
    assert read["status"] == "booked"


def test_a_taken_blocked_past_or_unknown_slot_is_refused(
    http: FlaskClient, booking_his: str
) -> None:
    first, second = patients(booking_his, 2)
    slot = add_slots(booking_his, 1)[0]
    booked(book(http, slot, first))
    assert "no longer free" in outcome(book(http, slot, second), 409, "conflict")
    assert len(appointments_of_slot(booking_his, slot)) == 1
    blocked = add_slots(booking_his, 1, status="blocked")[0]
    outcome(book(http, blocked, second), 409, "conflict")
    past = add_slots(booking_his, 1, first=utcnow() - dt.timedelta(hours=2))[0]
    outcome(book(http, past, second), 409, "conflict")
    outcome(book(http, 987654321, second), 404, "not-found")
    assert appointments_of_slot(booking_his, blocked) == []
    assert appointments_of_slot(booking_his, past) == []


def test_a_malformed_request_is_400_and_changes_nothing(
    http: FlaskClient, booking_his: str
) -> None:
    slot = add_slots(booking_his, 1)[0]
    patient = patients(booking_his, 1)[0]
    no_slot = book_body(slot, patient)
    no_slot["parameter"][0]["resource"].pop("slot")
    for body in (
        no_slot,
        {"resourceType": "Parameters", "parameter": []},
        {"resourceType": "Patient"},
        book_body(slot, None),  # development access acts for no one patient: name one
    ):
        answer = http.post("/fhir/Appointment/$book", json=body)
        outcome(answer, 400, "invalid")
    outcome(book(http, slot, 987654321), 404, "not-found")
    # text the HIS must never receive (PostgreSQL refuses NUL) is refused before it
    outcome(book(http, slot, patient, comment="a\x00b"), 400, "invalid")
    outcome(change(http, {"resourceType": "Appointment", "id": "1\n2"}), 400, "invalid")
    answer = http.post("/fhir/Appointment/$book", data="x", content_type="text/plain")
    assert answer.status_code == 415
    assert slot_facts(booking_his, slot).status == "free"


def test_cancelling_frees_the_slot_for_someone_else(
    app: Flask, http: FlaskClient, booking_his: str
) -> None:
    first, second = patients(booking_his, 2)
    slot = add_slots(booking_his, 1, first=utcnow() + dt.timedelta(days=3))[0]
    appointment = booked(book(http, slot, first))
    cancelled = booked(change(http, appointment, status="cancelled"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["id"] == appointment["id"]
    assert slot_facts(booking_his, slot).status == "free"
    again = booked(book(http, slot, second))
    assert again["id"] != appointment["id"]
    assert events(app, appointment["id"]) == [
        ("appointment-booked", first),
        ("appointment-cancelled", first),
    ]
    # FHIR's transitions: a cancelled appointment is not cancelled again, nor revived
    outcome(change(http, cancelled, status="cancelled"), 422, "business-rule")
    other = add_slots(booking_his, 1, first=utcnow() + dt.timedelta(days=4))[0]
    outcome(
        change(http, cancelled, status="booked", slot=[{"reference": f"Slot/{other}"}]),
        422,
        "business-rule",
    )
    outcome(change(http, appointment, status="fulfilled"), 422, "business-rule")


def test_no_cancelling_or_moving_within_the_window(http: FlaskClient, booking_his: str) -> None:
    patient = patients(booking_his, 1)[0]
    soon = add_slots(booking_his, 2, first=utcnow() + dt.timedelta(hours=5))
    appointment = booked(book(http, soon[0], patient))
    message = outcome(change(http, appointment, status="cancelled"), 422, "business-rule")
    assert "24 hours" in message
    moved = change(http, appointment, slot=[{"reference": f"Slot/{soon[1]}"}])
    outcome(moved, 422, "business-rule")
    assert slot_facts(booking_his, soon[0]).status == "busy"
    assert slot_facts(booking_his, soon[1]).status == "free"


def test_moving_takes_the_new_slot_and_frees_the_old(
    app: Flask, http: FlaskClient, booking_his: str
) -> None:
    first, second = patients(booking_his, 2)
    old, new, taken = add_slots(booking_his, 3, first=utcnow() + dt.timedelta(days=5))
    appointment = booked(book(http, old, first))
    booked(book(http, taken, second))
    outcome(change(http, appointment, slot=[{"reference": f"Slot/{taken}"}]), 409, "conflict")
    moved = booked(change(http, appointment, slot=[{"reference": f"Slot/{new}"}]))
    assert moved["id"] == appointment["id"]
    assert moved["slot"] == [{"reference": f"Slot/{new}"}]
    assert moved["start"] == slot_facts(booking_his, new).start_at.isoformat() + "Z"
    assert slot_facts(booking_his, old).status == "free"
    assert slot_facts(booking_his, new).status == "busy"
    assert events(app, appointment["id"]) == [
        ("appointment-booked", first),
        ("appointment-changed", first),
    ]
    # only to a slot of the same service
    elsewhere = add_slots(booking_his, 1, service_skip=1, first=utcnow() + dt.timedelta(days=6))
    refused = change(http, moved, slot=[{"reference": f"Slot/{elsewhere[0]}"}])
    assert "same service" in outcome(refused, 422, "business-rule")
    assert slot_facts(booking_his, elsewhere[0]).status == "free"
    outcome(change(http, {**moved, "id": "987654321"}, status="cancelled"), 404, "not-found")


def _join_link(resource: dict[str, Any]) -> str:
    [ext] = [e for e in resource["extension"] if e["url"] == VIRTUAL_SERVICE]
    parts = {p["url"]: p for p in ext["extension"]}
    assert parts["channelType"]["valueCoding"]["code"] == "jitsi-meet"
    return str(parts["address"]["valueUrl"])


def test_a_video_appointment_carries_a_jitsi_link_with_its_claims(
    http: FlaskClient, booking_his: str
) -> None:
    first, second = patients(booking_his, 2)
    slots = add_slots(booking_his, 2, telemedicine=True, first=utcnow() + dt.timedelta(days=2))
    appointment = booked(book(http, slots[0], first))
    other = booked(book(http, slots[1], second))
    link = _join_link(appointment)
    assert link in appointment["patientInstruction"]
    parts = urlsplit(link)
    room = parts.path.rsplit("/", 1)[-1]
    assert f"{parts.scheme}://{parts.netloc}" == JITSI
    assert len(room) == 32
    assert int(room, 16) >= 0
    assert room != urlsplit(_join_link(other)).path.rsplit("/", 1)[-1]
    # the HIS keeps the room, without the token
    [row] = appointments_of_slot(booking_his, slots[0])
    assert row.video_url == f"{JITSI}/{room}"
    token = parse_qs(parts.query)["jwt"][0]
    decoded = jwt.decode(token, OctKey.import_key(SECRET.encode()), algorithms=["HS256"])
    assert decoded.header["alg"] == "HS256"
    claims = decoded.claims
    start = dt.datetime.fromisoformat(appointment["start"].rstrip("Z")).replace(tzinfo=dt.UTC)
    end = dt.datetime.fromisoformat(appointment["end"].rstrip("Z")).replace(tzinfo=dt.UTC)
    assert claims["aud"] == "jitsi"
    assert claims["iss"] == "hospital-portal"
    assert claims["sub"] == "meet.hospital.test"
    assert claims["room"] == room
    assert claims["nbf"] == int((start - dt.timedelta(minutes=10)).timestamp())
    assert claims["exp"] == int(end.timestamp())
    assert claims["context"]["user"]["id"] == f"Patient/{first}"
    # another key does not verify it
    with pytest.raises(BadSignatureError):
        jwt.decode(token, OctKey.import_key(b"x" * 43), algorithms=["HS256"])
    # a read of the appointment carries the same room, with the reader's token
    read = http.get(f"/fhir/Appointment/{appointment['id']}").get_json()
    assert urlsplit(_join_link(read)).path == parts.path
    searched = http.get(f"/fhir/Appointment?patient={first}&_count=100").get_json()
    mine = [e["resource"] for e in searched["entry"] if e["resource"]["id"] == appointment["id"]]
    assert urlsplit(_join_link(mine[0])).path == parts.path
    everything = http.get(f"/fhir/Patient/{first}/$everything?_type=Appointment&_count=100")
    mine = [
        e["resource"]
        for e in everything.get_json()["entry"]
        if e["resource"]["id"] == appointment["id"]
    ]
    assert "jwt=" in _join_link(mine[0])


def test_a_cancelled_video_appointment_offers_no_link(http: FlaskClient, booking_his: str) -> None:
    patient = patients(booking_his, 1)[0]
    slot = add_slots(booking_his, 1, telemedicine=True, first=utcnow() + dt.timedelta(days=9))
    appointment = booked(book(http, slot[0], patient))
    cancelled = booked(change(http, appointment, status="cancelled"))
    assert VIRTUAL_SERVICE not in [e["url"] for e in cancelled.get("extension", [])]
    assert "jwt=" not in cancelled.get("patientInstruction", "")


def test_the_his_constraint_refuses_a_second_holder(booking_his: str) -> None:
    """Whoever writes to the HIS: one slot is never held by two appointments."""
    slot = add_slots(booking_his, 1)[0]
    first, second = patients(booking_his, 2)
    facts = slot_facts(booking_his, slot)
    engine = sa.create_engine(booking_his)
    row = {
        "slot_id": slot,
        "held_slot_id": slot,
        "service_id": facts.service_id,
        "doctor_id": facts.doctor_id,
        "department_id": facts.department_id,
        "start_at": facts.start_at,
        "end_at": facts.end_at,
        "status": "booked",
        "booked_at": utcnow(),
        "updated_at": utcnow(),
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(t.appointment).values(patient_id=first, **row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(t.appointment).values(patient_id=second, **row))
    engine.dispose()


def test_a_booking_goes_on_the_job_queue_and_a_worker_sends_it_at_once(
    app: Flask, http: FlaskClient, booking_his: str
) -> None:
    """The booking's event is queued as it happens (no wait for the next poll of the feed): a
    worker records it and sends the confirmation within seconds, once."""
    import threading
    import time

    from notifications.worker import run

    slot = add_slots(booking_his, 1)[0]
    patient = patients(booking_his, 1)[0]
    engine = sa.create_engine(booking_his)
    with engine.begin() as conn:
        conn.execute(
            sa.update(t.patient).where(t.patient.c.id == patient).values(email="booked@pt.test")
        )
    engine.dispose()
    appointment = booked(book(http, slot, patient))
    key = f"appointment:{appointment['id']}:booked"
    assert [e["key"] for e in queued_events(app)].count(key) == 1
    store = app.extensions["notification_store"]
    settings = app.config["SETTINGS"]
    stop = threading.Event()
    worker = threading.Thread(
        target=run, args=(settings,), kwargs={"his": app.extensions["his"], "stop": stop}
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20  # far less than a poll period of the feed
        while not [d for d in store.deliveries() if d["key"] == key and d["state"] == "sent"]:
            assert time.monotonic() < deadline, "the queued event was not sent"
            time.sleep(0.1)
        time.sleep(1)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert [(d["channel"], d["state"]) for d in store.deliveries() if d["key"] == key] == [
        ("email", "sent")
    ]
    mails = sorted((Path(settings.outbox_dir) / "mail").glob("*.eml"))
    assert [m for m in mails if "booked@pt.test" in m.read_text()] != []
