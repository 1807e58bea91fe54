"""The Subscription API of apps: making one (checked, with a clear OperationOutcome), reading
it, finding one's own only, deleting it, ``$status``, the topics (Basic, and in the
CapabilityStatement), and the scopes a topic needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifications import events as ev
from notifications.subscriptions import HEARTBEAT_PERIOD
from notifications.topics import TOPICS
from tests.conftest import BASE

from .subscribers import app_token, gateway, get, subscribe, subscription, topic_url

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def app(sqlite_his: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    # only the loopback network besides public addresses (not private ones)
    made = gateway(
        sqlite_his,
        tmp_path,
        subscription_allow_private=False,
        subscription_allowed_networks="127.0.0.0/8",
    )
    yield made
    made.extensions["state_engine"].dispose()


def test_a_subscription_is_made_read_found_and_deleted_by_its_app_only(app) -> None:  # type: ignore[no-untyped-def]
    mine = app_token(app, ((3, "self"),))
    other = app_token(app, ((3, "self"),))  # another app of another account of the same patient
    made = subscribe(app, mine["token"], subscription(ev.LAB_VALIDATED, HOOK, heartbeat=120))
    assert made.status_code == 201, made.get_data(as_text=True)
    resource = made.get_json()
    sid = resource["id"]
    assert made.headers["Location"] == f"{BASE}/Subscription/{sid}"
    assert resource["status"] == "requested"
    assert resource["criteria"] == topic_url(ev.LAB_VALIDATED)
    assert resource["channel"]["type"] == "rest-hook"
    assert resource["channel"]["endpoint"] == HOOK
    assert {"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 120} in resource["channel"]["extension"]
    read = get(app, mine["token"], f"/fhir/Subscription/{sid}")
    assert read.status_code == 200
    assert read.get_json() == resource
    found = get(app, mine["token"], "/fhir/Subscription").get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == [sid]
    # to anyone else it is missing, exactly like one that never existed
    for path in (f"/fhir/Subscription/{sid}", f"/fhir/Subscription/{sid}/$status"):
        theirs = get(app, other["token"], path)
        absent = get(app, other["token"], path.replace(sid, "f" * 32))
        assert theirs.status_code == absent.status_code == 404
        assert theirs.get_data() == absent.get_data().replace(b"f" * 32, sid.encode())
    assert get(app, other["token"], "/fhir/Subscription").get_json()["total"] == 0
    status = get(app, mine["token"], f"/fhir/Subscription/{sid}/$status").get_json()
    assert status["type"] == "searchset"
    parameters = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
    assert parameters["type"]["valueCode"] == "query-status"
    assert parameters["status"]["valueCode"] == "requested"
    assert parameters["events-since-subscription-start"]["valueString"] == "0"
    assert parameters["topic"]["valueCanonical"] == topic_url(ev.LAB_VALIDATED)
    gone = app.test_client().delete(
        f"/fhir/Subscription/{sid}", headers={"Authorization": f"Bearer {other['token']}"}
    )
    assert gone.status_code == 404
    gone = app.test_client().delete(
        f"/fhir/Subscription/{sid}", headers={"Authorization": f"Bearer {mine['token']}"}
    )
    assert gone.status_code == 204
    assert get(app, mine["token"], f"/fhir/Subscription/{sid}").status_code == 404


@pytest.mark.parametrize(
    ("change", "expression", "words"),
    [
        (lambda b: b.update(criteria=f"{BASE}/Basic/topic-nothing"), "criteria", "topic"),
        (lambda b: b["channel"].update(type="websocket"), "channel.type", "rest-hook"),
        (lambda b: b["channel"].update(endpoint="ftp://x.example/"), "endpoint", "https"),
        (lambda b: b["channel"].update(endpoint="http://10.1.2.3/hook"), "endpoint", "private"),
        (
            lambda b: b["channel"]["_payload"]["extension"][0].update(valueCode="everything"),
            "channel.payload",
            "id-only",
        ),
        (lambda b: b["channel"].update(payload="application/xml"), "channel.payload", "json"),
        (lambda b: b["channel"].update(header=["Host: evil"]), "header", "Host"),
    ],
)
def test_a_subscription_the_server_cannot_serve_is_refused_with_what_is_wrong(  # type: ignore[no-untyped-def]
    app, change, expression: str, words: str
) -> None:
    mine = app_token(app, ((3, "self"),))
    body = subscription(ev.LAB_VALIDATED, HOOK)
    change(body)
    answer = subscribe(app, mine["token"], body)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert expression in issue["expression"][0]
    assert words in issue["diagnostics"]
    assert get(app, mine["token"], "/fhir/Subscription").get_json()["total"] == 0


def test_an_app_subscribes_only_to_what_its_scopes_read(app) -> None:  # type: ignore[no-untyped-def]
    booking = app_token(app, ((3, "self"),), scope="launch/patient openid patient/Appointment.rs")
    refused = subscribe(app, booking["token"], subscription(ev.LAB_VALIDATED, HOOK))
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert refused.get_json()["resourceType"] == "OperationOutcome"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    allowed = subscribe(app, booking["token"], subscription(ev.APPOINTMENT_BOOKED, HOOK))
    assert allowed.status_code == 201, allowed.get_data(as_text=True)
    # a patient filter must be a patient of the grant
    own = subscribe(app, booking["token"], subscription(ev.APPOINTMENT_DUE, HOOK, patient=3))
    assert own.status_code == 201, own.get_data(as_text=True)
    other = subscribe(app, booking["token"], subscription(ev.APPOINTMENT_DUE, HOOK, patient=4))
    assert other.status_code == 403


def test_the_topics_are_listed_and_readable(app) -> None:  # type: ignore[no-untyped-def]
    statement = app.test_client().get("/fhir/metadata").get_json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    listed = [
        e["valueCanonical"]
        for e in resources["Subscription"]["extension"]
        if e["url"].endswith("capabilitystatement-subscriptiontopic-canonical")
    ]
    assert listed == [topic_url(t.kind) for t in TOPICS]
    assert {t.kind for t in TOPICS} == set(ev.KINDS)
    for url in listed:
        basic = app.test_client().get(url.removeprefix(BASE.removesuffix("/fhir")))
        assert basic.status_code == 200
        topic = basic.get_json()
        assert topic["resourceType"] == "Basic"
        assert {"url": "http://hl7.org/fhir/StructureDefinition/artifact-url", "valueUri": url} in (
            topic["extension"]
        )
    assert app.test_client().get("/fhir/Basic/topic-nothing").status_code == 404


def test_credentials_that_are_not_an_apps_authorization_do_not_subscribe(app) -> None:  # type: ignore[no-untyped-def]
    answer = app.test_client().post("/fhir/Subscription", json=subscription(ev.LAB_VALIDATED, HOOK))
    assert answer.status_code == 401
