"""Shares through the portal (F21, F25) against a served gateway: a patient shares a report
with a partner clinic (whose backend-services token then reads it, and no longer once the
share is withdrawn) and with a person outside by link and PIN (opened in a second browser with
the PIN the gateway sent, closed once withdrawn); the gateway's recipient pages and the page
of results without an account (F9) in the portal's design. Every page: axe-core with no
violation in English and another language, empty, filled and error states."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from joserfc import jwt

from fhir_gateway.his.schema import lab_bulletin, patient
from portal.app import create_portal
from smart_auth.sharing import service
from tests.conftest import app_config
from tests.credentials import ASSERTION_TYPE
from tests.portal.conftest import (  # noqa: F401 (the module's skip marks)
    SCOPE,
    Served,
    axe_clean,
    fill_date,
    lab_reports,
    pytestmark,
    sign_in,
)
from tests.smart_auth.accounts.conftest import Inbox
from tests.smart_auth.test_sharing import PARTNER_KEY, register_partner

PARTNER = "clinic-north"
PARTNER_NAME = "Clinica Nord"


@pytest.fixture
def shared(make_app: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A served gateway with a registered partner clinic, and a served portal that offers it."""
    gateway, portal = Served(), Served()
    gw = make_app(
        dev_open_access=False,
        public_base_url=f"{gateway.url}/fhir",
        accounts_second_factor="email",
    )
    gateway.start(gw)
    store = gw.extensions["smart_oauth"].store
    client_id, secret = store.register_client(
        name="Patient portal",
        kind="app",
        auth_method="client_secret_basic",
        scope=SCOPE,
        redirect_uris=(f"{portal.url}/callback",),
    )
    register_partner(gw.extensions["state_engine"], PARTNER)
    app = create_portal(
        {
            "portal_fhir_url": f"{gateway.url}/fhir",
            "portal_public_url": portal.url,
            "portal_client_id": client_id,
            "portal_client_secret": secret,
            "portal_secret_key": "portal-test-key",
            "portal_state_url": f"sqlite:///{tmp_path / 'portal.sqlite'}",
            "portal_hospital_name": "Spitalul Clinic Demo",
            "portal_partners": f"{PARTNER}={PARTNER_NAME}",
        }
    )
    portal.start(app)
    yield {"gateway": gateway.url, "portal": portal.url, "gw": gw, "app": app}
    portal.stop()
    gateway.stop()
    gw.extensions["state_engine"].dispose()
    app.extensions["portal_engine"].dispose()


def partner_read(gateway: str, path: str) -> int:
    """The status the partner clinic gets for ``path``, with a backend-services token it gets
    from the served gateway (a private_key_jwt client assertion)."""
    token_url = f"{gateway}/oauth/token"
    now = int(time.time())
    claims = {"iss": PARTNER, "sub": PARTNER, "aud": token_url, "exp": now + 240}
    claims["jti"] = uuid.uuid4().hex
    header = {"alg": "RS384", "kid": PARTNER_KEY.kid, "typ": "JWT"}
    answer = requests.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode(header, claims, PARTNER_KEY, algorithms=["RS384"]),
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    got = requests.get(
        f"{gateway}/fhir/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return got.status_code


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element ``selector`` has the focus (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_share_with_a_partner_and_a_person_then_withdraw(
    shared: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], sqlite_his: str
) -> None:
    gateway, portal = shared["gateway"], shared["portal"]
    person = next(
        p
        for p in adults
        if len(lab_reports(sqlite_his, p.id)) >= 2
        and open_read(sqlite_his, f"ImagingStudy?patient={p.id}").get("entry")
    )
    report, other_report = lab_reports(sqlite_his, person.id)[:2]
    someone_else = next(p for p in adults if p.id != person.id and lab_reports(sqlite_his, p.id))
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, shared, person, inbox)

    # empty: no share yet
    page.get_by_role("main").get_by_role("link", name="Shares").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Shares"
    assert page.locator("#no-shares").is_visible()
    axe_clean(page, "shares-empty-en")

    # the dialog other screens link to, for one report
    page.goto(f"{portal}/shares/new?what=DiagnosticReport/{report}")
    assert page.get_by_role("heading", level=1).inner_text() == "Share a report"
    assert "Report" in page.locator("#what").inner_text()
    axe_clean(page, "shares-new-en")

    # another patient's report, an unknown one, a malformed reference: 404, nothing of theirs
    theirs = lab_reports(sqlite_his, someone_else.id)[0]
    for what in (f"DiagnosticReport/{theirs}", "DiagnosticReport/lab-999999999", "Patient/1"):
        answer = page.request.get(f"{portal}/shares/new?what={what}")
        assert answer.status == 404, what
        assert theirs not in answer.text()

    # with the partner clinic: its system reads the report, not the other one
    assert partner_read(gateway, f"DiagnosticReport/{report}") == 404
    page.get_by_label("Partner clinic").select_option(PARTNER)
    page.get_by_role("button", name="Share with the clinic").click()
    assert page.locator("#shares-done").inner_text() == f"Shared with {PARTNER_NAME}."
    assert partner_read(gateway, f"DiagnosticReport/{report}") == 200
    assert partner_read(gateway, f"DiagnosticReport/{other_report}") == 404
    row = page.locator("#shares tbody tr")
    assert row.count() == 1
    assert PARTNER_NAME in row.first.inner_text()
    title = open_read(sqlite_his, f"DiagnosticReport/{report}")["code"]["text"]
    assert f"Report: {title}" in row.first.inner_text()
    axe_clean(page, "shares-list-en")

    # a study: a partner clinic is offered it only with the whole record (the gateway serves a
    # partner a patient's images by patient), so only the link and PIN are offered
    studies = open_read(sqlite_his, f"ImagingStudy?patient={person.id}").get("entry", [])
    assert studies, "the test HIS gives this patient no imaging study"
    page.goto(f"{portal}/shares/new?what=ImagingStudy/{studies[0]['resource']['id']}")
    assert page.get_by_role("heading", level=1).inner_text() == "Share an imaging study"
    assert page.locator("#partner").count() == 0
    assert page.locator("#study-alone").is_visible()
    assert page.locator("#person").is_visible()

    # the error state: what the form cannot send is said at each field, nothing is shared
    page.goto(f"{portal}/shares/new?what=DiagnosticReport/{report}")
    page.locator("#person-email").fill("not an address")
    page.locator("#person-pin").fill("12ab")
    fill_date(page, "person-until", dt.date(2001, 1, 1))
    page.get_by_role("button", name="Share by link and PIN").click()
    summary = page.locator(".nhsuk-error-summary")
    assert "Enter the recipient's email address" in summary.inner_text()
    assert "Enter a PIN of 6 digits" in summary.inner_text()
    assert "today or later" in summary.inner_text()
    assert summary.locator("a[href='#person-until-day']").count() == 1  # the date's first box
    assert page.locator("#person-pin").input_value() == ""  # the PIN is never sent back
    axe_clean(page, "shares-new-error-en")

    # what the gateway refuses (a time limit past SHARES_MAX_DAYS): said, nothing is shared
    too_far = dt.date.today() + dt.timedelta(
        days=shared["gw"].config["SETTINGS"].shares_max_days + 30
    )
    page.locator("#person-email").fill("someone@example.org")
    page.locator("#person-pin").fill("123456")
    fill_date(page, "person-until", too_far)
    page.get_by_role("button", name="Share by link and PIN").click()
    assert "did not accept" in page.locator("#refused").inner_text()
    assert page.locator("#person-email").input_value() == "someone@example.org"
    axe_clean(page, "shares-new-refused-en")
    assert not [m for m in inbox.messages if m["To"] == "someone@example.org"]

    # with a person outside, by keyboard alone: email, PIN, a message, then the button
    recipient = f"doctor-{uuid.uuid4().hex[:8]}@example.org"
    pin = "482915"
    page.goto(f"{portal}/shares/new?what=DiagnosticReport/{report}")
    tab_to(page, "#person-email")
    page.keyboard.type(recipient)
    tab_to(page, "#person-pin")
    page.keyboard.type(pin)
    tab_to(page, "#person-comment")
    page.keyboard.type("For the appointment on Monday.")
    tab_to(page, "#person-language")
    page.keyboard.type("Polski")  # the messages and the recipient's page in Polish
    assert page.locator("#person-language").input_value() == "pl"
    tab_to(page, "#share-person")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/shares")
    assert recipient in page.locator("#shares-done").inner_text()
    assert page.locator("#shares tbody tr").count() == 2
    bodies = [
        m.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for m in inbox.messages
        if m["To"] == recipient
    ]
    link = next(re.search(r"https?://\S+", b).group(0) for b in bodies if "/share/" in b)  # type: ignore[union-attr]
    assert any(pin in b for b in bodies if "/share/" not in b)
    assert not any(pin in b for b in bodies if "/share/" in b)

    # the recipient, in another browser: the PIN page, a wrong PIN, then the right one
    other = browser.new_context(locale="pl-PL")
    them = other.new_page()
    them.goto(link)
    assert them.locator("html").get_attribute("lang") == "pl"
    assert them.locator("link[rel=stylesheet]").count() == 2
    axe_clean(them, "share-pin-pl")
    them.get_by_role("link", name="English").click()
    assert them.get_by_role("heading", level=1).inner_text() == "Shared health records"
    axe_clean(them, "share-pin-en")
    them.get_by_label("PIN").fill("000000" if pin != "000000" else "111111")
    them.get_by_role("button", name="Open").click()
    assert "The PIN is not right" in them.locator(".nhsuk-error-summary").inner_text()
    assert them.get_by_label("PIN").get_attribute("aria-invalid") == "true"
    axe_clean(them, "share-pin-error-en")
    them.get_by_label("PIN").fill(pin)
    them.get_by_role("button", name="Open").click()
    assert them.locator("#share-comment").inner_text() == "For the appointment on Monday."
    assert them.locator("#shared-documents tbody tr").count() == 1
    axe_clean(them, "share-view-en")
    download = them.locator("#shared-documents a").first.get_attribute("href")
    pdf = them.request.get(f"{gateway}{download}")
    assert pdf.status == 200
    assert pdf.body().startswith(b"%PDF")
    them.get_by_role("link", name="Română").click()
    assert them.locator("html").get_attribute("lang") == "ro"
    axe_clean(them, "share-view-ro")

    # a share of another patient's cannot be withdrawn (nor seen) through the portal
    theirs_share = service.grant_share(
        shared["gw"].extensions["state_engine"], int(someone_else.id), PARTNER
    )
    for path in (f"/shares/{theirs_share['id']}/withdraw", "/shares/share-999999/withdraw"):
        assert page.request.get(f"{portal}{path}").status == 404
    token = page.locator("input[name=csrf_token]").first.input_value()
    refused = page.request.post(
        f"{portal}/shares/{theirs_share['id']}/withdraw", form={"csrf_token": token}
    )
    assert refused.status == 404
    assert partner_read(gateway, f"Patient/{someone_else.id}") == 200  # still in force

    # withdraw the partner's share: a confirmation, then the partner reads nothing
    partner_row = page.locator("#shares tbody tr", has_text=PARTNER_NAME)
    partner_row.get_by_role("link", name=f"Withdraw the share with {PARTNER_NAME}").click()
    assert PARTNER_NAME in page.get_by_role("heading", level=1).inner_text()
    axe_clean(page, "shares-withdraw-en")
    page.get_by_role("button", name="Withdraw the share").click()
    assert "is withdrawn" in page.locator("#shares-done").inner_text()
    assert partner_read(gateway, f"DiagnosticReport/{report}") == 404
    assert page.locator("#shares tbody tr").count() == 1
    assert page.locator("#ended tbody tr").count() == 1

    # withdraw the person's share: their page closes at once
    page.locator("#shares tbody tr").first.get_by_role("link").click()
    page.get_by_role("button", name="Withdraw the share").click()
    assert page.locator("#no-shares").is_visible()
    closed = them.goto(link)
    assert closed is not None
    assert closed.status == 404
    assert them.locator("#share-message").is_visible()
    axe_clean(them, "share-closed-ro")
    other.close()

    # Romanian: the list with the ended shares, and the dialog
    page.get_by_role("button", name="Română").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Partajări"
    page.locator("#ended summary").click()
    axe_clean(page, "shares-list-ro")
    page.goto(f"{portal}/shares/new?what=record")
    axe_clean(page, "shares-new-ro")
    context.close()


def open_read(his: str, path: str) -> dict[str, Any]:
    """``path`` as the gateway answers it with authorization off."""
    from gateway.app import create_app

    open_app = create_app(app_config(his))
    found: dict[str, Any] = open_app.test_client().get(f"/fhir/{path}").get_json()
    open_app.extensions["state_engine"].dispose()
    return found


def coded_bulletin(his: str) -> tuple[str, str, str]:
    """A validated bulletin with a code and a PDF: its code, its patient's national ID and the
    report id."""
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(lab_bulletin.c.id, lab_bulletin.c.access_code, patient.c.national_id)
            .join(patient, patient.c.id == lab_bulletin.c.patient_id)
            .where(lab_bulletin.c.access_code.is_not(None))
            .where(lab_bulletin.c.document_id.is_not(None))
            .order_by(lab_bulletin.c.id)
        ).first()
    engine.dispose()
    assert row is not None
    return str(row.access_code), str(row.national_id), f"lab-{row.id}"


def test_a_result_opens_with_its_code_without_an_account(
    shared: dict[str, Any], browser: Any, sqlite_his: str
) -> None:
    gateway, portal = shared["gateway"], shared["portal"]
    code, national_id, report = coded_bulletin(sqlite_his)
    context = browser.new_context(locale="en-GB")
    page = context.new_page()

    # from the portal's start page to the gateway's page
    page.goto(portal)
    page.get_by_role("link", name="without an account").click()
    page.wait_for_url(f"{gateway}/result-access")
    assert page.get_by_role("heading", level=1).inner_text() == "Your result without an account"
    axe_clean(page, "result-access-en")

    # a wrong code and a wrong national ID: the same neutral answer
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    said = []
    wrong_id = national_id[:-1] + ("1" if national_id.endswith("0") else "0")
    for pair in ((wrong_code, national_id), (code, wrong_id)):
        page.get_by_label("Result code").fill(pair[0])
        page.get_by_label("The patient's national ID number").fill(pair[1])
        page.get_by_role("button", name="Show the result").click()
        said.append(page.locator(".nhsuk-error-summary").inner_text())
    assert said[0] == said[1]
    assert "not right" in said[0]
    axe_clean(page, "result-access-error-en")

    # the right pair: the report and its PDF
    page.get_by_label("Result code").fill(code)
    page.get_by_label("The patient's national ID number").fill(national_id)
    page.get_by_role("button", name="Show the result").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Your result"
    expected = open_read(sqlite_his, f"DiagnosticReport/{report}")
    assert page.locator("#result-title").inner_text() == expected["code"]["text"]
    assert (
        page.locator("#result-date").get_attribute("datetime")
        == (expected.get("effectiveDateTime") or expected["issued"])[:10]
    )
    cookies = {c["name"]: c for c in context.cookies(f"{gateway}/result-access")}
    assert cookies["result_token"]["httpOnly"] is True
    assert cookies["result_token"]["path"] == "/result-access"
    axe_clean(page, "result-report-en")
    pdf = page.request.get(f"{gateway}/result-access/report.pdf")
    assert pdf.status == 200
    assert pdf.body().startswith(b"%PDF")
    page.get_by_role("link", name="Română").click()
    assert page.locator("html").get_attribute("lang") == "ro"
    axe_clean(page, "result-report-ro")

    # closed: the browser forgets it
    page.get_by_role("button", name="Închide rezultatul").click()
    assert page.get_by_label("Codul rezultatului").is_visible()
    assert page.request.get(f"{gateway}/result-access/report.pdf").status == 401
    axe_clean(page, "result-access-ro")

    # the attempt limit: wrong codes up to it, then even the right code waits (429)
    settings = shared["gw"].config["SETTINGS"]
    for _ in range(settings.results_max_attempts - 2):
        page.get_by_label("Codul rezultatului").fill(wrong_code)
        page.get_by_label("CNP-ul pacientului").fill(national_id)
        page.get_by_role("button", name="Vezi rezultatul").click()
    page.get_by_label("Codul rezultatului").fill(code)
    page.get_by_label("CNP-ul pacientului").fill(national_id)
    with page.expect_response(f"{gateway}/result-access") as answer:
        page.get_by_role("button", name="Vezi rezultatul").click()
    assert answer.value.status == 429
    assert int(answer.value.headers["retry-after"]) > 0
    assert "Prea multe încercări" in page.locator(".nhsuk-error-summary").inner_text()
    assert page.locator("#result").count() == 0
    axe_clean(page, "result-access-limit-ro")
    context.close()
