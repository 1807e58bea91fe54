"""Every screen of the portal, in every language: a patient with data on each screen signs in,
and each page the navigation offers (and the home page) is axe-clean in Romanian, Polish and
English, says its language, and is photographed at 360, 768 and 1280 px. Each screen's own
tests go through its states (empty, filled, errors); this sweep makes sure no page is left
out of any language."""

from __future__ import annotations

from typing import Any

from tests.portal.conftest import axe_clean, lab_reports, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox

LANGUAGES = (("ro", "Română"), ("pl", "Polski"), ("en", "English"))


def test_every_page_in_every_language(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], sqlite_his: str
) -> None:
    portal = served["portal"]
    person = next(p for p in adults if lab_reports(sqlite_his, p.id))
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)
    # the Romanian manual's welcome: book a consultation, see the results
    actions = page.locator("#welcome-actions")
    actions.get_by_role("link", name="Book a consultation").click()
    page.wait_for_url(f"{portal}/appointments/book")
    page.go_back()
    actions.get_by_role("link", name="See your results").click()
    page.wait_for_url(f"{portal}/results")
    page.go_back()
    links = page.get_by_role("navigation", name="Services").get_by_role("link")
    paths = [link.get_attribute("href") or "" for link in links.all()]
    assert "/" in paths
    assert len(paths) >= 12, paths  # home and every service of the portal
    for lang, button in LANGUAGES:
        page.goto(f"{portal}/")
        page.get_by_role("button", name=button).click()
        for path in paths:
            answer = page.goto(f"{portal}{path}")
            assert answer is not None
            assert answer.status == 200, path
            assert page.locator("html").get_attribute("lang") == lang
            assert page.get_by_role("heading", level=1).count() == 1, path
            name = path.strip("/").replace("/", "-") or "home"
            axe_clean(page, f"every-{name}-{lang}")
    context.close()
