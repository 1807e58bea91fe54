"""The medical record (F10) through the portal against a served gateway: the patient's
encounters newest first as the gateway answers them, the quick period filters and the advanced
filters turned into the gateway's own search, paging, an encounter's documents, reports and
studies, the share link, the error and empty states, RO and EN with axe-core and screenshots,
the main flow by keyboard, and another patient's encounter answered 404."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portal.screens import record
from tests.conftest import app_config
from tests.portal.conftest import axe_clean, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox

ZONE = ZoneInfo("Europe/Bucharest")


def open_search(his_url: str, query: str) -> dict[str, Any]:
    """A search as the gateway answers it with authorization off (what the HIS holds)."""
    from gateway.app import create_app

    app = create_app(app_config(his_url))
    bundle: dict[str, Any] = app.test_client().get(f"/fhir/{query}").get_json()
    app.extensions["state_engine"].dispose()
    return bundle


def found(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "match" and e["resource"]["resourceType"] == kind
    ]


def shown_time(instant: str) -> str:
    moment = dt.datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZONE)
    return moment.strftime("%d/%m/%Y %H:%M")


def test_record_newest_first_filters_paging_detail_and_languages(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],
    sqlite_his: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    portal = served["portal"]
    counts = {
        p.id: len(
            found(open_search(sqlite_his, f"Encounter?patient={p.id}&_count=100"), "Encounter")
        )
        for p in adults[:12]
    }
    person = next(p for p in adults if p.id == max(counts, key=lambda k: counts[k]))
    other = next(p for p in adults if p.id != person.id and counts.get(p.id))
    expected = found(
        open_search(sqlite_his, f"Encounter?patient={person.id}&_sort=-date&_count=100"),
        "Encounter",
    )
    assert len(expected) >= 4
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)

    page.get_by_role("main").get_by_role("link", name="Medical record").click()
    page.wait_for_url(f"{portal}/record")
    assert page.get_by_role("heading", level=1).inner_text() == "Medical record"
    rows = page.locator("#encounters tbody tr")
    numbers = [r.locator("td").nth(1).locator("a").inner_text() for r in rows.all()]
    assert numbers == [e["identifier"][0]["value"] for e in expected]
    assert f"{len(expected)} encounters" in page.locator("#encounters caption").inner_text()
    first = rows.first.locator("td")
    assert first.nth(2).inner_text().endswith(shown_time(expected[0]["period"]["start"]))
    assert first.nth(5).inner_text().endswith("Finished") or expected[0]["status"] != "finished"
    doctor = expected[0]["participant"][0]["individual"]["reference"].split("/")[1]
    practitioner = open_search(sqlite_his, f"Practitioner?_id={doctor}")["entry"][0]["resource"]
    assert practitioner["name"][0]["family"] in first.nth(3).inner_text()
    # the active period: from the oldest encounter to today
    oldest = min(e["period"]["start"][:10] for e in expected)
    period_text = page.locator("#active-period").inner_text()
    assert dt.date.fromisoformat(oldest).strftime("%d/%m/%Y") in period_text
    assert page.locator("#share-record").get_attribute("href") == "/shares/new?what=record"
    assert page.locator("script").count() == 0
    axe_clean(page, "record-en")

    # quick filters: the gateway's own answer for that period
    year = expected[0]["period"]["start"][:4]
    this_year = dt.datetime.now(ZONE).year
    page.get_by_role("link", name="Last 3 years").click()
    today = dt.datetime.now(ZONE).date()
    since = today.replace(year=this_year - 3)
    wanted = found(
        open_search(
            sqlite_his,
            f"Encounter?patient={person.id}&_sort=-date&_count=100&date=ge{since.isoformat()}"
            f"&date=le{today.isoformat()}",
        ),
        "Encounter",
    )
    shown = [r.locator("td").nth(1).locator("a").inner_text() for r in rows.all()]
    assert shown == [e["identifier"][0]["value"] for e in wanted]
    assert page.get_by_role("link", name="Last 3 years").get_attribute("aria-current") == "true"

    # advanced filters: a date range and a type, as the gateway searches them
    page.goto(f"{portal}/record?from={year}-01-01&to={year}-12-31&type=AMB")
    wanted = found(
        open_search(
            sqlite_his,
            f"Encounter?patient={person.id}&_sort=-date&_count=100&date=ge{year}-01-01"
            f"&date=le{year}-12-31&type=AMB",
        ),
        "Encounter",
    )
    if wanted:
        shown = [r.locator("td").nth(1).locator("a").inner_text() for r in rows.all()]
        assert shown == [e["identifier"][0]["value"] for e in wanted]
    assert f"01/01/{year}" in page.locator("#active-period").inner_text()
    assert page.locator("#type").input_value() == "AMB"

    # empty state: no encounter in that range
    page.goto(f"{portal}/record?from=1990-01-01&to=1990-12-31")
    assert page.locator("#no-encounters").is_visible()
    axe_clean(page, "record-empty-en")

    # error state: a date that is no date
    answer = page.goto(f"{portal}/record?from=2024-02-31")
    assert answer is not None
    assert answer.status == 400
    assert (
        "Enter the start date as a real date." in page.locator(".nhsuk-error-summary").inner_text()
    )
    axe_clean(page, "record-error-en")

    # paging: the gateway's next page through the portal's own link
    monkeypatch.setattr(record, "PAGE_SIZE", 2)
    page.goto(f"{portal}/record")
    seen = [r.locator("td").nth(1).locator("a").inner_text() for r in rows.all()]
    assert len(seen) == 2
    while page.get_by_role("link", name="Next page").count():
        page.get_by_role("link", name="Next page").click()
        seen += [r.locator("td").nth(1).locator("a").inner_text() for r in rows.all()]
    assert seen == [e["identifier"][0]["value"] for e in expected]
    assert page.get_by_role("link", name="First page").count() == 1
    # an altered cursor starts again from the first page rather than failing
    page.goto(f"{portal}/record?cursor=forged")
    assert rows.count() == 2
    monkeypatch.setattr(record, "PAGE_SIZE", 20)

    # an encounter with its documents, reports and studies, as the gateway links them
    linked = next(
        (
            e
            for e in expected
            if found(
                open_search(sqlite_his, f"DocumentReference?encounter={e['id']}"),
                "DocumentReference",
            )
        ),
        expected[0],
    )
    documents = found(
        open_search(sqlite_his, f"DocumentReference?encounter={linked['id']}"), "DocumentReference"
    )
    page.goto(f"{portal}/record")
    page.get_by_role("link", name=linked["identifier"][0]["value"], exact=True).click()
    assert linked["identifier"][0]["value"] in page.get_by_role("heading", level=1).inner_text()
    if documents:
        number = documents[0]["identifier"][0]["value"]
        link = page.get_by_role("link", name=f"Open document {number}")
        pdf = page.request.get(f"{portal}{link.get_attribute('href')}")
        assert pdf.status == 200
        assert pdf.body().startswith(b"%PDF")
    axe_clean(page, "record-encounter-en")
    # an encounter with results or imaging: the same ones the gateway links to it
    for candidate in expected:
        reports = found(
            open_search(sqlite_his, f"DiagnosticReport?encounter={candidate['id']}"),
            "DiagnosticReport",
        )
        studies = found(
            open_search(sqlite_his, f"ImagingStudy?encounter={candidate['id']}"), "ImagingStudy"
        )
        if reports or studies:
            page.goto(f"{portal}/record/{candidate['id']}")
            assert page.locator("#encounter-reports li").count() == len(reports)
            assert page.locator("#encounter-studies li").count() == len(studies)
            break

    # another patient's encounter through the portal's address: 404, none of their data
    theirs = found(open_search(sqlite_his, f"Encounter?patient={other.id}"), "Encounter")[0]
    answer = page.goto(f"{portal}/record/{theirs['id']}")
    assert answer is not None
    assert answer.status == 404
    assert theirs["identifier"][0]["value"] not in page.content()

    # Romanian: the same list, dates as 21.04.2026 and the period with them
    page.goto(f"{portal}/record")
    page.get_by_role("button", name="Română").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Dosar medical"
    assert (
        page.locator("#encounters tbody tr")
        .first.locator("td")
        .nth(2)
        .inner_text()
        .endswith(shown_time(expected[0]["period"]["start"]).replace("/", "."))
    )
    axe_clean(page, "record-ro")
    page.goto(f"{portal}/record/{linked['id']}")
    assert page.get_by_role("heading", level=2).first.inner_text() == "Documente"
    axe_clean(page, "record-encounter-ro")
    page.goto(f"{portal}/record?from=2024-02-31")
    axe_clean(page, "record-error-ro")
    page.goto(f"{portal}/record?from=1990-01-01&to=1990-12-31")
    axe_clean(page, "record-empty-ro")
    context.close()


def test_record_by_keyboard(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], sqlite_his: str
) -> None:
    """From the home page to an encounter's page with Tab and Enter only."""
    person = next(
        p
        for p in adults
        if found(open_search(sqlite_his, f"Encounter?patient={p.id}"), "Encounter")
    )
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)

    def tab_to(selector: str) -> None:
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("nav a[href='/record']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served['portal']}/record")
    tab_to("a[href*='period=last-3-years']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/record?period=last-3-years")
    page.goto(f"{served['portal']}/record")
    tab_to("summary")
    page.keyboard.press("Enter")  # opens the advanced filters
    tab_to("#type")
    page.keyboard.press("Space")
    page.keyboard.press("Escape")
    tab_to("#filters button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/record?**")
    tab_to("#encounters tbody a")
    page.keyboard.press("Enter")
    page.wait_for_url("**/record/*")
    assert page.locator("#encounter").is_visible()
    context.close()


def test_periods_as_fhir_date_searches(tmp_path: Any) -> None:
    """The quick choices and the typed range as the gateway's date parameters, in the hospital's
    time zone; a day that is no day, or an end before the start, is refused and searches
    nothing narrower than asked."""
    from portal.app import create_portal
    from portal.screens import period

    app = create_portal(
        {
            "portal_fhir_url": "http://127.0.0.1:9/fhir",
            "portal_public_url": "http://127.0.0.1:8090",
            "portal_client_id": "portal",
            "portal_state_url": f"sqlite:///{tmp_path / 'p.sqlite'}",
            "portal_time_zone": "Europe/Warsaw",
        }
    )
    with app.test_request_context("/record", headers={"Accept-Language": "pl"}):
        today = dt.datetime.now(ZoneInfo("Europe/Warsaw")).date()
        assert period.today() == today
        this = period.chosen({"period": "this-year"})
        assert this.params() == [f"ge{today.year}-01-01", f"le{today.isoformat()}"]
        last = period.chosen({"period": "last-year"})
        assert last.params() == [f"ge{today.year - 1}-01-01", f"le{today.year - 1}-12-31"]
        assert period.chosen({}).params() == []
        typed = period.chosen({"from": "2024-02-29", "to": ""})
        assert typed.params() == ["ge2024-02-29"]
        assert typed.query() == {"from": "2024-02-29", "to": ""}
        assert period.chosen({"from": "2024-02-30"}).errors[0][0] == "from"
        backwards = period.chosen({"from": "2025-01-01", "to": "2024-01-01"})
        assert [f for f, _ in backwards.errors] == ["to"]
        assert backwards.params() == []
        # 23:30 UTC on 31 December is already the next year in Warsaw
        assert period.local_datetime("2025-12-31T23:30:00Z") == "01.01.2026 00:30"
        assert period.local_day("2025-12-31T23:30:00Z") == "01.01.2026"
        assert period.local_day("2025-12-31") == "31.12.2025"
    app.extensions["portal_engine"].dispose()
    from gateway.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="PORTAL_TIME_ZONE"):
        Settings.from_mapping({"portal_time_zone": "Mars/Olympus"})
