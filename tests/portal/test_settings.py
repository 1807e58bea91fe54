"""The portal's settings and access history against a served gateway: a patient signs in
through the gateway's pages (each in the portal's design, axe-clean), opens the settings hub,
follows its links to the gateway's account pages (opened in the portal's language), sees the
partner clinic their record is shared with, and reads who opened their records in plain words,
page by page, in English and Romanian; the main flow by keyboard alone; forged paging
addresses give 404."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import requests
import sqlalchemy as sa
from joserfc import jwt
from playwright.sync_api import expect

from portal.sessions import portal_session
from smart_auth.oauth.store import OAuthStore
from tests.credentials import ASSERTION_TYPE
from tests.portal.conftest import axe_clean, lab_reports, pytestmark  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox
from tests.smart_auth.accounts.test_pages import PASSWORD, accept_clause, register
from tests.smart_auth.test_sharing import PARTNER_KEY

CLINIC = "clinic-popescu"
CLINIC_NAME = "Dr Popescu's clinic"
SYSTEM = "https://his.hospital.example/fhir/sid/oauth-client"


def partner_token(gateway: str) -> str:
    """A backend-services token of the partner clinic (private_key_jwt, SMART Backend
    Services), from the served gateway's token endpoint."""
    now = int(time.time())
    claims = {
        "iss": CLINIC,
        "sub": CLINIC,
        "aud": f"{gateway}/oauth/token",
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": "RS384", "kid": PARTNER_KEY.kid, "typ": "JWT"}
    answer = requests.post(
        f"{gateway}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode(header, claims, PARTNER_KEY, algorithms=["RS384"]),
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def session_token(served: dict[str, Any]) -> str:
    """The access token the portal holds for the (only) signed-in session."""
    with served["app"].extensions["portal_engine"].connect() as conn:
        (data,) = conn.execute(sa.select(portal_session.c.data)).one()
    return str(json.loads(data)["tokens"]["access_token"])


def test_settings_account_pages_partner_shares_and_access_history(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],
    sqlite_his: str,
) -> None:
    gateway, portal, gw = served["gateway"], served["portal"], served["gw"]
    person = next(p for p in adults if lab_reports(sqlite_his, p.id))
    OAuthStore(gw.extensions["state_engine"]).register_client(
        name=CLINIC_NAME,
        kind="partner",
        auth_method="private_key_jwt",
        scope="system/*.rs",
        jwks=json.dumps({"keys": [PARTNER_KEY.as_dict(private=False)]}),
        client_id=CLINIC,
    )
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    email = register(page, gateway, person, inbox)
    context.clear_cookies()

    # the gateway's sign-in, second factor, clause and consent pages, in the portal's design
    page.goto(f"{portal}/sign-in")
    page.wait_for_url(f"{gateway}/account/login?*")
    axe_clean(page, "gateway-login-en")
    page.get_by_label("Email or user name").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    axe_clean(page, "gateway-factor-en")
    page.get_by_label("Code").fill(inbox.code(email))
    page.get_by_role("button", name="Verify").click()
    axe_clean(page, "gateway-welcome-en")
    accept_clause(page)
    page.wait_for_url(f"{gateway}/oauth/authorize?*")
    axe_clean(page, "gateway-consent-en")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{portal}/")

    # the settings hub: the account's pages on the gateway, no partner clinic yet
    page.get_by_role("navigation", name="Services").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    links = page.locator("#account-pages a")
    paths = [
        "/account/profile",
        "/account/password",
        "/account/email",
        "/account/totp",
        "/account/",
        "/account/identities",
        "/oauth/apps",
        "/account/notifications",
    ]
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        f"{gateway}/account/lang/en?next={quote(p, safe='')}" for p in paths
    ]
    assert page.locator("#no-partners").is_visible()
    axe_clean(page, "settings-en")
    page.get_by_role("link", name="Profile").click()
    page.wait_for_url(f"{gateway}/account/profile")
    assert page.get_by_role("heading", level=1).inner_text() == "Profile"
    page.go_back()
    page.get_by_role("link", name="Authorised apps").click()
    page.wait_for_url(f"{gateway}/oauth/apps")
    assert page.locator("#apps li h2").all_inner_texts() == ["Patient portal"]
    axe_clean(page, "gateway-apps-en")
    page.go_back()
    page.get_by_role("link", name="People you act for").click()
    page.wait_for_url(f"{gateway}/account/identities")
    assert page.locator("#identities > li h2").all_inner_texts() == [
        f"{person.given} {person.family} (Myself)"
    ]

    # a share with a partner clinic, made with the portal's own token, then the clinic reads
    token = session_token(served)
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "patient": {"reference": f"Patient/{person.id}"},
        "organization": [{"identifier": {"system": SYSTEM, "value": CLINIC}}],
    }
    made = requests.post(
        f"{gateway}/fhir/Consent",
        json=consent,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    page.goto(f"{portal}/settings")
    cells = page.locator("#partners tbody tr td").all_inner_texts()
    assert cells == [CLINIC, dt.date.today().strftime("%d/%m/%Y"), "Until you withdraw it"]
    axe_clean(page, "settings-filled-en")
    clinic = {"Authorization": f"Bearer {partner_token(gateway)}"}
    for _ in range(22):
        answer = requests.get(
            f"{gateway}/fhir/DiagnosticReport",
            params={"patient": str(person.id), "category": "LAB"},
            headers=clinic,
            timeout=10,
        )
        assert answer.status_code == 200
    page.goto(f"{portal}/results")
    gw.extensions["audit_writer"].flush()

    # the access history, by keyboard from the settings page
    page.goto(f"{portal}/settings")
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "See the access history":
            break
    else:
        raise AssertionError("the history link is not reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/history")
    assert page.get_by_role("heading", level=1).inner_text() == "Access history"
    rows = page.locator("#events tbody tr")
    assert rows.count() == 20
    first = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    today = dt.date.today().strftime("%d/%m/%Y")
    texts = first  # at this width the cells' small-screen headings are not shown
    assert all(row[0].endswith(today) for row in first), first
    # newest first: the portal's own read of the results, then the clinic's searches
    whos = [row[1] for row in texts]
    assert "You, in this portal" in whos
    assert f"{CLINIC_NAME} (partner clinic)" in whos
    clinic_rows = [row for row in texts if row[1] == f"{CLINIC_NAME} (partner clinic)"]
    assert {row[2] for row in clinic_rows} == {"Looked through results and reports"}
    axe_clean(page, "history-en")
    page.get_by_role("link", name="Older events").click()
    page.wait_for_url(f"{portal}/history?page=2")
    assert page.locator("#events caption").inner_text() == "Page 2"
    older = page.locator("#events tbody tr")
    assert older.count() >= 1
    axe_clean(page, "history-page-2-en")
    page.get_by_role("link", name="Newer events").click()
    page.wait_for_url(f"{portal}/history?page=1")
    assert page.locator("#events caption").inner_text() == "Page 1"

    # addresses the portal did not give: not found, never another page of someone else's
    for forged in ("/history?page=7", "/history?page=0", "/history?page=x"):
        answer = page.goto(f"{portal}{forged}")
        assert answer is not None
        assert answer.status == 404
    axe_clean(page, "history-not-found-en")

    # Romanian: chosen on the settings page (by keyboard), dates as Romanian writes them
    page.goto(f"{portal}/settings")
    page.locator("#lang-ro").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "ro")
    assert page.get_by_role("heading", level=1).inner_text() == "Setări"
    assert page.locator("#account-pages a").first.get_attribute("href") == (
        f"{gateway}/account/lang/ro?next=%2Faccount%2Fprofile"
    )
    axe_clean(page, "settings-ro")
    page.goto(f"{portal}/history")
    assert page.get_by_role("heading", level=1).inner_text() == "Istoricul accesărilor"
    ro_rows = page.locator("#events tbody tr td:first-child").all_inner_texts()
    assert all(r.endswith(dt.date.today().strftime("%d.%m.%Y")) for r in ro_rows)
    assert f"{CLINIC_NAME} (clinică parteneră)" in page.locator("#events").inner_text()
    axe_clean(page, "history-ro")
    page.get_by_role("button", name="Polski").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Historia dostępu")
    assert f"{CLINIC_NAME} (placówka partnerska)" in page.locator("#events").inner_text()
    axe_clean(page, "history-pl")
    page.goto(f"{portal}/settings")
    assert page.get_by_role("heading", level=1).inner_text() == "Ustawienia"
    axe_clean(page, "settings-pl")
    page.get_by_role("button", name="Română").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Setări")
    page.get_by_role("link", name="Profil", exact=True).click()
    page.wait_for_url(f"{gateway}/account/profile")
    assert page.locator("html").get_attribute("lang") == "ro"
    context.close()
