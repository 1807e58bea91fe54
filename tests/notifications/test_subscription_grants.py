"""What a subscriber is sent is what its grant covers when the notification goes: an event
whose patient left the grant after it was matched (a guardianship ended) is withheld, with
neither content nor id nor an event number; a revoked authorization turns the subscription
off. The jobs run here one at a time (``Runtime``, ``SubscriptionRuntime``) over the real
HIS, state database, authorization server and endpoint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import RSAKey

from fhir_gateway.his import schema as t
from fhir_gateway.his.sql import SqlConnector
from notifications import events as ev
from notifications.worker import Notifications, build
from smart_auth.accounts.tables import identity
from smart_auth.audit.tables import audit_event
from smart_auth.sharing.service import grant_share, withdraw_share
from tests.access.conftest import _partner
from tests.conftest import BASE

from .conftest import Hospital, settings_for
from .subscribers import (
    ALLOW_LOCAL,
    Endpoint,
    app_token,
    endpoint,  # noqa: F401 (a fixture)
    gateway,
    get,
    subscribe,
    subscription,
)


def _two_patients(hospital: Hospital) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two unvalidated bulletins of two patients: ((bulletin, patient), (bulletin, patient))."""
    lb = t.lab_bulletin
    with hospital.engine.connect() as conn:
        rows = conn.execute(
            sa.select(lb.c.id, lb.c.patient_id).where(lb.c.status != "validated").order_by(lb.c.id)
        ).all()
    first = rows[0]
    second = next(r for r in rows if r.patient_id != first.patient_id)
    return (int(first.id), int(first.patient_id)), (int(second.id), int(second.patient_id))


def _jobs(his_copy: str, connector: SqlConnector, tmp_path: Path, **extra: Any) -> Notifications:
    settings = settings_for(his_copy, tmp_path, public_base_url=BASE, **{**ALLOW_LOCAL, **extra})
    built = build(settings, his=connector)
    built.runtime.poll_his()  # the feed starts at the present
    return built


def _active(built: Notifications, app: Any, token: str, body: dict[str, Any]) -> str:
    made = subscribe(app, token, body)
    assert made.status_code == 201, made.get_data(as_text=True)
    sid = str(made.get_json()["id"])
    assert built.subscriptions.handshake(sid) == "active"
    return sid


def test_an_event_outside_the_grant_at_delivery_is_never_sent(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    endpoint: Endpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    (own_bulletin, own), (ward_bulletin, ward) = _two_patients(hospital)
    app = gateway(his_copy, tmp_path)
    guardian = app_token(app, ((own, "self"), (ward, "guardian")))
    built = _jobs(his_copy, connector, tmp_path)
    full = _active(
        built,
        app,
        guardian["token"],
        subscription(ev.LAB_VALIDATED, f"{endpoint.url}/full", payload="full-resource"),
    )
    empty = _active(
        built,
        app,
        guardian["token"],
        subscription(ev.LAB_VALIDATED, f"{endpoint.url}/empty", payload="empty"),
    )
    hospital.validate_bulletin(ward_bulletin)
    built.runtime.poll_his()
    matched = built.subscriptions.store.deliveries(full)
    assert [(d["patient_id"], d["state"]) for d in matched] == [(ward, "pending")]
    # the guardianship ends before the notification goes
    with app.extensions["state_engine"].begin() as conn:
        conn.execute(
            sa.delete(identity).where(
                identity.c.account_id == guardian["account_id"],
                identity.c.his_patient_id == ward,
            )
        )
    for sub in (full, empty):
        (delivery,) = built.subscriptions.store.deliveries(sub)
        assert built.subscriptions.deliver(delivery["id"]) == "withheld"
    assert endpoint.at("/full", "event-notification") == []
    assert endpoint.at("/empty", "event-notification") == []
    withheld = built.subscriptions.store.deliveries(full)
    assert [(d["state"], d["event_number"]) for d in withheld] == [("withheld", None)]
    # the patient's own result still goes, numbered 1: the withheld one took no number
    hospital.validate_bulletin(own_bulletin)
    built.runtime.poll_his()
    for sub in (full, empty):
        pending = [d for d in built.subscriptions.store.deliveries(sub) if d["state"] == "pending"]
        assert [d["patient_id"] for d in pending] == [own]
        assert built.subscriptions.deliver(pending[0]["id"]) == "sent"
    (sent,) = endpoint.at("/full", "event-notification")
    parts = {p["name"]: p for p in sent.status["notification-event"]["part"]}
    assert parts["event-number"]["valueString"] == "1"
    assert sent.body["entry"][1]["resource"]["id"] == f"lab-{own_bulletin}"
    assert f"Patient/{ward}" not in str(sent.body)
    (bare,) = endpoint.at("/empty", "event-notification")
    assert len(bare.body["entry"]) == 1  # the status only
    assert "focus" not in str(bare.body)
    assert f"lab-{own_bulletin}" not in str(bare.body)
    # the ward's next result is not even matched any more
    with hospital.engine.connect() as conn:
        later = conn.execute(
            sa.select(t.lab_bulletin.c.id).where(
                t.lab_bulletin.c.patient_id == ward,
                t.lab_bulletin.c.status != "validated",
                t.lab_bulletin.c.id != ward_bulletin,
            )
        ).scalar()
    if later is not None:
        hospital.validate_bulletin(int(later))
        built.runtime.poll_his()
        assert len(built.subscriptions.store.deliveries(full)) == 2
    with app.extensions["state_engine"].connect() as conn:
        outcomes = conn.execute(
            sa.select(audit_event.c.outcome).where(audit_event.c.action == "notify")
        ).scalars()
        assert sorted(outcomes) == ["allowed", "allowed", "denied", "denied"]


def test_a_revoked_authorization_turns_the_subscription_off(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    endpoint: Endpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    (bulletin, patient), (other_bulletin, _other) = _two_patients(hospital)
    app = gateway(his_copy, tmp_path)
    holder = app_token(app, ((patient, "self"),))
    built = _jobs(his_copy, connector, tmp_path)
    sid = _active(built, app, holder["token"], subscription(ev.LAB_VALIDATED, f"{endpoint.url}/a"))
    other = _active(
        built, app, holder["token"], subscription(ev.LAB_VALIDATED, f"{endpoint.url}/b")
    )
    hospital.validate_bulletin(bulletin)
    built.runtime.poll_his()
    (delivery,) = built.subscriptions.store.deliveries(sid)
    # the patient withdraws the app's authorization (their list of authorised apps)
    assert app.extensions["smart_oauth"].store.revoke_app(holder["account_id"], holder["client_id"])
    assert built.subscriptions.deliver(delivery["id"]) == "withheld"
    assert endpoint.at("/a", "event-notification") == []
    engine = app.extensions["state_engine"]
    from notifications.subscriptions import SubscriptionStore

    store = SubscriptionStore(engine)
    assert store.get(sid).status == "off"
    # the periodic look turns the other off too; nothing is matched for either any more
    built.subscriptions.tick()
    assert store.get(other).status == "off"
    assert store.get(other).error == "The authorization behind it ended"
    hospital.validate_bulletin(other_bulletin)
    built.runtime.poll_his()
    assert len(store.deliveries()) == 2
    assert endpoint.at("/b", "event-notification") == []
    # and the app, its token revoked, reads none of it
    assert get(app, holder["token"], f"/fhir/Subscription/{sid}").status_code == 401


def test_handshake_failure_redirects_and_heartbeats(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    endpoint: Endpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A handshake the endpoint refuses leaves the subscription in error; a redirect is never
    followed; an active subscription with a heartbeat period is sent heartbeats."""
    (bulletin, patient), _ = _two_patients(hospital)
    app = gateway(his_copy, tmp_path)
    holder = app_token(app, ((patient, "self"),))
    built = _jobs(his_copy, connector, tmp_path, notify_max_attempts=1)
    endpoint.fail.add("/refusing")
    refused = subscribe(
        app, holder["token"], subscription(ev.LAB_VALIDATED, f"{endpoint.url}/refusing")
    ).get_json()["id"]
    assert built.subscriptions.handshake(refused) == "error"
    read = get(app, holder["token"], f"/fhir/Subscription/{refused}").get_json()
    assert read["status"] == "error"
    assert read["error"] == "Handshake failed: HTTP 500"
    # a redirect: the notification fails, the place it points to is never asked
    moving = _active(
        built, app, holder["token"], subscription(ev.LAB_VALIDATED, f"{endpoint.url}/moving")
    )
    endpoint.redirect.add("/moving")
    hospital.validate_bulletin(bulletin)
    built.runtime.poll_his()
    (delivery,) = built.subscriptions.store.deliveries(moving)
    assert built.subscriptions.deliver(delivery["id"]) == "undeliverable"
    assert endpoint.at("/redirected") == []
    assert get(app, holder["token"], f"/fhir/Subscription/{moving}").get_json()["status"] == "error"
    # heartbeats: due once the period passed, sent by the one worker that takes it
    beating = _active(
        built,
        app,
        holder["token"],
        subscription(ev.LAB_VALIDATED, f"{endpoint.url}/beating", heartbeat=1),
    )
    due_now: list[tuple[str, str]] = []
    built.subscriptions.enqueue_heartbeat = lambda sid, due: due_now.append((sid, due))
    built.subscriptions.tick()
    assert due_now == []  # not yet
    time.sleep(1.1)
    built.subscriptions.tick()
    assert [sid for sid, _ in due_now] == [beating]
    assert built.subscriptions.heartbeat(*due_now[0]) == "sent"
    assert built.subscriptions.heartbeat(*due_now[0]) == "skipped"  # taken once
    (beat,) = endpoint.at("/beating", "heartbeat")
    assert beat.status["events-since-subscription-start"]["valueString"] == "0"
    assert beat.status["status"]["valueCode"] == "active"
    assert endpoint.at("/refusing", "heartbeat") == []


def test_a_partner_is_sent_only_what_consents_in_force_share(
    his_copy: str,
    connector: SqlConnector,
    hospital: Hospital,
    endpoint: Endpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A partner clinic's backend service subscribes under the patients' Consents; a Consent
    withdrawn after the event was matched withholds it, the other patient's still goes."""
    (first_bulletin, first), (second_bulletin, second) = _two_patients(hospital)
    app = gateway(his_copy, tmp_path)
    engine = app.extensions["state_engine"]
    partner_id, token = _partner(app, RSAKey.generate_key(2048, {"kid": "subscriber"}))
    shared = grant_share(engine, first, partner_id)
    grant_share(engine, second, partner_id)
    built = _jobs(his_copy, connector, tmp_path)
    sid = _active(
        built,
        app,
        token,
        subscription(ev.LAB_VALIDATED, f"{endpoint.url}/partner", payload="full-resource"),
    )
    hospital.validate_bulletin(first_bulletin)
    hospital.validate_bulletin(second_bulletin)
    built.runtime.poll_his()
    matched = {d["patient_id"]: d["id"] for d in built.subscriptions.store.deliveries(sid)}
    assert set(matched) == {first, second}
    # the first patient withdraws their Consent before the notification goes
    assert withdraw_share(engine, int(shared["id"]), frozenset({first})) is not None
    assert built.subscriptions.deliver(matched[first]) == "withheld"
    assert built.subscriptions.deliver(matched[second]) == "sent"
    (got,) = endpoint.at("/partner", "event-notification")
    assert got.body["entry"][1]["resource"]["id"] == f"lab-{second_bulletin}"
    assert f"Patient/{first}" not in str(got.body)
