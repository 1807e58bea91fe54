"""The "My studies" screen and the home page it becomes with ``PORTAL_HOME=studies`` (Polish
portals open on it): a patient's laboratory, paraclinical and imaging reports and imaging
studies, newest first, compared with what the gateway answers; the default home stays the
tiles. axe-core in EN and PL; keyboard only; another patient's PDF through the list's URL is
404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_gateway.his.schema import imaging_order
from portal.app import create_portal
from tests.conftest import app_config
from tests.portal.conftest import SCOPE, Served, axe_clean, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox


def gateway_answers(his_url: str, patient_id: int) -> list[str]:
    """The patient's reports and imaging studies as the gateway answers with authorization
    off, newest first: the rows the page must show, by id."""
    from gateway.app import create_app

    app = create_app(app_config(his_url))
    client = app.test_client()
    found = []
    for path, when in (
        (f"/fhir/DiagnosticReport?patient={patient_id}&_sort=-date&_count=100", "effective"),
        (f"/fhir/ImagingStudy?patient={patient_id}&_sort=-started&_count=100", "started"),
    ):
        for entry in client.get(path).get_json().get("entry", []):
            resource = entry["resource"]
            date = (
                resource.get("started", "")
                if when == "started"
                else resource.get("effectiveDateTime") or resource.get("issued", "")
            )
            found.append((date, resource["id"]))
    app.extensions["state_engine"].dispose()
    return [ident for _, ident in sorted(found, key=lambda pair: pair[0], reverse=True)]


@pytest.fixture
def studies_portal(served: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A second portal beside ``served``'s, with the studies list as its home page."""
    portal = Served()
    client_id, secret = (
        served["gw"]
        .extensions["smart_oauth"]
        .store.register_client(
            name="Patient portal",
            kind="app",
            auth_method="client_secret_basic",
            scope=SCOPE,
            redirect_uris=(f"{portal.url}/callback",),
        )
    )
    app = create_portal(
        {
            "portal_fhir_url": f"{served['gateway']}/fhir",
            "portal_public_url": portal.url,
            "portal_client_id": client_id,
            "portal_client_secret": secret,
            "portal_secret_key": "portal-test-key",
            "portal_state_url": f"sqlite:///{tmp_path / 'portal-pl.sqlite'}",
            "portal_hospital_name": "Szpital Kliniczny Demo",
            "portal_home": "studies",
        }
    )
    portal.start(app)
    yield {**served, "portal": portal.url, "app": app}
    portal.stop()
    app.extensions["portal_engine"].dispose()


def with_imaging(his_url: str, adults: list[Any]) -> Any:
    engine = sa.create_engine(his_url)
    with engine.connect() as conn:
        imaged = set(
            conn.execute(
                sa.select(imaging_order.c.patient_id).where(imaging_order.c.study_uid.is_not(None))
            ).scalars()
        )
    engine.dispose()
    return next(p for p in adults if p.id in imaged)


def test_studies_home_lists_reports_and_imaging_newest_first(
    studies_portal: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],
    sqlite_his: str,
) -> None:
    person = with_imaging(sqlite_his, adults)
    expected = gateway_answers(sqlite_his, person.id)
    assert any(i.startswith("lab-") for i in expected)
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, studies_portal, person, inbox)

    # the home page is the studies list, not the tiles
    assert page.get_by_role("heading", level=1).inner_text() == "My studies"
    assert page.locator(".nhsuk-card-group").count() == 0
    rows = page.locator("#studies tbody tr")
    assert [
        rows.nth(i).locator("td").first.get_attribute("data-id") for i in range(rows.count())
    ] == expected
    kinds = page.locator("#studies tbody tr td:nth-child(2)").all_inner_texts()
    assert {"Laboratory", "Imaging study"} <= set(kinds)
    assert page.locator("#emergency").count() == 1
    axe_clean(page, "studies-home-en")

    # the same list at /studies, reached by keyboard alone from the navigation
    page.goto(f"{studies_portal['portal']}/results")
    link = page.get_by_role("navigation", name="Services").get_by_role("link", name="My studies")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{studies_portal['portal']}/studies")
    assert rows.count() == len(expected)

    # a PDF of one of the patient's reports opens; another patient's is 404, not their data
    first_pdf = page.locator("#studies a").first
    answer = page.request.get(f"{studies_portal['portal']}{first_pdf.get_attribute('href')}")
    assert answer.status == 200
    assert answer.body().startswith(b"%PDF")
    other = next(p for p in adults if p.id != person.id and gateway_answers(sqlite_his, p.id))
    theirs = gateway_answers(sqlite_his, other.id)[0]
    refused = page.request.get(f"{studies_portal['portal']}/results/{theirs}.pdf")
    assert refused.status == 404
    assert not refused.body().startswith(b"%PDF")

    # Polish
    page.goto(f"{studies_portal['portal']}/")
    page.get_by_role("button", name="Polski").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Moje badania"
    axe_clean(page, "studies-home-pl")
    context.close()


def test_default_home_keeps_the_tiles_with_my_studies_among_them(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], sqlite_his: str
) -> None:
    person = adults[0]
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome"
    tiles = page.locator(".nhsuk-card-group .nhsuk-card__link").all_inner_texts()
    assert "My studies" in tiles
    page.get_by_role("main").get_by_role("link", name="My studies").click()
    assert page.get_by_role("heading", level=1).inner_text() == "My studies"
    shown = page.locator("#studies tbody tr")
    expected = gateway_answers(sqlite_his, person.id)
    if expected:
        assert [
            shown.nth(i).locator("td").first.get_attribute("data-id") for i in range(shown.count())
        ] == expected
    else:
        assert page.locator("#no-studies").count() == 1
    axe_clean(page, "studies-en")
    context.close()
