"""The seam with the authorization server (back to ``next`` only after the whole sign-in),
the SMS HTTP provider against a real local HTTP server, and a PESEL deployment."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from fhir_gateway.his.schema import guardian_link, patient
from smart_auth import session as signed
from smart_auth.accounts import hospital
from smart_auth.accounts.sms import HttpSmsSender, Sms, SmsError

from .conftest import Inbox
from .test_service import LINK, PASSWORD

AUTHORIZE = "/oauth/authorize?response_type=code&client_id=app&state=xyz"


def csrf(client: Any, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_back_to_next_only_after_the_second_factor(
    make_app: Any, inbox: Inbox, adults: list[Any]
) -> None:
    app = make_app(accounts_second_factor="email")
    svc = app.extensions["accounts"]
    person = adults[12]
    name = f"{person.given} {person.family}"
    mine = person.email
    assert svc.register(name, person.national_id, "en", LINK) == ""
    account_id = svc.activate(inbox.link(mine).removeprefix(LINK), PASSWORD).account_id
    hospital.finish_onboarding(svc, account_id, True, "")
    client = app.test_client()
    with app.test_request_context():
        login = signed.login_url(AUTHORIZE)
    form = {"login": mine, "password": PASSWORD, "next": AUTHORIZE}
    answer = client.post(login, data={**form, "csrf_token": csrf(client, login)})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/account/second-factor"
    with client.session_transaction() as session:
        assert signed.ACCOUNT_KEY not in session  # not signed in before the code
    token = csrf(client, "/account/second-factor")
    code = inbox.code(mine)
    done = client.post("/account/second-factor", data={"code": code, "csrf_token": token})
    assert done.status_code == 302
    assert done.headers["Location"] == AUTHORIZE
    with client.session_transaction() as session:
        assert session[signed.ACCOUNT_KEY] == account_id


def test_next_never_leaves_the_site(make_app: Any) -> None:
    client = make_app().test_client()
    for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example"]:
        page = client.get("/account/login", query_string={"next": evil}).get_data(as_text=True)
        assert 'name="next" value="/account/"' in page


class _Provider(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str]]]] = []
    status = 202

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Authorization"], json.loads(body)))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[tuple[str, type[_Provider]]]:
    _Provider.received = []
    _Provider.status = 202
    server = HTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/send", _Provider
    server.shutdown()
    thread.join()
    server.server_close()


def test_http_sms_provider(provider: tuple[str, type[_Provider]]) -> None:
    url, handler = provider
    HttpSmsSender(url, "tok").send(Sms(to="+40700000000", text="Cod: 1234", language="ro"))
    assert handler.received == [("Bearer tok", {"to": "+40700000000", "text": "Cod: 1234"})]
    handler.status = 500
    with pytest.raises(SmsError) as failed:
        HttpSmsSender(url, "tok").send(Sms(to="+40700000000", text="Cod: 9876", language="ro"))
    assert "9876" not in str(failed.value)


def test_pesel_deployment_registers_a_polish_patient(
    make_app: Any, inbox: Inbox, sqlite_his: str
) -> None:
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        person = conn.execute(
            sa.select(patient)
            .where(patient.c.national_id_kind == "PESEL", patient.c.email.is_not(None))
            .where(patient.c.id.not_in(sa.select(guardian_link.c.ward_id)))
            .order_by(patient.c.id)
        ).first()
        cnp_person = conn.execute(
            sa.select(patient).where(patient.c.national_id_kind == "CNP")
        ).first()
    engine.dispose()
    assert person is not None
    assert cnp_person is not None
    svc = make_app(accounts_national_id="PESEL").extensions["accounts"]
    name = f"{person.given} {person.family}"
    other = f"{cnp_person.given} {cnp_person.family}"
    assert svc.register(other, cnp_person.national_id, "pl", LINK) == "bad_national_id"
    assert svc.register(name, person.national_id, "pl", LINK) == ""
    assert inbox.last_to(person.email)["Subject"] == "Aktywuj konto pacjenta"
    done = svc.activate(inbox.link(person.email).removeprefix(LINK), PASSWORD)
    assert done.error == ""
    assert svc.login(person.email, PASSWORD, "1.1.1.1").status == "ok"
