"""All documents (F13) through the portal against a served gateway: the total count and the
list newest first as the gateway answers them, the kind and period filters, a file opened
through the portal, the empty and error states in EN and PL with axe-core, and another
patient's document answered 404."""

from __future__ import annotations

from typing import Any

from tests.portal.conftest import axe_clean, pytestmark, sign_in  # noqa: F401
from tests.portal.test_record import found, open_search
from tests.smart_auth.accounts.conftest import Inbox


def test_documents_total_filters_file_and_languages(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], sqlite_his: str
) -> None:
    portal = served["portal"]
    totals = {
        p.id: open_search(sqlite_his, f"DocumentReference?patient={p.id}&_summary=count")["total"]
        for p in adults[:12]
    }
    person = next(p for p in adults if p.id == max(totals, key=lambda k: totals[k]))
    other = next(p for p in adults if p.id != person.id and totals.get(p.id))
    expected = found(
        open_search(sqlite_his, f"DocumentReference?patient={person.id}&_sort=-date&_count=100"),
        "DocumentReference",
    )
    assert len(expected) == totals[person.id] >= 3
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)

    page.get_by_role("main").get_by_role("link", name="All documents").click()
    page.wait_for_url(f"{portal}/documents")
    assert page.locator("#documents-total").inner_text() == f"{len(expected)} documents"
    rows = page.locator("#documents tbody tr")
    ids = [r.locator("td").first.get_attribute("data-id") or "" for r in rows.all()]
    numbers = [r.locator("td").nth(1).inner_text().split()[-1] for r in rows.all()]
    assert numbers == [d["identifier"][0]["value"] for d in expected[:20]]
    assert "You uploaded 0 documents yourself." in page.locator("#uploads-count").inner_text()
    axe_clean(page, "documents-en")
    page.set_viewport_size({"width": 360, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing runs off
    page.set_viewport_size({"width": 1280, "height": 900})

    # a file through the portal: the gateway's own bytes
    link = page.get_by_role("link", name=f"Open document {numbers[0]}")
    answer = page.request.get(f"{portal}{link.get_attribute('href')}")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF")
    assert ids  # each row names its document

    # each document can be shared: its link opens the share dialog for that document alone
    share = page.get_by_role("link", name=f"Share document {numbers[0]}")
    assert share.get_attribute("href") == f"/shares/new?what=DocumentReference/{ids[0]}"
    share.click()
    page.wait_for_url(f"{portal}/shares/new?what=DocumentReference/{ids[0]}")
    assert page.get_by_role("heading", level=1).inner_text() == "Share a document"
    page.go_back()

    # the kind filter: the gateway's answer for that category
    kind = next(
        c["code"]
        for c in expected[0]["category"][0]["coding"]
        if c["system"].endswith("/document-kind")
    )
    wanted = found(
        open_search(
            sqlite_his,
            f"DocumentReference?patient={person.id}&_sort=-date&_count=100&category={kind}",
        ),
        "DocumentReference",
    )
    page.get_by_text("Advanced filters").click()
    page.locator("#kind").select_option(kind)
    page.get_by_role("button", name="Apply the filters").click()
    page.wait_for_url(f"**/documents?**kind={kind}**")
    shown = [r.locator("td").nth(1).inner_text().split()[-1] for r in rows.all()]
    assert shown == [d["identifier"][0]["value"] for d in wanted]
    count = len(wanted)
    assert page.locator("#documents-total").inner_text() == (
        f"{count} document" if count == 1 else f"{count} documents"
    )

    # a period: last year's documents, as the gateway dates them
    page.goto(f"{portal}/documents?from=1990-01-01&to=1990-12-31")
    assert page.locator("#no-documents").is_visible()
    assert page.locator("#documents-total").inner_text() == "0 documents"
    axe_clean(page, "documents-empty-en")
    answer = page.goto(f"{portal}/documents?from=2025-01-01&to=2024-01-01")
    assert answer is not None
    assert answer.status == 400
    assert (
        "The end date must not be before the start."
        in page.locator(".nhsuk-error-summary").inner_text()
    )
    axe_clean(page, "documents-error-en")

    # another patient's document: 404 through the portal, not their file
    theirs = found(
        open_search(sqlite_his, f"DocumentReference?patient={other.id}"), "DocumentReference"
    )[0]
    answer = page.request.get(f"{portal}/documents/{theirs['id']}/file")
    assert answer.status == 404
    assert not answer.body().startswith(b"%PDF")

    # Polish: the count in its plural forms, the dates as 21.04.2026
    page.goto(f"{portal}/documents")
    page.get_by_role("button", name="Polski").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Wszystkie dokumenty"
    n = len(expected)
    form = (
        "dokument"
        if n == 1
        else ("dokumenty" if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else "dokumentów")
    )
    assert page.locator("#documents-total").inner_text() == f"{n} {form}"
    date = rows.first.locator("td").nth(2).inner_text().split()[-1]
    assert date.count(".") == 2
    axe_clean(page, "documents-pl")
    page.goto(f"{portal}/documents?from=1990-01-01&to=1990-12-31")
    axe_clean(page, "documents-empty-pl")
    page.goto(f"{portal}/documents?from=2025-01-01&to=2024-01-01")
    axe_clean(page, "documents-error-pl")
    context.close()


def test_documents_by_keyboard(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], sqlite_his: str
) -> None:
    """From the navigation to a kind of document and its file, with Tab, Enter and arrows."""
    person = next(
        p
        for p in adults
        if open_search(sqlite_his, f"DocumentReference?patient={p.id}&_summary=count")["total"]
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

    tab_to("nav a[href='/documents']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served['portal']}/documents")
    tab_to("summary")
    page.keyboard.press("Enter")
    tab_to("#kind")
    page.keyboard.press("ArrowDown")  # the first kind of document
    tab_to("#filters button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/documents?**kind=DISCHARGE**")
    assert page.locator("#kind").input_value() == "DISCHARGE"
    tab_to("a[href='/documents']")  # back to every document, by the navigation
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served['portal']}/documents")
    tab_to("#documents a[href$='/file']")
    href = page.evaluate("document.activeElement.getAttribute('href')")
    assert href.endswith("/file")
    opened = page.request.get(f"{served['portal']}{href}")
    assert opened.status == 200
    assert opened.body().startswith(b"%PDF")
    context.close()
