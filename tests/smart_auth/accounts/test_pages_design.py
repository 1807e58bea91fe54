"""The account pages in the portal's design (NHS.UK frontend's stylesheet and the hospital's
name and colour, served by the gateway itself): axe-core finds no WCAG 2.1 A/AA violation on
any of them, empty, filled and in their error states, in English, Romanian and Polish; the
identities page (F8) shows what the HIS holds of each person; removing a child in care asks
first; a new password is typed twice. Headless Chromium against a live gateway and the
generated HIS."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from smart_auth.accounts import i18n
from smart_auth.design import ASSETS
from smart_auth.oauth import wording
from tests.conftest import BASE

from .conftest import Inbox
from .test_pages_profile import ready_account, sign_in
from .test_recovery import family  # noqa: F401 (fixture)
from .test_service import PASSWORD

pytestmark = pytest.mark.skipif(
    not (ASSETS / "axe.min.js").is_file(), reason="portal assets: run make setup"
)
SHOTS = Path(os.environ.get("ACCOUNT_SCREENSHOTS", "var/test-artefacts/accounts"))
HOSPITAL = "Spitalul Clinic Demo"
SEX = {"F": "sex_F", "M": "sex_M"}
ENGLISH_DEFAULTS = (
    "There is a problem",
    "Error:",
    "Information:",
    "Important:",
    "Show password",
    "Hide password",
    "Your password is",
    "Skip to main content",
    "NHS England",
    ">Back<",
)


def axe_clean(page: Any, name: str) -> None:
    """axe-core (WCAG 2.1 A and AA rules) finds nothing; screenshots at 360 and 1280 px."""
    assert page.locator("link[rel=stylesheet]").count() == 2
    page.wait_for_load_state("load")  # styled: colours are judged as the page shows them
    page.evaluate((ASSETS / "axe.min.js").read_text())
    found = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => r.violations.map(v => [v.id, v.nodes.map(n => n.target)]))"
    )
    assert found == [], f"{name}: {json.dumps(found)}"
    if page.evaluate("document.documentElement.lang") != "en":
        # NHS.UK frontend's components say these in English unless each page gives its words
        html = page.content()
        for said in ENGLISH_DEFAULTS:
            assert said not in html, f"{name}: {said!r}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def day(value: dt.date, lang: str) -> str:
    return value.strftime("%d/%m/%Y" if lang == "en" else "%d.%m.%Y")


def age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@pytest.mark.parametrize("lang", ["en", "ro", "pl"])
def test_account_pages_in_the_portal_design(
    live: Any,
    browser: Any,
    inbox: Inbox,
    family: tuple[Any, Any, Any],  # noqa: F811
    lang: str,
) -> None:
    guardian, ward, stranger = family
    server = live(
        accounts_second_factor="email",
        portal_hospital_name=HOSPITAL,
        portal_colour="#005eb8",
    )
    base = server.url
    context = browser.new_context(extra_http_headers={"Accept-Language": lang})
    tab = context.new_page()

    def t(key: str, **values: object) -> str:
        return i18n.text(key, lang, **values)

    # signed out: sign-in, its error, registration, its error, a message page
    tab.goto(f"{base}/account/login")
    css = tab.request.get(f"{base}/design/nhsuk-frontend.min.css")
    assert css.status == 200
    assert css.headers["content-type"].startswith("text/css")
    assert HOSPITAL in tab.locator("header").inner_text()
    assert "#005eb8" in tab.request.get(f"{base}/design/theme.css").text()
    axe_clean(tab, f"login-{lang}")
    tab.locator("#login").fill("nobody@example.org")
    tab.locator("#password").fill("not the password")
    tab.locator("button[type=submit]").click()
    assert tab.locator("#form-error").inner_text() == t("bad_login")
    axe_clean(tab, f"login-error-{lang}")
    tab.goto(f"{base}/account/register")
    axe_clean(tab, f"register-{lang}")
    tab.locator("#full_name").fill("Ana Pop")
    tab.locator("#national_id").fill("1234567890123")
    tab.locator("button[type=submit]").click()
    assert tab.locator("#form-error").inner_text() == t("bad_national_id")
    assert tab.locator("#national_id").get_attribute("aria-invalid") == "true"
    axe_clean(tab, f"register-error-{lang}")
    tab.goto(f"{base}/account/activate/not-a-token")
    assert tab.get_by_role("status").inner_text() == t("bad_link")
    axe_clean(tab, f"message-{lang}")
    tab.goto(f"{base}/account/forgot")
    axe_clean(tab, f"forgot-{lang}")

    # the second factor, its error, then the account's pages
    email = ready_account(server, inbox, guardian)
    sign_in(tab, base, email)
    assert tab.get_by_role("heading", level=1).inner_text() == t("factor_title")
    tab.locator("#code").fill("000000")
    tab.locator("button[type=submit]").click()
    assert tab.locator("#form-error").inner_text() == t("bad_code")
    axe_clean(tab, f"factor-error-{lang}")
    tab.locator("#code").fill(inbox.code(email))
    tab.locator("button[type=submit]").click()
    assert tab.get_by_role("heading", level=1).inner_text() == t("home_title")
    axe_clean(tab, f"home-{lang}")
    for path in ("profile", "email", "totp"):
        tab.goto(f"{base}/account/{path}")
        axe_clean(tab, f"{path}-{lang}")

    # identities (F8): one's own record, a refused national ID, then a child in care
    service = server.server.app.extensions["accounts"]
    today = service.clock().date()
    tab.goto(f"{base}/account/identities")
    items = tab.locator("#identities > li")
    expect(items).to_have_count(1)
    axe_clean(tab, f"identities-{lang}")
    tab.locator("#national_id").fill(stranger.national_id)
    tab.locator("#national_id ~ button, form button[type=submit]").last.click()
    assert tab.locator("#form-error").inner_text() == t("not_guardian")
    axe_clean(tab, f"identities-error-{lang}")
    tab.locator("#national_id").fill(ward.national_id)
    tab.locator("form button[type=submit]").last.click()
    expect(items).to_have_count(2)
    for item, person, relation in (
        (items.nth(0), guardian, "self"),
        (items.nth(1), ward, "guardian"),
    ):
        heading = item.get_by_role("heading").inner_text()
        assert heading == f"{person.given} {person.family} ({t('relation_' + relation)})"
        values = item.locator("dd").all_inner_texts()
        assert values[0] == t(SEX.get(person.gender, "sex_U"))
        assert values[1] == i18n.age(age(person.birth_date, today), lang)
        shown = item.locator("dd").nth(2)
        assert shown.locator("[aria-hidden=true]").inner_text().endswith(person.national_id[-4:])
        assert person.national_id[:-4] not in shown.inner_text()
        assert t("verified_on", date=day(today, lang)) in item.inner_text()
    axe_clean(tab, f"identities-filled-{lang}")

    # an app asks for access: the consent page offers both people, in the same design
    client_id, _ = server.server.app.extensions["smart_oauth"].store.register_client(
        name="Chart Reader",
        kind="app",
        auth_method="none",
        scope="launch/patient openid fhirUser patient/*.rs",
        redirect_uris=("https://app.example/callback",),
    )
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "https://app.example/callback",
        "scope": "launch/patient openid fhirUser patient/*.rs",
        "state": "design",
        "aud": BASE,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    tab.goto(f"{base}/oauth/authorize?{urlencode(query)}")
    assert tab.get_by_role("heading", level=1).inner_text() == wording.text(
        "title", lang, app="Chart Reader"
    )
    assert tab.get_by_role("radio").count() == 2
    axe_clean(tab, f"consent-{lang}")
    tab.goto(f"{base}/account/identities")
    name = f"{ward.given} {ward.family}"
    tab.get_by_role("button", name=f"{t('remove')}: {name}").click()
    assert tab.get_by_role("heading", level=1).inner_text() == t("remove_title", name=name)
    axe_clean(tab, f"identities-remove-{lang}")
    tab.get_by_role("button", name=t("remove_confirm")).click()
    expect(items).to_have_count(1)
    assert tab.get_by_role("status").inner_text() == t("removed", name=name)

    # the password (F7): the new one typed twice; two different ones are refused
    tab.goto(f"{base}/account/password")
    axe_clean(tab, f"password-{lang}")
    tab.locator("#current_password").fill(PASSWORD)
    tab.locator("#new_password").fill("a brand new passphrase")
    tab.locator("#confirm_password").fill("a brand new passphrasE")
    tab.locator("button[type=submit]").click()
    assert tab.locator("#form-error").inner_text() == t("passwords_differ")
    axe_clean(tab, f"password-error-{lang}")
    assert service.login(email, PASSWORD, "9.9.9.9").status == "ok"
    tab.locator("#current_password").fill(PASSWORD)
    tab.locator("#new_password").fill("a brand new passphrase")
    tab.locator("#confirm_password").fill("a brand new passphrase")
    tab.locator("button[type=submit]").click()
    assert tab.get_by_role("status").inner_text() == t("password_changed")
    assert service.login(email, "a brand new passphrase", "9.9.9.8").status == "ok"

    # the authorised apps: none yet
    tab.goto(f"{base}/oauth/apps")
    assert tab.locator("#no-apps").inner_text() == wording.text("apps_none", lang)
    axe_clean(tab, f"apps-empty-{lang}")
    context.close()


def test_the_identities_flow_by_keyboard_alone(
    live: Any,
    page: Any,
    inbox: Inbox,
    family: tuple[Any, Any, Any],  # noqa: F811
) -> None:
    guardian, ward, _ = family
    server = live()
    sign_in(page, server.url, ready_account(server, inbox, guardian))
    page.goto(f"{server.url}/account/identities")
    page.locator("#national_id").focus()
    page.keyboard.type(ward.national_id)
    page.keyboard.press("Enter")
    expect(page.locator("#identities > li")).to_have_count(2)
    # from the page's start, Tab reaches the child's remove button; Enter, then the confirm
    page.locator("body").focus()
    name = f"{ward.given} {ward.family}"
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == f"Remove: {name}":
            break
    else:
        raise AssertionError("the remove button is not reachable by Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Remove {name}?")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Yes, remove":
            break
    page.keyboard.press("Space")
    expect(page.locator("#identities > li")).to_have_count(1)
