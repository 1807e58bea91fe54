"""Self-registration cannot be taken over (F1): the activation link goes only to the email
address the HIS holds for the patient, the password is chosen only once that link is opened,
and the answer is the same whether the person exists, already has an account or does not match.

Through the real pages (Flask test client, CSRF tokens and all) and the mail outbox
(``FHIR_GATEWAY_OUTBOX_DIR``), against the generated test HIS."""

from __future__ import annotations

import email
import email.policy
import html
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.ro import cnp

from fhir_gateway.his.schema import guardian_link, patient
from smart_auth.accounts import i18n
from smart_auth.accounts.tables import account, identity
from smart_auth.oauth.consent import identities
from tests.conftest import app_config

PASSWORD = "correct horse battery"
ATTACKER = "attacker@evil.example"


class Outbox:
    """The mails the gateway wrote to ``<outbox>/mail`` (``OutboxSender``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "mail"

    def messages(self) -> list[email.message.EmailMessage]:
        if not self.directory.is_dir():
            return []
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(self.directory.glob("*.eml"))
        ]

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages() if address.lower() in str(m["To"]).lower()]

    def link(self, address: str) -> str:
        found = self.to(address)
        assert found, f"no mail to {address}"
        match = re.search(r"https?://\S+", found[-1].get_content())
        assert match
        return match.group(0)


@pytest.fixture
def gateway(sqlite_his: str, tmp_path: Path) -> Any:
    """A gateway whose mail goes to the outbox (no SMTP server configured)."""
    from gateway.app import create_app

    config = app_config(
        sqlite_his,
        state_url=f"sqlite:///{tmp_path / 'state.sqlite'}",
        outbox_dir=str(tmp_path / "outbox"),
        public_base_url="http://gateway.test/fhir",
    )
    app = create_app(config)
    app.outbox = Outbox(tmp_path / "outbox")  # type: ignore[attr-defined]
    return app


@pytest.fixture(scope="module")
def people(sqlite_his: str) -> dict[str, Any]:
    """Adults of the test HIS (CNP, nobody's ward): some with an email on file, one without,
    and a well-formed CNP that belongs to nobody."""
    engine = sa.create_engine(sqlite_his)
    p = patient.c
    adult = sa.select(patient).where(
        p.national_id_kind == "CNP",
        p.id.not_in(sa.select(guardian_link.c.ward_id)),
        p.deceased_at.is_(None),
    )
    with engine.connect() as conn:
        with_mail = conn.execute(adult.where(p.email.is_not(None)).order_by(p.id)).all()
        without = conn.execute(adult.where(p.email.is_(None)).order_by(p.id)).first()
        taken = set(conn.execute(sa.select(p.national_id)).scalars())
    engine.dispose()
    assert len(with_mail) >= 4
    assert without is not None, "the test HIS has no adult without an email address"
    stem = with_mail[0].national_id[:12]
    unknown = next(
        c
        for c in (
            f"{int(stem) + n:012d}" + cnp.calc_check_digit(f"{int(stem) + n:012d}")
            for n in range(1, 500)
        )
        if cnp.is_valid(c) and c not in taken
    )
    return {"with_mail": with_mail, "without": without, "unknown": unknown}


def _csrf(client: Any, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found
    return found.group(1)


def _register(client: Any, full_name: str, national_id: str, **extra: str) -> Any:
    form = {"full_name": full_name, "national_id": national_id, **extra}
    form["csrf_token"] = _csrf(client, "/account/register")
    return client.post("/account/register", data=form)


def _activate(client: Any, link: str, password: str) -> Any:
    path = link.removeprefix("http://localhost")
    token = _csrf(client, "/account/register")  # one CSRF token per session
    return client.post(path, data={"password": password, "csrf_token": token})


def _name(person: Any) -> str:
    return f"{person.given} {person.family}"


def test_a_stranger_with_the_victims_id_and_name_gets_no_mail_and_no_access(
    gateway: Any, people: dict[str, Any]
) -> None:
    victim = people["with_mail"][0]
    attacker = gateway.test_client()
    # the old form's email field is ignored: nothing is ever sent to a typed address
    answer = _register(attacker, _name(victim), victim.national_id, email=ATTACKER)
    assert answer.status_code == 200
    outbox = gateway.outbox
    assert outbox.to(ATTACKER) == []
    assert [str(m["To"]) for m in outbox.messages()] == [victim.email]
    svc = gateway.extensions["accounts"]
    with svc.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(account)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(identity)).scalar() == 0
    assert svc.login(ATTACKER, PASSWORD, "6.6.6.6").status == "bad"
    assert attacker.get("/account/verify/anything").status_code == 404  # the old flow is gone
    # guessing at the activation page opens nothing
    assert attacker.get("/account/activate/" + "A" * 43).status_code == 400
    guessed = _activate(attacker, "http://localhost/account/activate/" + "A" * 43, PASSWORD)
    assert guessed.status_code == 400
    assert i18n.text("bad_link", "en") in html.unescape(guessed.get_data(as_text=True))
    # only the holder of the hospital's address can finish, and the account is theirs
    done = _activate(gateway.test_client(), outbox.link(victim.email), PASSWORD)
    assert done.status_code == 200
    row = svc.find(victim.email)
    assert row is not None
    assert row.email == victim.email
    assert svc.find(ATTACKER) is None


def test_every_case_answers_the_same_page_status_and_time(
    gateway: Any, people: dict[str, Any]
) -> None:
    matching, registered, mismatched = people["with_mail"][1:4]
    svc = gateway.extensions["accounts"]
    assert svc.policy.register_floor_s >= 0.5
    client = gateway.test_client()
    assert _register(client, _name(registered), registered.national_id).status_code == 200
    assert _activate(client, gateway.outbox.link(registered.email), PASSWORD).status_code == 200
    cases = {
        "new, with an email on file": (_name(matching), matching.national_id),
        "already has an account": (_name(registered), registered.national_id),
        "name does not match": ("Ion Popescu-Nimeni", mismatched.national_id),
        "no such national ID": (_name(matching), people["unknown"]),
        "no email on file": (_name(people["without"]), people["without"].national_id),
    }
    answers = {}
    for case, (name, national_id) in cases.items():
        fresh = gateway.test_client()
        started = time.monotonic()
        answer = _register(fresh, name, national_id)
        elapsed = time.monotonic() - started
        assert elapsed >= svc.policy.register_floor_s, case
        text = html.unescape(answer.get_data(as_text=True))
        answers[case] = (answer.status_code, answer.content_type, text)
    first = answers["new, with an email on file"]
    assert first[0] == 200
    desk = i18n.contact(svc.policy.support_contact, "en")
    assert i18n.text("register_sent", "en", contact=desk) in first[2]
    for case, answer in answers.items():
        assert answer == first, case
    # and only the first case sent anything (to the hospital's address)
    sent = [str(m["To"]) for m in gateway.outbox.messages()]
    assert sent == [registered.email, matching.email]


def test_malformed_national_id_is_a_form_error_that_reveals_nothing(gateway: Any) -> None:
    answer = _register(gateway.test_client(), "Ana Pop", "1234567890123")
    assert answer.status_code == 400
    assert i18n.text("bad_national_id", "en") in html.unescape(answer.get_data(as_text=True))
    assert gateway.outbox.messages() == []


def test_legitimate_registration_end_to_end_through_the_pages_and_the_outbox(
    gateway: Any, people: dict[str, Any]
) -> None:
    person = people["with_mail"][0]
    client = gateway.test_client()
    page = client.get("/account/register").get_data(as_text=True)
    assert 'name="email"' not in page  # nothing to type an address into
    assert _register(client, _name(person).upper(), person.national_id).status_code == 200
    (mail,) = gateway.outbox.to(person.email)
    assert mail["Subject"] == i18n.text("mail_activate_subject", "en")
    link = gateway.outbox.link(person.email)
    assert "/account/activate/" in link
    form = client.get(link.removeprefix("http://localhost"))
    assert form.status_code == 200
    assert form.headers["Referrer-Policy"] == "no-referrer"  # the token stays on this page
    weak = _activate(client, link, "short")
    assert weak.status_code == 400
    assert i18n.text("weak_password", "en") in html.unescape(weak.get_data(as_text=True))
    done = _activate(client, link, PASSWORD)
    assert done.status_code == 200
    assert i18n.text("activated", "en", username=person.email.lower()) in html.unescape(
        done.get_data(as_text=True)
    )
    assert _activate(client, link, "another passphrase").status_code == 400  # used
    # sign in with the hospital's address and the chosen password, accept the clause
    login = {"login": person.email, "password": PASSWORD, "next": "/account/"}
    login["csrf_token"] = _csrf(client, "/account/login")
    signed = client.post("/account/login", data=login)
    assert signed.status_code == 302
    assert signed.headers["Location"] == "/account/welcome"
    welcome = {"accept": "on", "csrf_token": _csrf(client, "/account/welcome")}
    home = client.post("/account/welcome", data=welcome, follow_redirects=True)
    assert f"Signed in as {_name(person)}" in html.unescape(home.get_data(as_text=True))
    # the account acts for exactly that patient
    svc = gateway.extensions["accounts"]
    row = svc.find(person.email)
    assert row is not None
    mine = identities(svc.state, gateway.extensions["his"], int(row.id))
    assert [(i.patient_id, i.relation, i.name) for i in mine] == [
        (person.id, "self", _name(person))
    ]
