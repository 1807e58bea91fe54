"""Every accounts page in headless Chromium (Playwright), against a live gateway, a real SMTP
server on localhost and the generated test HIS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from smart_auth.accounts import i18n

from .conftest import Inbox

PASSWORD = "correct horse battery"


def register(page: Any, base: str, person: Any, inbox: Inbox) -> str:
    """Self-register through the pages: name and national ID, then the activation link the
    hospital's address received, where the password is chosen. The user name (that address)."""
    page.goto(f"{base}/account/register")
    page.get_by_label("Full name").fill(f"{person.given} {person.family}")
    page.get_by_label("Personal numeric code (CNP)").fill(person.national_id)
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
    link = inbox.link(person.email)
    assert link.startswith(f"{base}/account/activate/")
    page.goto(link)
    assert page.get_by_role("heading", level=1).inner_text() == "Activate your account"
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Activate account").click()
    email = str(person.email)
    assert page.get_by_role("status").inner_text() == i18n.text(
        "activated", "en", username=email.lower()
    )
    return email


def accept_clause(page: Any, lang: str = "en") -> None:
    """The first sign-in asks for the information clause (F5) before the account page."""
    assert page.get_by_role("heading", level=1).inner_text() == i18n.text("welcome_title", lang)
    assert page.locator("#clause").inner_text() == i18n.text("clause_text", lang)
    page.locator("#accept").check()
    page.locator("button[type=submit]").click()


def sign_in(page: Any, base: str, login: str, password: str, nxt: str = "") -> None:
    page.goto(f"{base}/account/login" + (f"?next={nxt}" if nxt else ""))
    page.get_by_label("Email or user name").fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_register_verify_login_second_factor_signed_in(
    live: Any, page: Any, inbox: Inbox, adults: list[Any]
) -> None:
    server = live(accounts_second_factor="email")
    person = adults[0]
    email = register(page, server.url, person, inbox)
    sign_in(page, server.url, email, PASSWORD, nxt="/account/")
    assert page.get_by_role("heading", level=1).inner_text() == "Verification code"
    page.get_by_label("Code").fill(inbox.code(email))
    page.get_by_role("button", name="Verify").click()
    accept_clause(page)
    assert page.locator("#signed-in").inner_text() == (
        f"Signed in as {person.given} {person.family}"
    )
    page.get_by_role("button", name="Sign out", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    page.goto(f"{server.url}/account/")
    assert "/account/login" in page.url


def test_lockout_after_five_wrong_passwords(
    live: Any, page: Any, inbox: Inbox, adults: list[Any]
) -> None:
    server = live(accounts_support_contact="the help desk at +40 21 000 0000")
    mine = register(page, server.url, adults[1], inbox)
    shown = []
    for _ in range(5):
        sign_in(page, server.url, mine, "not the password")
        shown.append(page.locator("#form-error").inner_text())
        if "locked" in shown[-1]:
            break
        # the progressive delay must not hide the lockout: wait it out on the server's clock
        service = server.server.app.extensions["accounts"]
        service.limits.clear(["addr:127.0.0.1", f"acct:{service.find(mine).id}"])
    assert shown[:4] == [i18n.text("bad_login", "en")] * 4
    assert shown[4] == i18n.text("locked", "en", contact="the help desk at +40 21 000 0000")
    sign_in(page, server.url, mine, PASSWORD)
    assert "the help desk" in page.locator("#form-error").inner_text()


def test_remember_me_survives_a_new_session_until_signed_out(
    live: Any, browser: Any, inbox: Inbox, adults: list[Any]
) -> None:
    server = live()
    context = browser.new_context(locale="en-US")
    tab = context.new_page()
    mine = register(tab, server.url, adults[2], inbox)
    tab.goto(f"{server.url}/account/login")
    tab.get_by_label("Email or user name").fill(mine)
    tab.get_by_label("Password", exact=True).fill(PASSWORD)
    tab.get_by_label("Remember me").check()
    tab.get_by_role("button", name="Sign in").click()
    accept_clause(tab)
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["remember"]["httpOnly"]
    assert cookies["session"]["httpOnly"]
    assert cookies["session"]["sameSite"] == "Lax"
    context.clear_cookies()
    context.add_cookies([cookies["remember"]])  # a new browser session, same device
    tab.goto(f"{server.url}/account/")
    assert tab.locator("#signed-in").is_visible()
    tab.get_by_role("button", name="Sign out everywhere").click()
    context.add_cookies([cookies["remember"]])  # the revoked token no longer signs in
    tab.goto(f"{server.url}/account/")
    assert "/account/login" in tab.url
    context.close()


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_pages_render_in_each_language(
    live: Any, browser: Any, inbox: Inbox, adults: list[Any], lang: str
) -> None:
    server = live(accounts_second_factor="email")
    context = browser.new_context(extra_http_headers={"Accept-Language": f"{lang},en;q=0.1"})
    tab = context.new_page()
    for path, title in [
        ("/account/login", "login_title"),
        ("/account/register", "register_title"),
        ("/account/activate/not-a-token", "activate_title"),
    ]:
        response = tab.goto(server.url + path)
        assert response.headers["content-language"] == lang
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert tab.locator("html").get_attribute("lang") == lang
        assert tab.get_by_role("heading", level=1).inner_text() == i18n.text(title, lang)
        for field in tab.locator("input:not([type=hidden])").all():
            label = tab.locator(f"label[for='{field.get_attribute('id')}']")
            assert label.count() == 1  # every field has its label
    person = adults[3 + i18n.LANGUAGES.index(lang)]
    email = person.email
    tab.goto(server.url + "/account/register")
    tab.locator("#full_name").fill(f"{person.given} {person.family}")
    tab.locator("#national_id").fill(person.national_id)
    tab.locator("button[type=submit]").click()
    assert tab.get_by_role("heading", level=1).inner_text() == i18n.text("check_mail_title", lang)
    assert inbox.last_to(email)["Subject"] == i18n.text("mail_activate_subject", lang)
    tab.goto(inbox.link(email))
    assert tab.get_by_role("heading", level=1).inner_text() == i18n.text("activate_title", lang)
    tab.locator("#password").fill(PASSWORD)
    tab.locator("button[type=submit]").click()
    tab.goto(server.url + "/account/login")
    tab.locator("#login").fill(email)
    tab.locator("#password").fill(PASSWORD)
    tab.locator("button[type=submit]").click()
    assert tab.get_by_role("heading", level=1).inner_text() == i18n.text("factor_title", lang)
    assert inbox.last_to(email)["Subject"] == i18n.text("mail_code_subject", lang)
    tab.locator("#code").fill(inbox.code(email))
    tab.locator("button[type=submit]").click()
    accept_clause(tab, lang)
    assert tab.get_by_role("heading", level=1).inner_text() == i18n.text("home_title", lang)
    # the switcher overrides Accept-Language
    other = next(code for code in i18n.LANGUAGES if code != lang)
    tab.get_by_role("link", name=i18n.NAMES[other]).click()
    assert tab.get_by_role("heading", level=1).inner_text() == i18n.text("home_title", other)
    assert re.search(r"/account/$", tab.url)
    context.close()


def test_a_form_without_its_csrf_token_is_refused(live: Any, page: Any) -> None:
    server = live()
    page.goto(f"{server.url}/account/login")
    page.locator("input[name=csrf_token]").evaluate("e => e.value = 'forged'")
    page.get_by_label("Email or user name").fill("x@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    with page.expect_response(re.compile(r"/account/login$")) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 400
    assert page.get_by_role("alert").count() == 0
    assert page.get_by_role("status").inner_text() == i18n.text("csrf", "en")


def test_desk_created_account_first_login_accepts_clause_and_new_password(
    live: Any, page: Any, inbox: Inbox, adults: list[Any]
) -> None:
    import requests
    import sqlalchemy as sa

    from smart_auth.accounts.tables import account

    server = live(accounts_admin_token="desk-secret", accounts_clause_version="2026-11")
    person = adults[5]
    url = f"{server.url}/account/api/accounts"
    body = {"national_id": person.national_id, "email": "desk@example.org", "phone": "+40700000001"}
    anonymous = requests.post(url, json=body, timeout=10)
    assert anonymous.status_code == 401
    assert "error=" not in anonymous.headers["WWW-Authenticate"]
    wrong = requests.post(url, json=body, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    desk = {"Authorization": "Bearer desk-secret"}
    bad = {**body, "national_id": "1234567890123"}
    assert requests.post(url, json=bad, headers=desk, timeout=10).json() == {
        "error": "bad_national_id"
    }
    made = requests.post(url, json={**body, "language": "en"}, headers=desk, timeout=10)
    assert made.status_code == 201
    assert "password" not in made.text
    again = requests.post(url, json=body, headers=desk, timeout=10)
    assert again.status_code == 409
    mail = inbox.body("desk@example.org")
    temporary = mail.split("Temporary password: ", 1)[1].split()[0]
    sign_in(page, server.url, "desk@example.org", temporary)
    assert page.get_by_role("heading", level=1).inner_text() == i18n.text("welcome_title", "en")
    # the browser itself refuses a short one (minlength); the server must refuse it too
    page.locator("#new_password").evaluate("e => e.removeAttribute('minlength')")
    page.locator("#new_password").fill("short")
    page.locator("#accept").check()
    page.locator("button[type=submit]").click()
    assert page.locator("#form-error").inner_text() == i18n.text("weak_password", "en")
    page.locator("#accept").check()
    page.locator("#new_password").fill("my own new passphrase")
    page.locator("button[type=submit]").click()
    assert page.locator("#signed-in").is_visible()
    service = server.server.app.extensions["accounts"]
    with service.state.connect() as conn:
        row = conn.execute(sa.select(account).where(account.c.email == "desk@example.org")).one()
    assert row.clause_version == "2026-11"
    assert row.clause_accepted_at is not None
    assert row.phone == "+40700000001"
    assert service.login("desk@example.org", temporary, "5.5.5.5").status == "bad"
    assert service.login("desk@example.org", "my own new passphrase", "5.5.5.6").status == "ok"
