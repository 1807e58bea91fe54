"""Shares with a person outside (F21), end to end over a real SMTP server.

A patient's token (a real SMART launch) creates the share as a FHIR Consent; the recipient's
two mails arrive at the aiosmtpd server the account tests use; the link and the PIN open the
recipient's page, which lists exactly what was shared and serves its PDF; the patient lists
the share with its state and last use, sees the recipient's accesses in their AuditEvent
history, and revokes it. Wrong PINs lock the share (exactly the limit judged when they arrive
together, on SQLite and PostgreSQL) and the patient is told; a share past its time limit or
revoked opens nothing; the share token reaches nothing else of the patient.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from fhir_gateway.his import schema as t
from smart_auth.sharing.tables import outside_share
from tests.access.conftest import PATIENT_SCOPE, _launch
from tests.conftest import scratch_postgres
from tests.smart_auth.accounts.conftest import Inbox, smtp
from tests.smart_auth.race import state_app, together
from tests.smart_auth.test_oauth_fixtures import add_account

__all__ = ["smtp"]

LIMIT = 5
EXT = "https://his.hospital.example/fhir/StructureDefinition"
RECIPIENT = "doctor.outside@example.net"
IRCP = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}
    ]
}


@pytest.fixture(scope="module")
def people(sqlite_his: str) -> dict[str, Any]:
    """Patient A (two coded lab reports with a PDF each, an Observation, nobody's guardian or
    ward), and another patient B with a report."""
    engine = sa.create_engine(sqlite_his)
    lb = t.lab_bulletin
    with engine.connect() as conn:
        linked = {
            int(x)
            for pair in conn.execute(sa.text("SELECT guardian_id, ward_id FROM guardian_link"))
            for x in pair
        }
        rows = conn.execute(
            sa.select(lb.c.id, lb.c.patient_id, lb.c.document_id)
            .where(lb.c.document_id.is_not(None))
            .order_by(lb.c.patient_id, lb.c.id)
        ).all()
        by_patient: dict[int, list[Any]] = {}
        for row in rows:
            if row.patient_id not in linked:
                by_patient.setdefault(int(row.patient_id), []).append(row)
        a, b = [p for p, found in by_patient.items() if len(found) >= 2][:2]
        names = conn.execute(
            sa.select(t.patient.c.family, t.patient.c.national_id).where(t.patient.c.id == a)
        ).one()
    engine.dispose()
    first, second = by_patient[a][:2]
    return {
        "a": a,
        "b": b,
        "report": f"lab-{first.id}",
        "binary": str(first.document_id),
        "other_report": f"lab-{second.id}",
        "other_binary": str(second.document_id),
        "b_report": f"lab-{by_patient[b][0].id}",
        "family": names.family,
        "national_id": names.national_id,
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with ExitStack() as stack:
        if request.param == "postgresql":
            yield stack.enter_context(scratch_postgres("outside_shares"))
        else:
            yield f"sqlite:///{tmp_path / 'state.sqlite'}"


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    smtp[0].messages.clear()
    return smtp[0]


@pytest.fixture
def app(sqlite_his: str, state_url: str, smtp: tuple[Inbox, int]) -> Iterator[Flask]:
    app = state_app(
        sqlite_his,
        state_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        shares_max_attempts=LIMIT,
    )
    yield app
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


@pytest.fixture
def owner(app: Flask, people: dict[str, Any]) -> dict[str, Any]:
    """A's account and a patient token of A's from a real launch."""
    account = add_account(app, (people["a"], "self"))
    launched = _launch(app, account, PATIENT_SCOPE, people["a"])
    with app.extensions["state_engine"].connect() as conn:
        email = conn.execute(sa.text(f"SELECT email FROM account WHERE id = {account}")).scalar()
    return {"token": launched["access_token"], "email": email}


def consent(people: dict[str, Any], *refs: str, **extra: Any) -> dict[str, Any]:
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    provision: dict[str, Any] = {
        "period": {"end": end},
        "actor": [{"role": IRCP, "reference": {"reference": "#recipient"}}],
    }
    if refs:
        provision["data"] = [{"meaning": "instance", "reference": {"reference": r}} for r in refs]
    body = {
        "resourceType": "Consent",
        "status": "active",
        "language": "pl",
        "patient": {"reference": f"Patient/{people['a']}"},
        "contained": [
            {
                "resourceType": "RelatedPerson",
                "id": "recipient",
                "patient": {"reference": f"Patient/{people['a']}"},
                "telecom": [{"system": "email", "value": RECIPIENT}],
            }
        ],
        "extension": [
            {"url": f"{EXT}/share-pin", "valueString": "482913"},
            {"url": f"{EXT}/share-comment", "valueString": "Proszę o opinię."},
        ],
        "provision": provision,
    }
    body.update(extra)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def share(app: Flask, owner: dict[str, Any], body: dict[str, Any]) -> tuple[str, str]:
    """Create a share; its Consent id and its link's path."""
    answer = app.test_client().post("/fhir/Consent", json=body, headers=bearer(owner["token"]))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    consent_id = answer.get_json()["id"]
    assert answer.headers["Location"] == f"Consent/{consent_id}"
    return consent_id, ""


def mails_to(inbox: Inbox, address: str) -> list[str]:
    with inbox.lock:
        found = [m for m in inbox.messages if m["To"] == address]
    bodies = []
    for message in found:
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        bodies.append(payload.decode())
    return bodies


def link_and_pin(inbox: Inbox) -> tuple[str, str]:
    bodies = mails_to(inbox, RECIPIENT)
    assert len(bodies) == 2, bodies
    link_mail = next(b for b in bodies if "/share/" in b)
    pin_mail = next(b for b in bodies if "/share/" not in b)
    link = re.search(r"https?://\S+", link_mail)
    pin = re.search(r"\b(\d{6})\b", pin_mail)
    assert link
    assert pin
    assert pin.group(1) not in link_mail  # the PIN travels on its own
    return urlsplit(link.group(0)).path, pin.group(1)


def unlocked(app: Flask, path: str, pin: str) -> tuple[Any, str]:
    """A client holding the share's cookie, and the share token in it."""
    client = app.test_client()
    answer = client.post(path, data={"pin": pin})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    cookie = client.get_cookie("share_token", path=path)
    assert cookie is not None
    assert cookie.http_only
    return client, cookie.value


# --- the flow ------------------------------------------------------------------------------------


def test_a_shared_report_reaches_the_recipient_by_link_and_pin(
    app: Flask, owner: dict[str, Any], people: dict[str, Any], inbox: Inbox
) -> None:
    consent_id, _ = share(app, owner, consent(people, f"DiagnosticReport/{people['report']}"))
    path, pin = link_and_pin(inbox)
    # the mails carry no health data: no name, no national ID, no comment, nothing shared
    for body in mails_to(inbox, RECIPIENT):
        for secret in (people["family"], people["national_id"], "opinię", people["report"]):
            assert secret not in body
    assert re.fullmatch(r"/share/[A-Za-z0-9_-]{20,64}", path)
    # the end of the share, as the patient's language (Polish) writes dates
    until = r"ważny do \d\d\.\d\d\.\d{4} \d\d:\d\d \(UTC\)"
    assert any(re.search(until, body) for body in mails_to(inbox, RECIPIENT))

    http = app.test_client()
    form = http.get(path)
    assert form.status_code == 200
    assert form.headers["Content-Language"] == "pl"  # the language the patient chose
    assert 'name="pin"' in form.get_data(as_text=True)
    assert form.headers["Referrer-Policy"] == "no-referrer"
    wrong = http.post(path, data={"pin": "000000" if pin != "000000" else "111111"})
    assert wrong.status_code == 400

    # the language switch of the account pages' frame works here too
    switched = http.get(f"/account/lang/ro?next={path}")
    assert switched.status_code in (302, 303)
    assert urlsplit(switched.headers["Location"]).path == path
    assert http.get(path).headers["Content-Language"] == "ro"

    client, token = unlocked(app, path, pin)
    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Proszę o opinię." in text  # the comment, shown after the PIN only
    # the report titled by its kind, in the page's language rather than the mapping's English
    assert "Wynik badań laboratoryjnych" in text
    assert "Laboratory report" not in text
    assert re.search(r"Dostępne do \d\d\.\d\d\.\d{4} \d\d:\d\d \(UTC\)", text)
    assert f"{path}/files/{people['binary']}" in text
    assert f'/files/{people["other_binary"]}"' not in text
    pdf = client.get(f"{path}/files/{people['binary']}")
    assert pdf.status_code == 200
    assert pdf.get_data().startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"].startswith("attachment")
    assert client.get(f"{path}/files/{people['other_binary']}").status_code == 404
    # the token alone, as an API client would use it: the report and nothing else
    api = app.test_client()
    assert (
        api.get(f"/fhir/DiagnosticReport/{people['report']}", headers=bearer(token)).status_code
        == 200
    )

    # the patient: the share listed with its state and last use, the recipient's accesses
    mine = app.test_client()
    listed = mine.get("/fhir/Consent", headers=bearer(owner["token"])).get_json()
    found = next(e["resource"] for e in listed["entry"] if e["resource"]["id"] == consent_id)
    extensions = {e["url"].rsplit("/", 1)[1]: e for e in found["extension"]}
    assert extensions["share-state"]["valueCode"] == "active"
    assert "share-last-used" in extensions
    assert "share-pin" not in extensions
    assert pin not in str(found)
    assert found["contained"][0]["telecom"][0]["value"] == RECIPIENT
    assert found["provision"]["data"][0]["reference"]["reference"].startswith("Binary/") or any(
        d["reference"]["reference"] == f"DiagnosticReport/{people['report']}"
        for d in found["provision"]["data"]
    )
    app.extensions["audit_writer"].flush()
    history = mine.get("/fhir/AuditEvent?_count=200", headers=bearer(owner["token"])).get_json()
    subject = f"share:{consent_id.removeprefix('share-')}"
    by_recipient = [
        e["resource"] for e in history.get("entry", []) if subject in str(e["resource"]["agent"])
    ]
    seen = {x["what"].get("reference") for e in by_recipient for x in e.get("entity", [])}
    assert f"DiagnosticReport/{people['report']}" in seen
    assert f"Binary/{people['binary']}" in seen

    # revoked: the link, the page and the token stop at once
    revoked = mine.put(
        f"/fhir/Consent/{consent_id}",
        json={"resourceType": "Consent", "status": "inactive"},
        headers=bearer(owner["token"]),
    )
    assert revoked.status_code == 200
    assert revoked.get_json()["status"] == "inactive"
    assert client.get(path).status_code == 404
    assert client.get(f"{path}/files/{people['binary']}").status_code == 404
    assert (
        api.get(f"/fhir/DiagnosticReport/{people['report']}", headers=bearer(token)).status_code
        == 401
    )
    again = mine.get(f"/fhir/Consent/{consent_id}", headers=bearer(owner["token"])).get_json()
    assert {e["url"].rsplit("/", 1)[1]: e for e in again["extension"]}["share-state"][
        "valueCode"
    ] == "revoked"


def test_the_share_token_reaches_nothing_else_of_the_patient(
    app: Flask, owner: dict[str, Any], people: dict[str, Any], inbox: Inbox
) -> None:
    share(app, owner, consent(people, f"DiagnosticReport/{people['report']}"))
    path, pin = link_and_pin(inbox)
    _client, token = unlocked(app, path, pin)
    http = app.test_client()
    a, b = people["a"], people["b"]

    def status(url: str, method: str = "GET", **kw: Any) -> int:
        return int(http.open(url, method=method, headers=bearer(token), **kw).status_code)

    assert status(f"/fhir/DiagnosticReport/{people['report']}") == 200
    assert status(f"/fhir/Binary/{people['binary']}") == 200
    # the patient's other report and its file, another patient's report: as if missing
    assert status(f"/fhir/DiagnosticReport/{people['other_report']}") == 404
    assert status(f"/fhir/Binary/{people['other_binary']}") == 404
    assert status(f"/fhir/DiagnosticReport/{people['b_report']}") == 404
    # a search finds the shared report alone
    found = http.get("/fhir/DiagnosticReport?_count=100", headers=bearer(token)).get_json()
    assert [
        e["resource"]["id"] for e in found.get("entry", []) if e["search"]["mode"] == "match"
    ] == [people["report"]]
    # other types, the person, their shares and access history, writes: refused
    for url in (
        f"/fhir/Patient/{a}",
        "/fhir/Observation",
        f"/fhir/Patient/{a}/$everything",
        "/fhir/DocumentReference",
        "/fhir/Consent",
        "/fhir/AuditEvent",
        f"/fhir/Patient/{b}",
    ):
        assert status(url) == 403, url
    assert status("/fhir/Consent", "POST", json=consent(people)) == 403
    # the account pages are not the recipient's
    assert http.get("/account/", headers=bearer(token)).status_code in (302, 303, 401, 403)


def test_wrong_pins_arriving_together_judge_exactly_the_limit_and_lock_the_share(
    app: Flask, owner: dict[str, Any], people: dict[str, Any], inbox: Inbox
) -> None:
    consent_id, _ = share(app, owner, consent(people, f"DiagnosticReport/{people['report']}"))
    path, pin = link_and_pin(inbox)
    wrong = f"{(int(pin) + 1) % 1_000_000:06d}"
    clients = [app.test_client() for _ in range(12)]
    answers = together(12, lambda i: clients[i].post(path, data={"pin": wrong}).status_code)
    # 400: judged wrong; 403: judged wrong and locked (the fifth) or refused once locked;
    # 429: refused while the limit was taken by attempts being judged
    assert set(answers) <= {400, 403, 429}, answers
    engine = app.extensions["state_engine"]
    share_id = int(consent_id.removeprefix("share-"))
    assert app.extensions["outside_shares"].failures(share_id) == LIMIT
    assert answers.count(400) == LIMIT - 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(outside_share).where(outside_share.c.id == share_id)).one()
    assert row.locked_at is not None
    # locked for good: the right PIN too
    assert app.test_client().post(path, data={"pin": pin}).status_code == 403
    assert app.test_client().get(path).status_code == 403
    # the patient is told, once
    told = mails_to(inbox, owner["email"])
    assert len(told) == 1
    assert consent_id in told[0]
    assert pin not in told[0]
    listed = (
        app.test_client()
        .get(f"/fhir/Consent/{consent_id}", headers=bearer(owner["token"]))
        .get_json()
    )
    assert listed["status"] == "inactive"
    assert {e["url"].rsplit("/", 1)[1]: e for e in listed["extension"]}["share-state"][
        "valueCode"
    ] == "locked"


def test_a_share_past_its_time_limit_opens_nothing(
    app: Flask, owner: dict[str, Any], people: dict[str, Any], inbox: Inbox
) -> None:
    consent_id, _ = share(app, owner, consent(people))  # the whole record
    path, pin = link_and_pin(inbox)
    client, token = unlocked(app, path, pin)
    http = app.test_client()
    # the whole record: the patient's reports, never their shares or history
    assert http.get(f"/fhir/Patient/{people['a']}", headers=bearer(token)).status_code == 200
    assert (
        http.get(
            f"/fhir/DiagnosticReport/{people['other_report']}", headers=bearer(token)
        ).status_code
        == 200
    )
    assert (
        http.get(f"/fhir/DiagnosticReport/{people['b_report']}", headers=bearer(token)).status_code
        == 404
    )
    assert http.get("/fhir/AuditEvent", headers=bearer(token)).status_code == 403
    page = client.get(path).get_data(as_text=True)
    assert f'/files/{people["binary"]}"' in page
    assert f'/files/{people["other_binary"]}"' in page
    share_id = int(consent_id.removeprefix("share-"))
    with app.extensions["state_engine"].begin() as conn:
        conn.execute(
            sa.update(outside_share)
            .where(outside_share.c.id == share_id)
            .values(
                period_end=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
            )
        )
    assert client.get(path).status_code == 404
    assert app.test_client().post(path, data={"pin": pin}).status_code == 404
    assert http.get(f"/fhir/Patient/{people['a']}", headers=bearer(token)).status_code == 401
    listed = http.get(f"/fhir/Consent/{consent_id}", headers=bearer(owner["token"])).get_json()
    assert {e["url"].rsplit("/", 1)[1]: e for e in listed["extension"]}["share-state"][
        "valueCode"
    ] == "expired"


def test_what_cannot_be_shared_is_refused_and_nothing_is_sent(
    app: Flask, owner: dict[str, Any], people: dict[str, Any], inbox: Inbox
) -> None:
    http = app.test_client()
    cases = [
        consent(people, f"DiagnosticReport/{people['b_report']}"),  # not A's
        consent(people, extension=[]),  # no PIN
        consent(people, extension=[{"url": f"{EXT}/share-pin", "valueString": "12ab56"}]),
        consent(
            people, provision={"actor": [{"role": IRCP, "reference": {"reference": "#recipient"}}]}
        ),
        consent(people, contained=[]),
    ]
    far = (dt.datetime.now(dt.UTC) + dt.timedelta(days=400)).strftime("%Y-%m-%d")
    long_one = consent(people)
    long_one["provision"]["period"] = {"end": far}
    cases.append(long_one)
    for body in cases:
        answer = http.post("/fhir/Consent", json=body, headers=bearer(owner["token"]))
        assert answer.status_code == 422, answer.get_data(as_text=True)
        assert answer.get_json()["resourceType"] == "OperationOutcome"
    assert mails_to(inbox, RECIPIENT) == []
    # another patient's share cannot be made with A's token
    other = consent(people, patient={"reference": f"Patient/{people['b']}"})
    assert http.post("/fhir/Consent", json=other, headers=bearer(owner["token"])).status_code == 403


def test_with_a_mobile_the_pin_goes_by_sms_and_the_mail_holds_only_the_link(
    app: Flask, owner: dict[str, Any], people: dict[str, Any], inbox: Inbox
) -> None:
    body = consent(people, f"DiagnosticReport/{people['report']}")
    body["contained"][0]["telecom"].append({"system": "sms", "value": "+48 600 100 200"})
    share(app, owner, body)
    mails = mails_to(inbox, RECIPIENT)
    assert len(mails) == 1
    assert "/share/" in mails[0]
    assert "482913" not in mails[0]
    outbox = Path(app.config["SETTINGS"].outbox_dir) / "sms"
    texts = [json.loads(f.read_text()) for f in outbox.glob("*.json")]
    assert [(t["to"], t["language"]) for t in texts] == [("+48600100200", "pl")]
    assert "482913" in texts[0]["text"]
    assert "/share/" not in texts[0]["text"]


def test_a_share_whose_mail_cannot_be_sent_is_not_left_in_force(
    sqlite_his: str, tmp_path: Path, people: dict[str, Any]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    app = state_app(
        sqlite_his,
        f"sqlite:///{tmp_path / 'state.sqlite'}",
        smtp_host="127.0.0.1",
        smtp_port=closed,
        smtp_timeout_s=2.0,
    )
    account = add_account(app, (people["a"], "self"))
    token = _launch(app, account, PATIENT_SCOPE, people["a"])["access_token"]
    http = app.test_client()
    answer = http.post(
        "/fhir/Consent",
        json=consent(people, f"DiagnosticReport/{people['report']}"),
        headers=bearer(token),
    )
    assert answer.status_code == 503
    assert answer.get_json()["resourceType"] == "OperationOutcome"
    assert "Retry-After" in answer.headers
    with app.extensions["state_engine"].connect() as conn:
        rows = conn.execute(sa.select(outside_share)).all()
    assert [r.active for r in rows] == [False]
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


def test_a_guardian_shares_a_report_of_the_person_in_their_care(
    app: Flask, sqlite_his: str, inbox: Inbox
) -> None:
    """The guardian's token with the ward in context shares the ward's report; the share opens
    that report and its PDF, and the guardian's own record is not part of it."""
    engine = sa.create_engine(sqlite_his)
    lb = t.lab_bulletin
    with engine.connect() as conn:
        guardian, ward, report, document = conn.execute(
            sa.select(
                sa.text("guardian_link.guardian_id"),
                sa.text("guardian_link.ward_id"),
                lb.c.id,
                lb.c.document_id,
            )
            .select_from(sa.text("guardian_link"))
            .join(lb, sa.text("lab_bulletin.patient_id = guardian_link.ward_id"))
            .where(lb.c.document_id.is_not(None))
            .order_by(lb.c.id)
            .limit(1)
        ).one()
    engine.dispose()
    account = add_account(app, (int(guardian), "self"), (int(ward), "guardian"))
    token = _launch(app, account, PATIENT_SCOPE, int(ward))["access_token"]
    people = {"a": int(ward)}
    body = consent(people, f"DiagnosticReport/lab-{report}")
    answer = app.test_client().post("/fhir/Consent", json=body, headers=bearer(token))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    # with the ward in context, the guardian's own record cannot be shared
    own = consent({"a": int(guardian)}, f"DiagnosticReport/lab-{report}")
    assert (
        app.test_client().post("/fhir/Consent", json=own, headers=bearer(token)).status_code == 403
    )
    path, pin = link_and_pin(inbox)
    client, share_token = unlocked(app, path, pin)
    assert client.get(f"{path}/files/{document}").get_data().startswith(b"%PDF")
    http = app.test_client()
    assert (
        http.get(f"/fhir/DiagnosticReport/lab-{report}", headers=bearer(share_token)).status_code
        == 200
    )
    assert http.get(f"/fhir/Patient/{guardian}", headers=bearer(share_token)).status_code == 403


@pytest.mark.parametrize("state_url", ["sqlite"], indirect=True)
def test_hostile_links_and_pins_are_never_a_server_error(
    app: Flask, owner: dict[str, Any], people: dict[str, Any], inbox: Inbox
) -> None:
    consent_id, _ = share(app, owner, consent(people, f"DiagnosticReport/{people['report']}"))
    path, pin = link_and_pin(inbox)
    http = app.test_client()
    for link in ("%00", "a" * 500, "..%2F..%2Fetc", "x" * 32, "\u0663" * 32):
        for method in ("GET", "POST"):
            answer = http.open(f"/share/{link}", method=method, data={"pin": pin})
            assert answer.status_code == 404, (link, answer.status_code)
        assert http.get(f"/share/{link}/files/1").status_code == 404
    for wrong in ("\x00" * 6, "\u0663" * 6, "1" * 5000, "12345\x7f"):
        answer = http.post(path, data={"pin": wrong})
        assert answer.status_code == 400, answer.status_code
        assert wrong not in answer.get_data(as_text=True)
    # the right PIN still opens it: fewer wrong ones than the limit (each one counted)
    assert app.extensions["outside_shares"].failures(int(consent_id.removeprefix("share-"))) == 4
    assert http.post(path, data={"pin": pin}).status_code == 303
