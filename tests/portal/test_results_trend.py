"""The laboratory results screen beyond the list (F11): the PDF downloaded as a file, the share
link, a report's values, and each analyte's trend: an SVG chart drawn by the server (no
script) whose points, dates and reference band are the values of the gateway's Observation
search, beside the same values as a table; another patient's report through the portal's URLs
is 404. axe-core in English and Romanian, the error state, the flow by keyboard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import app_config
from tests.portal.conftest import axe_clean, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox

EN = {"Accept-Language": "en"}


@pytest.fixture(scope="module")
def truth(sqlite_his: str) -> Iterator[Any]:
    """What the gateway answers with authorization off (matches and included, by type)."""
    from gateway.app import create_app

    app = create_app(app_config(sqlite_his))
    client = app.test_client()

    def search(resource: str, **params: Any) -> list[dict[str, Any]]:
        answer = client.get(f"/fhir/{resource}", query_string=params)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        return [e["resource"] for e in answer.get_json().get("entry", [])]

    yield search
    app.extensions["state_engine"].dispose()


def coded(observation: dict[str, Any]) -> str:
    first = observation["code"]["coding"][0]
    return f"{first['system']}|{first['code']}"


def tab_to(page: Any, selector: str, limit: int = 120) -> None:
    target = page.locator(selector).first.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", target):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_report_values_and_an_analytes_trend_chart_and_table(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], truth: Any
) -> None:
    portal = served["portal"]

    def labs(pid: int) -> list[dict[str, Any]]:
        return truth("DiagnosticReport", patient=pid, category="LAB", _sort="-date", _count=50)

    def richest(pid: int) -> tuple[str, int]:
        """The analyte with the most numeric values, those with a value out of its range
        first, and their number."""
        counts: dict[str, int] = {}
        outside: set[str] = set()
        for o in truth("Observation", patient=pid, _count=500):
            if "valueQuantity" in o and o.get("referenceRange"):
                counts[coded(o)] = counts.get(coded(o), 0) + 1
                if o["interpretation"][0]["coding"][0]["code"] != "N":
                    outside.add(coded(o))
        ranked = sorted(counts.items(), key=lambda i: (i[0] in outside, i[1]))
        return ranked[-1] if ranked else ("", 0)

    person = next(p for p in adults if labs(p.id) and richest(p.id)[1] >= 4)
    other = next(p for p in adults if p.id != person.id and labs(p.id))
    reports = labs(person.id)
    context = browser.new_context(locale="en-GB", accept_downloads=True)
    page = context.new_page()
    sign_in(page, served, person, inbox)

    # the list: the PDF shown inline, downloaded as a file, and the share link
    page.goto(f"{portal}/results")
    first = reports[0]["id"]
    row = page.locator("#results tbody tr").first
    opened = row.get_by_role("link", name=f"Open the PDF of report {first}")
    inline = page.request.get(f"{portal}{opened.get_attribute('href')}")
    assert inline.headers["content-disposition"].startswith("inline")
    with page.expect_download() as download:
        row.get_by_role("link", name=f"Download the PDF of report {first}").click()
    assert download.value.suggested_filename == f"{first}.pdf"
    with open(download.value.path(), "rb") as f:
        assert f.read(4) == b"%PDF"
    downloaded = row.get_by_role("link", name=f"Download the PDF of report {first}")
    saved = page.request.get(f"{portal}{downloaded.get_attribute('href')}")
    assert saved.headers["content-disposition"] == f'attachment; filename="{first}.pdf"'
    assert saved.body() == inline.body()
    share = row.get_by_role("link", name=f"Share report {first}")
    assert share.get_attribute("href") == f"/shares/new?what=DiagnosticReport/{first}"
    axe_clean(page, "results-share-en")

    # a report's values: the Observations the report points at
    code, _count = richest(person.id)
    report = next(
        r
        for r in reports
        if r.get("result")
        and any(
            coded(o) == code
            for o in truth("Observation", _id=",".join(x["reference"][12:] for x in r["result"]))
        )
    )
    page.get_by_role("link", name=report["id"], exact=True).click()
    page.wait_for_load_state()  # the stylesheet too: it hides the cells' narrow-screen headings
    assert page.get_by_role("heading", level=1).inner_text() == f"Report {report['id']}"
    bundle = truth("DiagnosticReport", _id=report["id"], _include="DiagnosticReport:result")
    observations = {
        f"Observation/{o['id']}": o for o in bundle if o["resourceType"] == "Observation"
    }
    ordered = [observations[ref["reference"]] for ref in report["result"]]
    names = page.locator("#analytes tbody th").all_inner_texts()
    assert names == [o["code"]["text"] for o in ordered]
    values = page.locator("#analytes tbody tr td:nth-child(2)").all_inner_texts()
    for shown, o in zip(values, ordered, strict=True):
        expected = o["valueQuantity"]["value"] if "valueQuantity" in o else o["valueString"]
        assert shown.startswith(str(expected)), (shown, expected)
    axe_clean(page, "results-report-en")

    # the trend of one analyte: the chart and the table hold the Observation search's values
    analyte = next(o for o in ordered if coded(o) == code)
    page.get_by_role("link", name=f"Trend {analyte['code']['text']}", exact=True).click()
    series = truth("Observation", patient=person.id, code=code, _sort="date", _count=200)
    numeric = [o for o in series if "valueQuantity" in o]
    assert len(numeric) >= 4
    chart = page.get_by_role("img", name=f"{analyte['code']['text']} over time")
    assert chart.count() == 1
    assert page.locator("script").count() == 0
    points = page.locator("#trend-chart circle.trend-point").all()
    assert [
        (p.get_attribute("data-date"), float(p.get_attribute("data-value"))) for p in points
    ] == [(o["effectiveDateTime"], float(o["valueQuantity"]["value"])) for o in numeric]
    # each point's tooltip: its date as English writes it, its value and unit
    day = numeric[0]["effectiveDateTime"][:10]
    assert points[0].locator("title").text_content() == (
        f"{day[8:10]}/{day[5:7]}/{day[:4]}: {numeric[0]['valueQuantity']['value']} "
        f"{numeric[-1]['valueQuantity']['unit']}"
    )
    # the band is the latest reference range: in-range points inside it, the others outside
    latest = numeric[-1]["referenceRange"][0]
    band = page.locator("#reference-band")
    low, high = latest.get("low", {}).get("value"), latest.get("high", {}).get("value")
    assert band.get_attribute("data-low") == ("" if low is None else str(low))
    assert band.get_attribute("data-high") == ("" if high is None else str(high))
    top = float(band.get_attribute("y"))
    bottom = top + float(band.get_attribute("height"))
    for point, o in zip(points, numeric, strict=True):
        y, value = float(point.get_attribute("cy")), float(o["valueQuantity"]["value"])
        inside = (low is None or value >= low) and (high is None or value <= high)
        assert (top - 0.2 <= y <= bottom + 0.2) is inside, (value, low, high, y, top, bottom)
    # later results lie further right, higher values higher up
    xs = [float(p.get_attribute("cx")) for p in points]
    assert xs == sorted(xs)
    pairs = sorted(zip(numeric, points, strict=True), key=lambda i: i[0]["valueQuantity"]["value"])
    ys = [float(p.get_attribute("cy")) for _, p in pairs]
    assert ys == sorted(ys, reverse=True)
    # the table: the same values, newest first
    rows = page.locator("#trend-table tbody tr").all()
    assert [r.locator("td").first.get_attribute("data-date") for r in rows] == [
        o["effectiveDateTime"] for o in reversed(series)
    ]
    cells = [r.locator("td").nth(1).inner_text() for r in rows]
    for cell, o in zip(cells, reversed(series), strict=True):
        expected = o["valueQuantity"]["value"] if "valueQuantity" in o else o["valueString"]
        assert cell.startswith(str(expected))
    axe_clean(page, "results-trend-en")
    page.get_by_role("button", name="Română").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Evoluția")
    assert page.get_by_role("img", name=f"{analyte['code']['text']} în timp").count() == 1
    axe_clean(page, "results-trend-ro")
    page.goto(f"{portal}/results/{report['id']}")
    axe_clean(page, "results-report-ro")
    page.get_by_role("button", name="English").click()

    # an analyte without any value of this patient, and a malformed code: not found
    answer = page.goto(f"{portal}/results/trend?code=http://loinc.org|0000-0")
    assert answer is not None
    assert answer.status == 404
    axe_clean(page, "results-trend-error-en")
    page.get_by_role("button", name="Română").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "A apărut o problemă"
    axe_clean(page, "results-trend-error-ro")
    page.get_by_role("button", name="English").click()
    assert page.request.get(f"{portal}/results/trend?code=a,b").status == 404

    # another patient's report and its files through the portal's URLs: 404, nothing of theirs
    theirs = labs(other.id)[0]["id"]
    for path in (theirs, f"{theirs}.pdf", f"{theirs}/download.pdf"):
        answer = page.request.get(f"{portal}/results/{path}", headers=EN)
        assert answer.status == 404, path
        assert "This page does not exist." in answer.text()
    context.close()


def test_results_to_a_trend_by_keyboard(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], truth: Any
) -> None:
    portal = served["portal"]
    person = next(
        p for p in adults if truth("DiagnosticReport", patient=p.id, category="LAB", _count=1)
    )
    first = truth("DiagnosticReport", patient=person.id, category="LAB", _sort="-date")[0]
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)
    tab_to(page, "nav.portal-nav a[href='/results']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/results")
    tab_to(page, f"#results a[href='/results/{first['id']}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/results/{first['id']}")
    tab_to(page, "#analytes a[href^='/results/trend']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/results/trend?code=**")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Trend of ")
    assert page.locator("#trend-table tbody tr").count() >= 1
    context.close()


def test_the_chart_of_odd_series() -> None:
    """One value, a day without a time beside instants, a range open at one end, values only in
    words: each drawn (or not) without failing, every point inside the plot."""
    from portal.screens.results import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, chart

    def row(date: str, value: Any, low: Any = None, high: Any = None) -> dict[str, Any]:
        return {"date": date, "value": value, "low": low, "high": high, "flag": ""}

    one = chart([row("2024-05-06T09:30:00Z", 4.2, 3.5, 5.1)])
    assert one is not None
    assert [p.x for p in one.points] == [LEFT + (WIDTH - LEFT - RIGHT) / 2]
    mixed = chart(
        [row("2021-01-05", 12.0, None, 10.0), row("2024-06-30T16:45:00+02:00", 3.0, None, 10.0)]
    )
    assert mixed is not None
    assert mixed.points[0].x == LEFT
    assert mixed.points[1].x == WIDTH - RIGHT
    # only a high end: the band runs from the bottom of the plot to it; 12 is above it, 3 in it
    assert mixed.band is not None
    assert mixed.band[1] == HEIGHT - BOTTOM
    assert mixed.points[0].y < mixed.band[0] < mixed.points[1].y
    for point in [*one.points, *mixed.points]:
        assert TOP <= point.y <= HEIGHT - BOTTOM
    assert all(TOP <= y <= HEIGHT - BOTTOM for y, _ in mixed.y_ticks)
    assert chart([row("2024-01-01", None)]) is None
    negative = chart([row("2024-01-01", -2.5), row("2024-02-01", 0.5)])
    assert negative is not None
    assert negative.band is None
    assert "0" in [label for _, label in negative.y_ticks]
