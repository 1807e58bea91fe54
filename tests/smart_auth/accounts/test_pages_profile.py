"""The signed-in pages (profile, password, email, identities, TOTP) and the forgotten-password
pages in headless Chromium, in each language."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from smart_auth.accounts import hospital, i18n

from .conftest import Inbox
from .test_recovery import family  # noqa: F401 (fixture)
from .test_service import LINK, PASSWORD


def ready_account(server: Any, inbox: Inbox, person: Any) -> str:
    """An account registered, activated and past its first sign-in, through the service; its
    user name (the email address the HIS holds for the person)."""
    svc = server.server.app.extensions["accounts"]
    name = f"{person.given} {person.family}"
    assert svc.register(name, person.national_id, "en", LINK) == ""
    done = svc.activate(inbox.link(person.email).rsplit("/", 1)[1], PASSWORD)
    assert done.error == ""
    assert hospital.finish_onboarding(svc, done.account_id, True, "") == ""
    return str(person.email)


def sign_in(tab: Any, base: str, email: str) -> None:
    tab.goto(f"{base}/account/login")
    tab.locator("#login").fill(email)
    tab.locator("#password").fill(PASSWORD)
    tab.locator("button[type=submit]").click()


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_signed_in_pages_in_each_language(
    live: Any, browser: Any, inbox: Inbox, adults: list[Any], lang: str
) -> None:
    server = live()
    email = ready_account(server, inbox, adults[7 + i18n.LANGUAGES.index(lang)])
    context = browser.new_context(extra_http_headers={"Accept-Language": lang})
    tab = context.new_page()
    tab.goto(f"{server.url}/account/forgot")
    assert tab.get_by_role("heading", level=1).inner_text() == i18n.text("forgot_title", lang)
    sign_in(tab, server.url, email)
    assert tab.get_by_role("heading", level=1).inner_text() == i18n.text("home_title", lang)
    for path, title in [
        ("identities", "identities_title"),
        ("profile", "profile_title"),
        ("password", "password_title"),
        ("email", "email_title"),
        ("totp", "totp_title"),
    ]:
        response = tab.goto(f"{server.url}/account/{path}")
        assert response.status == 200
        assert response.headers["content-language"] == lang
        assert tab.get_by_role("heading", level=1).inner_text() == i18n.text(title, lang)
        for field in tab.locator("input:not([type=hidden])").all():
            assert tab.locator(f"label[for='{field.get_attribute('id')}']").count() == 1
    context.close()


def test_the_profile_shows_what_the_hospital_holds(
    live: Any, browser: Any, inbox: Inbox, adults: list[Any], sqlite_his: str
) -> None:
    """The profile (the manual's: name, email, birth date, address) shows the HIS's details of
    the person read-only, in the page's language, beside the one field the account edits."""
    import sqlalchemy as sa

    from fhir_gateway.his.schema import patient

    person = adults[11]
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        row = conn.execute(sa.select(patient).where(patient.c.id == person.id)).one()
    engine.dispose()
    server = live()
    email = ready_account(server, inbox, person)
    context = browser.new_context(extra_http_headers={"Accept-Language": "pl"})
    tab = context.new_page()
    sign_in(tab, server.url, email)
    tab.goto(f"{server.url}/account/profile")
    shown = dict(
        zip(
            tab.locator("#held-details dt").all_inner_texts(),
            tab.locator("#held-details dd").all_inner_texts(),
            strict=True,
        )
    )
    assert shown[i18n.text("full_name", "pl")] == f"{row.given} {row.family}"
    assert shown[i18n.text("email", "pl")] == row.email
    assert shown[i18n.text("birth_date", "pl")] == row.birth_date.strftime("%d.%m.%Y")
    assert row.city in shown[i18n.text("address", "pl")]
    assert "rejestracji szpitala" in tab.locator("#held-note").inner_text()
    assert tab.locator("#held-details input").count() == 0  # read-only
    assert tab.get_by_label(i18n.text("phone", "pl")).count() == 1
    context.close()


def test_reset_password_through_the_mailed_link(
    live: Any, page: Any, inbox: Inbox, adults: list[Any]
) -> None:
    server = live()
    email = ready_account(server, inbox, adults[10])
    page.goto(f"{server.url}/account/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    assert page.get_by_role("status").inner_text() == i18n.text("reset_sent", "en")
    link = inbox.link(email)
    assert link.startswith(f"{server.url}/account/reset/")
    page.goto(link)
    page.get_by_label("New password").fill("a fresh passphrase")
    page.get_by_role("button", name="Save the password").click()
    assert page.get_by_role("status").inner_text() == i18n.text("password_changed", "en")
    page.goto(link)
    page.get_by_label("New password").fill("yet another passphrase")
    page.get_by_role("button", name="Save the password").click()
    assert page.locator("#form-error").inner_text() == i18n.text("bad_link", "en")


def test_totp_turned_on_then_asked_at_sign_in(
    live: Any, page: Any, inbox: Inbox, adults: list[Any]
) -> None:
    server = live()
    email = ready_account(server, inbox, adults[11])
    sign_in(page, server.url, email)
    page.get_by_role("link", name="Authenticator app").click()
    secret = page.locator("#totp-key").inner_text()
    page.get_by_label("Code").fill("000000" if pyotp.TOTP(secret).now() != "000000" else "1")
    page.get_by_role("button", name="Verify").click()
    assert page.locator("#form-error").inner_text() == i18n.text("bad_code", "en")
    assert page.locator("#totp-key").inner_text() == secret
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    assert page.get_by_role("status").inner_text() == i18n.text("totp_on", "en")
    page.goto(f"{server.url}/account/")
    page.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(page, server.url, email)
    assert page.locator("#factor-help").inner_text() == i18n.text("factor_totp", "en")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    assert page.locator("#signed-in").is_visible()


def test_add_and_remove_a_minor_in_care(
    live: Any,
    page: Any,
    inbox: Inbox,
    family: tuple[Any, Any, Any],  # noqa: F811
) -> None:
    guardian, ward, stranger = family
    server = live()
    sign_in(page, server.url, ready_account(server, inbox, guardian))
    page.goto(f"{server.url}/account/identities")
    page.get_by_label("Personal numeric code (CNP)").fill(stranger.national_id)
    page.get_by_role("button", name="Add").click()
    assert page.locator("#form-error").inner_text() == i18n.text("not_guardian", "en")
    page.get_by_label("Personal numeric code (CNP)").fill(ward.national_id)
    page.get_by_role("button", name="Add").click()
    # count() does not wait for the page the form post leads to; expect() does
    items = page.locator("#identities li")
    expect(items).to_have_count(2)
    assert f"{ward.given} {ward.family} (In my care)" in items.nth(1).inner_text()
    page.get_by_role("button", name=f"Remove: {ward.given} {ward.family}").click()
    # removing asks first, naming the person; "No" keeps them
    expect(page.get_by_role("heading", level=1)).to_have_text(
        i18n.text("remove_title", "en", name=f"{ward.given} {ward.family}")
    )
    page.get_by_role("link", name=i18n.text("remove_cancel", "en")).click()
    expect(page.locator("#identities li")).to_have_count(2)
    page.get_by_role("button", name=f"Remove: {ward.given} {ward.family}").click()
    page.get_by_role("button", name=i18n.text("remove_confirm", "en")).click()
    expect(page.locator("#identities li")).to_have_count(1)
    assert page.get_by_role("status").inner_text() == i18n.text(
        "removed", "en", name=f"{ward.given} {ward.family}"
    )
