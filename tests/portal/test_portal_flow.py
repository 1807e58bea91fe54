"""The patient portal against a served gateway: a patient signs in through the portal (the
gateway's real sign-in, second-factor, clause and consent pages, PKCE, a confidential client),
lands on the home page, switches identity, reads the laboratory results list and a PDF through
the portal; cookie flags, CSRF refusal and the CSP; screenshots at 360 and 1280 px and axe-core
with no violation on each page in RO, PL and EN. Needs Chromium and the portal's assets
(``make setup``)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

import requests
import sqlalchemy as sa

from fhir_gateway.his.schema import guardian_link, patient
from portal.sessions import portal_session
from smart_auth.accounts import i18n
from tests.portal.conftest import (  # noqa: F401
    axe_clean,
    lab_reports,
    pytestmark,
    sign_in_with_ward,
)
from tests.smart_auth.accounts.conftest import Inbox
from tests.smart_auth.accounts.test_pages import PASSWORD, accept_clause, register

EN = {"Accept-Language": "en"}


def test_sign_in_home_identity_results_in_three_languages(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],
    sqlite_his: str,
) -> None:
    gateway, portal = served["gateway"], served["portal"]
    person = next(p for p in adults if lab_reports(sqlite_his, p.id))
    expected = lab_reports(sqlite_his, person.id)
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    email = register(page, gateway, person, inbox)
    context.clear_cookies()

    # signed out: the start page, in the browser's language
    first = page.goto(portal)
    assert first is not None
    assert first.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src 'none'" in first.headers["content-security-policy"]
    assert page.locator("script").count() == 0
    assert page.locator("#emergency p").inner_text() == "In an emergency call 112."
    axe_clean(page, "start-en")

    # sign in: the portal sends the browser to the gateway's authorization server
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url(f"{gateway}/account/login?*")
    page.get_by_label("Email or user name").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code").fill(inbox.code(email))
    page.get_by_role("button", name="Verify").click()
    accept_clause(page)
    page.wait_for_url(f"{gateway}/oauth/authorize?*")
    assert "Patient portal" in page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{portal}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome"

    # the session cookie: opaque, HttpOnly, SameSite=Strict; no token in any cookie
    cookies = {c["name"]: c for c in context.cookies(portal)}
    mine = cookies["portal"]
    assert mine["httpOnly"] is True
    assert mine["sameSite"] == "Strict"
    assert mine["secure"] is False  # plain http on 127.0.0.1 only; __Host- + Secure on https
    assert len(mine["value"]) == 43
    assert "." not in mine["value"]

    # the identity switcher lists the account's own record, active
    switcher = page.get_by_label("Active patient")
    assert switcher.input_value() == str(person.id)
    assert f"{person.given} {person.family}" in switcher.inner_text()
    page.get_by_role("button", name="Switch").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome"
    axe_clean(page, "home-en")

    # a forged or stale form: refused
    no_token = page.request.post(f"{portal}/identity", form={"patient": str(person.id)}, headers=EN)
    assert no_token.status == 400
    assert "The form expired" in no_token.text()
    token = page.locator("input[name=csrf_token]").first.input_value()
    other = next(p for p in adults if p.id != person.id)
    outside = page.request.post(
        f"{portal}/identity", form={"patient": str(other.id), "csrf_token": token}, headers=EN
    )
    assert outside.status == 400
    assert "not in your care" in outside.text()

    # laboratory results: the patient's reports, newest first, with the PDF through the portal
    page.get_by_role("main").get_by_role("link", name="Laboratory results").click()
    page.wait_for_load_state()  # the stylesheet too: it hides the cells' narrow-screen headings
    rows = page.locator("#results tbody tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == expected
    dates = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4}", d) for d in dates), dates
    axe_clean(page, "results-en")
    link = page.get_by_role("link", name=f"Open the PDF of report {expected[0]}")
    pdf = page.request.get(f"{portal}{link.get_attribute('href')}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    signed_out = requests.get(
        f"{portal}{link.get_attribute('href')}", timeout=10, allow_redirects=False
    )
    assert signed_out.status_code == 302  # without the session: back to the start page

    # the access token expired: the portal refreshes it server-side, the page still reads
    engine = served["app"].extensions["portal_engine"]
    with engine.begin() as conn:
        (data,) = conn.execute(sa.select(portal_session.c.data)).one()
        kept = json.loads(data)
        before = kept["tokens"]
        kept["tokens"]["expires_at"] = 0
        conn.execute(portal_session.update().values(data=json.dumps(kept)))
    page.reload()
    assert rows.count() == len(expected)
    with engine.connect() as conn:
        after = json.loads(conn.execute(sa.select(portal_session.c.data)).scalar_one())["tokens"]
    assert after["access_token"] != before["access_token"]
    assert after["expires_at"] > time.time() + 60
    assert before["access_token"] not in page.content()

    # server time of the two signed-in pages (home makes no FHIR request, results one), beside
    # the time of that FHIR request made straight to the gateway with the session's token
    auth = {"Authorization": f"Bearer {after['access_token']}"}
    times = []
    for _ in range(20):
        started = time.perf_counter()
        search = requests.get(
            f"{gateway}/fhir/DiagnosticReport",
            params={"patient": str(person.id), "category": "LAB", "_sort": "-date"},
            headers=auth,
            timeout=10,
        )
        assert search.status_code == 200
        times.append(time.perf_counter() - started)
    times.sort()
    print(f"FHIR DiagnosticReport search: p50 {times[10] * 1000:.1f} ms")
    for path in ("/", "/results"):
        times = []
        for _ in range(20):
            started = time.perf_counter()
            assert page.request.get(f"{portal}{path}").status == 200
            times.append(time.perf_counter() - started)
        times.sort()
        print(f"portal {path}: p50 {times[10] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms")

    # Romanian and Polish: the same pages in each language, dates as each writes them
    for lang, button, title, results_title in (
        ("ro", "Română", "Bine ați venit", "Rezultate de laborator"),
        ("pl", "Polski", "Witamy", "Wyniki badań laboratoryjnych"),
    ):
        page.goto(f"{portal}/results")
        page.get_by_role("button", name=button).click()
        assert page.locator("html").get_attribute("lang") == lang
        assert page.get_by_role("heading", level=1).inner_text() == results_title
        shown = page.locator("#results tbody tr td:nth-child(2)").all_inner_texts()
        assert [d.replace(".", "/") for d in shown] == dates  # 21.04.2026, the same days
        axe_clean(page, f"results-{lang}")
        page.goto(f"{portal}/")
        assert page.get_by_role("heading", level=1).inner_text() == title
        axe_clean(page, f"home-{lang}")

    # sign out: the server forgets the session; the old cookie opens nothing
    old = mine["value"]
    page.get_by_role("button", name="Wyloguj").click()
    assert page.locator("#sign-in").count() == 1
    again = requests.get(
        f"{portal}/results", cookies={"portal": old}, timeout=10, allow_redirects=False
    )
    assert again.status_code == 302
    context.close()
    assert i18n.text("login_title", "en")


def test_a_guardian_switches_to_the_ward_and_reads_the_wards_results(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    sqlite_his: str,
) -> None:
    engine = sa.create_engine(sqlite_his)
    with engine.connect() as conn:
        links = conn.execute(
            sa.select(patient, guardian_link.c.ward_id)
            .join(guardian_link, guardian_link.c.guardian_id == patient.c.id)
            .where(patient.c.national_id_kind == "CNP", patient.c.email.is_not(None))
            .where(
                sa.or_(
                    guardian_link.c.valid_to.is_(None),
                    guardian_link.c.valid_to > dt.date.today(),
                )
            )
            .where(patient.c.id.not_in(sa.select(guardian_link.c.ward_id)))
            .order_by(patient.c.id)
        ).all()
    guardian, ward = next(
        (row, row.ward_id) for row in links if lab_reports(sqlite_his, row.ward_id)
    )
    with engine.connect() as conn:
        ward_id_number = conn.execute(
            sa.select(patient.c.national_id).where(patient.c.id == ward)
        ).scalar_one()
    engine.dispose()
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in_with_ward(page, served, guardian, ward_id_number, inbox)

    switcher = page.get_by_label("Active patient")
    offered = [o.get_attribute("value") for o in switcher.locator("option").all()]
    assert str(guardian.id) in offered
    assert str(ward) in offered
    switcher.select_option(str(ward))
    page.get_by_role("button", name="Switch").click()
    assert page.get_by_label("Active patient").input_value() == str(ward)
    page.get_by_role("main").get_by_role("link", name="Laboratory results").click()
    page.wait_for_load_state()  # the stylesheet too: it hides the cells' narrow-screen headings
    rows = page.locator("#results tbody tr")
    shown = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert shown == lab_reports(sqlite_his, ward)
    # the guardian's own reports are not the ward's
    assert not set(shown) & set(lab_reports(sqlite_his, guardian.id))
    context.close()
