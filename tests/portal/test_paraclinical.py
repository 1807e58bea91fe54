"""The portal's paraclinical results (F12): the active patient's ECG, EEG, spirometry, ...
reports as the gateway's search by the paraclinical categories answers them, newest first, each
PDF shown and downloaded through the portal, a share link; another patient's report, or a lab
report, through the paraclinical URLs is 404. axe-core in English and Polish, filled, empty and
error states; the flow by keyboard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import app_config
from tests.portal.conftest import axe_clean, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox

EN = {"Accept-Language": "en"}
#: the v2-0074 sections of paraclinical reports (mappers.codes.PARACLINICAL_KINDS)
CATEGORIES = "EC,EN,PF,AU,CUS"


@pytest.fixture(scope="module")
def reports(sqlite_his: str) -> Iterator[Any]:
    """A patient's reports of ``category`` as the gateway answers with authorization off."""
    from gateway.app import create_app

    app = create_app(app_config(sqlite_his))
    client = app.test_client()

    def search(patient: int, category: str = CATEGORIES) -> list[dict[str, Any]]:
        answer = client.get(
            "/fhir/DiagnosticReport",
            query_string={"patient": patient, "category": category, "_sort": "-date"},
        )
        assert answer.status_code == 200
        return [e["resource"] for e in answer.get_json().get("entry", [])]

    yield search
    app.extensions["state_engine"].dispose()


def tab_to(page: Any, selector: str, limit: int = 120) -> None:
    target = page.locator(selector).first.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", target):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_paraclinical_reports_pdf_share_and_boundaries(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], reports: Any
) -> None:
    portal = served["portal"]
    person = next(p for p in adults if reports(p.id) and reports(p.id, "LAB"))
    other = next(p for p in adults if p.id != person.id and reports(p.id))
    expected = reports(person.id)
    context = browser.new_context(locale="en-GB", accept_downloads=True)
    page = context.new_page()
    sign_in(page, served, person, inbox)

    # by keyboard: the navigation entry, then the first report's PDF download
    tab_to(page, "nav.portal-nav a[href='/paraclinical']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/paraclinical")
    assert page.get_by_role("heading", level=1).inner_text() == "Paraclinical results"
    rows = page.locator("#results tbody tr")
    assert [r.locator("td").first.inner_text() for r in rows.all()] == [r["id"] for r in expected]
    tests = page.locator("#results tbody tr td:nth-child(3)").all_inner_texts()
    assert tests == [r["code"]["text"] for r in expected]
    conclusions = page.locator("#results tbody tr td:nth-child(4)").all_inner_texts()
    assert conclusions == [r.get("conclusion", "") for r in expected]
    first = expected[0]["id"]
    tab_to(page, f"a[href='/paraclinical/{first}/download.pdf']")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == f"{first}.pdf"
    with open(download.value.path(), "rb") as f:
        assert f.read(4) == b"%PDF"
    axe_clean(page, "paraclinical-en")

    link = page.get_by_role("link", name=f"Open the PDF of report {first}")
    inline = page.request.get(f"{portal}{link.get_attribute('href')}")
    assert inline.status == 200
    assert inline.headers["content-type"] == "application/pdf"
    assert inline.headers["content-disposition"] == f'inline; filename="{first}.pdf"'
    share = page.get_by_role("link", name=f"Share report {first}")
    assert share.get_attribute("href") == f"/shares/new?what=DiagnosticReport/{first}"

    # another patient's report, and a lab report, through the paraclinical URLs: 404
    theirs = reports(other.id)[0]["id"]
    lab = reports(person.id, "LAB")[0]["id"]
    for report_id in (theirs, lab, "para-0", "..%2Flab-1", "a,b"):
        for suffix in (".pdf", "/download.pdf"):
            answer = page.request.get(f"{portal}/paraclinical/{report_id}{suffix}", headers=EN)
            assert answer.status == 404, (report_id, suffix)
            assert answer.headers["content-type"].startswith("text/html")
    page.goto(f"{portal}/paraclinical/{theirs}.pdf")
    assert page.get_by_role("heading", level=1).inner_text() == "Something went wrong"
    axe_clean(page, "paraclinical-error-en")

    # Polish: the same list, dates as Polish writes them
    page.goto(f"{portal}/paraclinical")
    dates = page.locator("#results tbody tr td:nth-child(2)").all_inner_texts()
    page.get_by_role("button", name="Polski").click()
    page.wait_for_load_state()  # the stylesheet too: it hides the cells' narrow-screen headings
    assert page.get_by_role("heading", level=1).inner_text() == "Badania diagnostyczne"
    shown = page.locator("#results tbody tr td:nth-child(2)").all_inner_texts()
    assert [d.replace(".", "/") for d in shown] == dates
    axe_clean(page, "paraclinical-pl")
    page.goto(f"{portal}/paraclinical/{theirs}.pdf")
    axe_clean(page, "paraclinical-error-pl")
    context.close()


def test_a_patient_without_paraclinical_results(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], reports: Any
) -> None:
    portal = served["portal"]
    person = next(p for p in adults if not reports(p.id))
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)
    page.goto(f"{portal}/paraclinical")
    assert page.locator("#no-results").inner_text() == "There are no paraclinical results yet."
    assert page.locator("#results").count() == 0
    axe_clean(page, "paraclinical-empty-en")
    page.get_by_role("button", name="Polski").click()
    assert page.locator("#no-results").inner_text() == (
        "Nie ma jeszcze wyników badań diagnostycznych."
    )
    axe_clean(page, "paraclinical-empty-pl")
    context.close()
