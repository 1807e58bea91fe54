"""The portal's imaging screen (F14-F16) against a served gateway in front of the real Orthanc
holding the test HIS's studies: the studies as the gateway answers them (counts, modality,
report and images available), the modality and date filters, the viewer link minted for one
study and opened in a new tab, the report's PDF and the export (plain and AES-encrypted ZIP)
through the portal; another patient's study through the portal's URLs is 404. axe-core in
English and Romanian, in the filled, empty and error states; the main flow by keyboard."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pyzipper  # type: ignore[import-untyped]
import requests

from dicomweb.backends.dimse import DimseBackend
from tests.conftest import app_config
from tests.dicomweb.conftest import pacs  # noqa: F401 (the session's Orthanc)
from tests.dicomweb.web.conftest import HisPacs, his_pacs  # noqa: F401
from tests.dicomweb.web.conftest import make_app as open_pacs_gateway
from tests.portal.conftest import axe_clean, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox

AVAILABILITY = "https://fhir-gateway.example/StructureDefinition/imaging-availability"
EN = {"Accept-Language": "en"}


@pytest.fixture
def make_app(
    sqlite_his: str,
    tmp_path: Path,
    smtp: tuple[Inbox, int],
    his_pacs: HisPacs,  # noqa: F811
) -> Iterator[Any]:
    """The served gateway of ``served`` (conftest), given the Orthanc holding the HIS's
    studies: its ImagingStudy resources carry the PACS's series and availability, and its
    DICOMweb mints viewer links and exports."""
    from gateway.app import create_app

    backends: list[DimseBackend] = []

    def build(**extra: object) -> Any:
        backend = DimseBackend(his_pacs.pacs.settings())
        backends.append(backend)
        config = app_config(
            sqlite_his,
            state_url=f"sqlite:///{tmp_path / 'state.sqlite'}",
            smtp_host="127.0.0.1",
            smtp_port=smtp[1],
            outbox_dir=str(tmp_path / "outbox"),
            **extra,
        )
        return create_app(config, pacs=backend, pacs_settings=his_pacs.pacs.settings())

    yield build
    for backend in backends:
        backend.close()


@pytest.fixture(scope="module")
def truth(his_pacs: HisPacs) -> Iterator[Any]:  # noqa: F811
    """What the gateway answers with authorization off, in front of the same PACS."""
    app = open_pacs_gateway(his_pacs)
    client = app.test_client()

    def search(resource: str, **params: Any) -> list[dict[str, Any]]:
        answer = client.get(f"/fhir/{resource}", query_string=params)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        entries = answer.get_json().get("entry", [])
        return [e["resource"] for e in entries if e["search"]["mode"] == "match"]

    yield search
    app.extensions["test_backend"].close()
    app.extensions["state_engine"].dispose()


def available(study: dict[str, Any]) -> dict[str, Any]:
    (ext,) = [e for e in study.get("extension", []) if e["url"] == AVAILABILITY]
    return {e["url"]: e.get("valueBoolean", e.get("valueReference")) for e in ext["extension"]}


def uid_of(study: dict[str, Any]) -> str:
    return str(study["identifier"][0]["value"]).removeprefix("urn:oid:")


def cards(page: Any) -> list[dict[str, Any]]:
    """What the page shows of each study."""
    out = []
    for card in page.locator("#studies > li").all():
        field = {
            name: card.locator(f"[data-field={name}]").inner_text()
            for name in ("id", "date", "modality", "series", "instances")
        }
        tags = card.locator("[data-available]").all()
        field["report"] = tags[0].get_attribute("data-available") == "yes"
        field["images"] = tags[1].get_attribute("data-available") == "yes"
        field["actions"] = [a.get_attribute("data-action") for a in card.locator("a").all()]
        out.append(field)
    return out


def viewer_stub(context: Any, gateway: str) -> None:
    """The browser's requests for the gateway's viewer page answered by a stand-in page: the
    test reads where the portal sent the tab (and tries the token there itself); the OHIF
    build's own loading is the viewer's tests' business, not the portal's."""
    context.route(
        f"{gateway}/viewer/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<title>v</title>"),
    )


def tab_to(page: Any, selector: str, limit: int = 120) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    target = page.locator(selector).first.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", target):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_imaging_studies_filters_viewer_report_export(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],
    his_pacs: HisPacs,  # noqa: F811
    truth: Any,
) -> None:
    gateway, portal = served["gateway"], served["portal"]
    with_images = {pid for pid, _ in his_pacs.studies.values()}

    def fits(person: Any) -> bool:
        if person.id not in with_images:
            return False
        studies = truth("ImagingStudy", patient=person.id)
        return len(studies) >= 2 and any(available(s)["report"] for s in studies)

    def modalities(person: Any) -> int:
        studies = truth("ImagingStudy", patient=person.id)
        return len({m["code"] for s in studies for m in s["modality"]})

    candidates = [p for p in adults if fits(p)]
    # one with studies of several modalities, where the modality filter leaves some out
    person = max(candidates, key=modalities)
    other = next(p for p in adults if p.id in with_images and p.id != person.id)
    studies = truth("ImagingStudy", patient=person.id, _sort="-started", _count=100)
    reports = truth("DiagnosticReport", patient=person.id, category="RAD", _count=100)
    reported = {r["imagingStudy"][0]["reference"] for r in reports if r.get("imagingStudy")}
    context = browser.new_context(locale="en-GB", accept_downloads=True)
    viewer_stub(context, gateway)
    page = context.new_page()
    sign_in(page, served, person, inbox)

    # the list: every study of the patient, as the gateway answers it, newest first
    page.get_by_role("main").get_by_role("link", name="Imaging").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Imaging"
    shown = cards(page)
    assert [c["id"] for c in shown] == [s["id"] for s in studies]
    for card, study in zip(shown, studies, strict=True):
        assert card["series"] == str(study["numberOfSeries"])
        assert card["instances"] == str(study["numberOfInstances"])
        assert card["date"].count("/") == 2
        codes = [m["code"] for m in study["modality"]]
        assert all(f"({code})" in card["modality"] for code in codes)
        assert card["images"] is available(study)["images"]
        assert card["report"] is (f"ImagingStudy/{study['id']}" in reported)
        assert ("viewer" in card["actions"]) is card["images"]
        assert "share" in card["actions"]
    axe_clean(page, "imaging-en")
    assert page.locator("#studies [data-action=share]").first.get_attribute("href") == (
        f"/shares/new?what=ImagingStudy/{studies[0]['id']}"
    )

    # filters: by modality, then by dates, each as the gateway's search answers
    modality = studies[-1]["modality"][0]["code"]
    page.get_by_label("Type of imaging").select_option(modality)
    page.get_by_role("button", name="Filter").click()
    wanted = truth("ImagingStudy", patient=person.id, modality=modality, _sort="-started")
    assert [c["id"] for c in cards(page)] == [s["id"] for s in wanted]
    assert 0 < len(wanted) < len(studies)
    day = studies[0]["started"][:10]
    page.get_by_label("Type of imaging").select_option("")
    page.get_by_label("From (date)").fill(day)
    page.get_by_label("To (date)").fill(day)
    page.get_by_role("button", name="Filter").click()
    wanted = truth(
        "ImagingStudy", patient=person.id, started=[f"ge{day}", f"le{day}"], _sort="-started"
    )
    assert wanted
    assert [c["id"] for c in cards(page)] == [s["id"] for s in wanted]
    assert page.get_by_label("From (date)").input_value() == day

    # the empty and the error states
    page.goto(f"{portal}/imaging?from=1901-01-01&to=1901-12-31")
    assert page.locator("#no-studies").inner_text() == "No study matches these filters."
    axe_clean(page, "imaging-empty-en")
    answer = page.goto(f"{portal}/imaging?from=2024-02-31&to=")
    assert answer is not None
    assert answer.status == 400
    assert page.get_by_role("alert").get_by_role("link").inner_text() == (
        "Enter a real date, for example 2024-05-21."
    )
    assert page.locator("#studies").count() == 0
    axe_clean(page, "imaging-error-en")
    answer = page.goto(f"{portal}/imaging?from=2024-05-01&to=2024-04-01")
    assert answer is not None
    assert answer.status == 400

    # the viewer: a link minted for this one study, opened in a new tab
    page.goto(f"{portal}/imaging")
    study = next(s for s in studies if available(s)["images"])
    card = page.locator(f"#study-{study['id']}")
    link = card.get_by_role("link", name="Open in the viewer")
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in (link.get_attribute("rel") or "").split()
    assert "(opens in a new tab)" in link.inner_text()
    assert f"study {study['id']}" in (link.text_content() or "")
    with page.expect_popup() as popup:
        link.click()
    viewer = popup.value
    viewer.wait_for_load_state()
    parts = urlsplit(viewer.url)
    assert f"{parts.scheme}://{parts.netloc}" == gateway
    assert parts.path == "/viewer/viewer"
    query = parse_qs(parts.query)
    assert query["StudyInstanceUIDs"] == [uid_of(study)]
    token = query["token"][0]
    seen = requests.get(
        f"{gateway}/dicomweb/studies",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"},
        timeout=30,
    )
    assert seen.status_code == 200
    assert [row["0020000D"]["Value"][0] for row in seen.json()] == [uid_of(study)]
    viewer.close()

    # the report's PDF through the portal
    reported_study = next(s for s in studies if f"ImagingStudy/{s['id']}" in reported)
    pdf_link = page.locator(f"#study-{reported_study['id']} [data-action=report]")
    pdf = page.request.get(f"{portal}{pdf_link.get_attribute('href')}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    # export: the plain ZIP, then the one encrypted with the patient's password
    card.get_by_role("link", name="Export the images").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Export the images"
    axe_clean(page, "imaging-export-en")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the ZIP file").click()
    assert download.value.suggested_filename == f"study-{study['id']}.zip"
    with zipfile.ZipFile(download.value.path()) as plain:
        names = plain.namelist()
        assert "DICOMDIR" in names
        assert len([n for n in names if n != "DICOMDIR"]) == study["numberOfInstances"]
        assert plain.read(names[-1])[128:132] == b"DICM"
    page.get_by_label("Password (optional)").fill("short")
    page.get_by_role("button", name="Download the ZIP file").click()
    assert (
        page.get_by_role("alert")
        .get_by_role("link")
        .inner_text()
        .startswith("The password must have at least 8 characters")
    )
    axe_clean(page, "imaging-export-error-en")
    password = "correct horse battery"
    page.get_by_label("Password (optional)").fill(password)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the ZIP file").click()
    data = Path(download.value.path()).read_bytes()
    with pyzipper.AESZipFile(io.BytesIO(data)) as secret:
        first = next(i for i in secret.infolist() if i.filename != "DICOMDIR")
        with pytest.raises(RuntimeError):
            secret.read(first.filename)
        secret.setpassword(password.encode())
        assert secret.read(first.filename)[128:132] == b"DICM"
        assert len(secret.infolist()) == study["numberOfInstances"] + 1
    assert password not in page.content()

    # another patient's study through the portal's URLs: 404, nothing of theirs
    theirs = truth("ImagingStudy", patient=other.id)[0]
    for path in ("viewer", "export", "report.pdf"):
        answer = page.request.get(f"{portal}/imaging/{theirs['id']}/{path}", headers=EN)
        assert answer.status == 404, path
        assert uid_of(theirs) not in answer.text()
    token = page.locator("input[name=csrf_token]").first.input_value()
    answer = page.request.post(
        f"{portal}/imaging/{theirs['id']}/export", form={"csrf_token": token}, headers=EN
    )
    assert answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert page.request.get(f"{portal}/imaging/..%2F..%2Fmetadata/viewer").status == 404

    # Romanian: the same list, dates as Romanian writes them; its error state
    page.goto(f"{portal}/imaging")
    page.get_by_role("button", name="Română").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Imagistică"
    assert [c["date"].replace(".", "/") for c in cards(page)] == [c["date"] for c in shown]
    axe_clean(page, "imaging-ro")
    page.goto(f"{portal}/imaging?from=x")
    assert "Introduceți o dată reală" in page.get_by_role("alert").inner_text()
    axe_clean(page, "imaging-error-ro")
    page.goto(f"{portal}/imaging/{study['id']}/export")
    axe_clean(page, "imaging-export-ro")
    context.close()


def test_imaging_by_keyboard_and_a_patient_without_studies(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],
    his_pacs: HisPacs,  # noqa: F811
    truth: Any,
) -> None:
    portal = served["portal"]
    with_images = {pid for pid, _ in his_pacs.studies.values()}
    person = next(p for p in adults if p.id in with_images)
    studies = truth("ImagingStudy", patient=person.id, _sort="-started")
    context = browser.new_context(locale="en-GB")
    viewer_stub(context, served["gateway"])
    page = context.new_page()
    sign_in(page, served, person, inbox)

    # keyboard alone: to the imaging page, a modality, the filter, the viewer in a new tab
    tab_to(page, "nav.portal-nav a[href='/imaging']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/imaging")
    tab_to(page, "#modality")
    modality = studies[0]["modality"][0]["code"]
    options = page.locator("#modality option").all()
    index = [o.get_attribute("value") for o in options].index(modality)
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    assert page.locator("#modality").input_value() == modality
    tab_to(page, "#filters button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/imaging?modality={modality}*")
    first = studies[0]
    assert page.locator("#studies > li").first.get_attribute("data-id") == first["id"]
    tab_to(page, f"#study-{first['id']} [data-action=viewer]")
    with page.expect_popup() as popup:
        page.keyboard.press("Enter")
    popup.value.wait_for_load_state()
    assert popup.value.url.startswith(f"{served['gateway']}/viewer/viewer?StudyInstanceUIDs=")
    popup.value.close()
    context.close()

    # a patient without any study: the empty state, in English and Polish
    nobody = next(
        p for p in adults if p.id not in with_images and not truth("ImagingStudy", patient=p.id)
    )
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, nobody, inbox)
    page.goto(f"{portal}/imaging")
    assert page.locator("#no-studies").inner_text() == "There are no imaging studies yet."
    assert page.locator("#modality option").count() == 1
    axe_clean(page, "imaging-none-en")
    page.get_by_role("button", name="Polski").click()
    assert page.locator("#no-studies").inner_text() == "Nie ma jeszcze badań obrazowych."
    axe_clean(page, "imaging-none-pl")
    context.close()
