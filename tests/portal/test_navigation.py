"""The portal's navigation on a phone and on a wide screen: at 360 px the services fold into a
"Menu" disclosure, so the page's heading is on the first screen, and every service is reached
from it by keyboard with script turned off; at 1280 px the services are a row shown without
opening anything. The page being read keeps aria-current="page" in both."""

from __future__ import annotations

import re
from typing import Any

from tests.portal.conftest import axe_clean, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox

PHONE = {"width": 360, "height": 740}
#: what NHS.UK frontend's macros write when a text is not given them: never on a page
MACRO_DEFAULTS = re.compile(
    r"Error: </span>|Information: </span>|There is a problem|Skip to main content"
    r"|>\s*(Back|Menu|More|Previous|Next|Search)\s*<|aria-label=\"(Menu|NHS|Pagination)"
    r"|Browse|homepage|Support links|NHS England|<title>NHS</title>"
)
WIDE = {"width": 1280, "height": 800}


def focused_href(page: Any) -> str:
    return str(page.evaluate("document.activeElement.getAttribute('href') || ''"))


def test_a_phone_menu_without_script_and_a_row_on_a_wide_screen(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any]
) -> None:
    portal = served["portal"]
    context = browser.new_context(locale="en-GB", viewport=WIDE)
    page = context.new_page()
    sign_in(page, served, adults[0], inbox)

    # wide: the row of services is shown as it is, the phone's menu is not
    row = page.get_by_role("navigation", name="Services")
    assert row.count() == 1
    services = [link.get_attribute("href") for link in row.get_by_role("link").all()]
    assert services[0] == "/"
    assert len(services) >= 12, services  # home and every service
    for link in row.get_by_role("link").all():
        assert link.is_visible()
    assert row.locator("a[aria-current=page]").get_attribute("href") == "/"
    assert not page.get_by_text("Menu", exact=True).is_visible()

    # a phone, script turned off: the heading is on the first screen, above the services
    phone = browser.new_context(
        locale="en-GB",
        viewport=PHONE,
        java_script_enabled=False,
        storage_state=context.storage_state(),
    )
    small = phone.new_page()
    small.goto(f"{portal}/record")
    heading = small.get_by_role("heading", level=1).bounding_box()
    assert heading is not None
    assert heading["y"] < 400, heading
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    menu = small.get_by_role("navigation", name="Services")
    assert menu.count() == 1
    assert not menu.get_by_role("link").first.is_visible()  # folded until asked for

    # by keyboard: Tab to "Menu", Enter opens it, Tab walks every service in order
    for _ in range(10):
        small.keyboard.press("Tab")
        if small.evaluate("document.activeElement.tagName") == "SUMMARY":
            break
    assert small.evaluate("document.activeElement.innerText.trim()") == "Menu"
    small.keyboard.press("Enter")
    reached = []
    for _ in services:
        small.keyboard.press("Tab")
        reached.append(focused_href(small))
    assert reached == services
    current = menu.locator("a[aria-current=page]")
    assert current.count() == 1
    assert current.get_attribute("href") == "/record"

    # Enter on a service opens it; its menu entry is then the current page
    small.keyboard.press("Shift+Tab")
    target = focused_href(small)
    small.keyboard.press("Enter")
    small.wait_for_url(f"{portal}{target}")
    assert menu.locator("a[aria-current=page]").get_attribute("href") == target
    phone.close()

    # in Romanian no English default of the macros is left on the frame, a form with an
    # error, a table, pagination or a back link
    page.get_by_role("button", name="Română").click()
    for path in ("/", "/record?from=2024-02-31", "/results", "/documents", "/history"):
        page.goto(f"{portal}{path}")
        html = page.content()
        assert page.locator("html").get_attribute("lang") == "ro"
        assert [m.group(0) for m in MACRO_DEFAULTS.finditer(html)] == [], path
    assert page.locator(".nhsuk-error-summary").count() == 0  # (the last page: no form)
    page.goto(f"{portal}/record?from=2024-02-31")
    assert page.locator(".nhsuk-error-summary").count() == 1
    page.get_by_role("button", name="English").click()

    # the open menu at 360 px passes axe-core like the rest of the page
    page.set_viewport_size(PHONE)
    page.goto(f"{portal}/record")
    page.get_by_text("Menu", exact=True).click()
    assert page.get_by_role("navigation", name="Services").get_by_role("link").count() == len(
        services
    )
    axe_clean(page, "navigation-menu-open")
    context.close()
