"""My uploads (F17) through the portal against a served gateway: files chosen in the plain form
(no script), a whole folder, files dropped on the page with the page's script and their
progress, the quota line exactly as the gateway counts it (and with a decimal comma in
Romanian), the gateway's reasons for a refused type and a file over the limit, describe and
delete (with its confirmation page), the page's own script policy, axe-core in EN and RO in the
empty, filled and error states, the upload by keyboard, and another patient's upload answered
404 on every address of the screen."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from portal.sessions import portal_session
from tests.portal.conftest import axe_clean, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox
from tests.uploads import samples

#: where the page's script goes once every file is sent
DONE = re.compile(r"/uploads\?done=1$")


def access_token(served: dict[str, Any]) -> str:
    """The session's access token, as the portal keeps it server-side."""
    engine = served["app"].extensions["portal_engine"]
    with engine.connect() as conn:
        data = conn.execute(sa.select(portal_session.c.data)).scalars().all()
    tokens = [json.loads(d)["tokens"]["access_token"] for d in data if "tokens" in json.loads(d)]
    assert len(tokens) == 1
    return str(tokens[0])


def gateway_usage(served: dict[str, Any], patient: int) -> dict[str, Any]:
    answer = requests.get(
        f"{served['gateway']}/fhir/Patient/{patient}/$upload-usage",
        headers={"Authorization": f"Bearer {access_token(served)}"},
        timeout=10,
    )
    assert answer.status_code == 200
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in answer.json()["parameter"]
    }


def gateway_uploads(served: dict[str, Any], patient: int) -> list[dict[str, Any]]:
    base = served["gw"].config["UPLOADS_BASE"]
    answer = requests.get(
        f"{served['gateway']}/fhir/DocumentReference",
        params={
            "category": f"{base}/CodeSystem/document-source|patient-supplied",
            "patient": str(patient),
        },
        headers={"Authorization": f"Bearer {access_token(served)}"},
        timeout=10,
    )
    assert answer.status_code == 200
    return [e["resource"] for e in answer.json().get("entry", [])]


def listed(page: Any) -> dict[str, str]:
    """The uploads table: file name -> description."""
    rows = page.locator("#uploads tbody tr")
    found = {}
    for row in rows.all():
        cells = row.locator("td")
        name = cells.nth(0).inner_text().split("\n")[-1].removeprefix("File ").strip()
        found[name] = cells.nth(4).inner_text().removeprefix("Description").strip()
    return found


def test_upload_describe_delete_quota_and_refusals(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],
    tmp_path: Path,
) -> None:
    portal = served["portal"]
    person, other = adults[0], adults[1]
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)

    page.get_by_role("main").get_by_role("link", name="My uploads").click()
    page.wait_for_url(f"{portal}/uploads")
    answer = page.request.get(f"{portal}/uploads")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.locator("script[src]").count() == 1
    assert page.locator("script:not([src])").count() == 0
    # elsewhere the portal still runs no script at all
    home = page.request.get(f"{portal}/")
    assert "script-src 'none'" in home.headers["content-security-policy"]
    assert page.locator("#no-uploads").is_visible()
    usage = gateway_usage(served, person.id)
    assert (
        page.locator("#quota-line").inner_text()
        == usage["display"]
        == "0 MB / 200 MB (200 MB left)"
    )
    assert page.locator("#drop-hint").is_visible()  # the script runs
    axe_clean(page, "uploads-empty-en")

    # without script: the plain form, two files at once
    plain = browser.new_context(locale="en-GB", java_script_enabled=False)
    plain.add_cookies(context.cookies(portal))
    form = plain.new_page()
    form.goto(f"{portal}/uploads")
    assert not form.locator("#drop-hint").is_visible()
    lab = tmp_path / "lab result.pdf"
    lab.write_bytes(samples.pdf())
    scan = tmp_path / "scan.png"
    scan.write_bytes(samples.image("PNG", (64, 64)))
    form.set_input_files("#files", [str(lab), str(scan)])
    form.locator("#type").select_option("external-lab-result")
    form.locator("#description").fill("Blood count from Lab X")
    form.get_by_role("button", name="Upload").click()
    form.wait_for_url(f"{portal}/uploads")
    assert "Uploaded: lab result.pdf" in form.locator("#stored").inner_text()
    assert "Uploaded: scan.png" in form.locator("#stored").inner_text()
    assert listed(form) == {
        "scan.png": "Blood count from Lab X",
        "lab result.pdf": "Blood count from Lab X",
    }
    stored = gateway_uploads(served, person.id)
    assert sorted(d["content"][0]["attachment"]["title"] for d in stored) == [
        "lab result.pdf",
        "scan.png",
    ]
    assert {d["type"]["coding"][0]["code"] for d in stored} == {"external-lab-result"}
    usage = gateway_usage(served, person.id)
    assert usage["used"] == len(lab.read_bytes()) + len(scan.read_bytes())
    assert form.locator("#quota-line").inner_text() == usage["display"]

    # a whole folder (webkitdirectory), still without script
    folder = tmp_path / "from clinic"
    folder.mkdir()
    (folder / "letter.pdf").write_bytes(samples.pdf())
    (folder / "x-ray.png").write_bytes(samples.image("PNG", (48, 48)))
    form.set_input_files("#folder", str(folder))
    form.get_by_role("button", name="Upload").click()
    form.wait_for_url(f"{portal}/uploads")
    titles = sorted(
        d["content"][0]["attachment"]["title"] for d in gateway_uploads(served, person.id)
    )
    assert titles == [
        "from clinic/letter.pdf",
        "from clinic/x-ray.png",
        "lab result.pdf",
        "scan.png",
    ]

    # refused by the gateway: a type it does not take, in its own words
    text = tmp_path / "notes.txt"
    text.write_text("not a medical document\n")
    form.set_input_files("#files", str(text))
    form.get_by_role("button", name="Upload").click()
    form.wait_for_url(f"{portal}/uploads")
    refusal = form.locator("#refused").inner_text()
    assert "notes.txt: This kind of file cannot be uploaded." in refusal
    assert "The hospital's system said: The file's bytes are" in refusal
    # nothing chosen: said so
    form.get_by_role("button", name="Upload").click()
    assert "Choose at least one file." in form.locator("#refused").inner_text()
    plain.close()

    # with the script: a file dropped on the page, its progress, then the list
    big = samples.png_of_size(3_000_000)
    page.goto(f"{portal}/uploads")
    page.evaluate(
        """() => {
        const seen = [];
        new MutationObserver(() => {
            document.querySelectorAll('#progress progress').forEach(p => seen.push(p.value));
            sessionStorage.setItem('seen', JSON.stringify(seen));
        }).observe(document.getElementById('progress'),
            {subtree: true, childList: true, attributes: true});
    }"""
    )
    with page.expect_navigation(url=DONE):
        page.evaluate(
            """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: 'image/png'}));
            const zone = document.getElementById('dropzone');
            zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
        }""",
            [base64.b64encode(big).decode(), "dropped.png"],
        )
    seen = json.loads(page.evaluate("sessionStorage.getItem('seen')"))
    assert seen
    assert seen[-1] == 100
    assert "Uploaded: dropped.png" in page.locator("#stored").inner_text()
    assert "dropped.png" in listed(page)

    # an upload opened through the portal: the same bytes, downloaded, never run in the portal
    dropped_id = next(
        d["id"]
        for d in gateway_uploads(served, person.id)
        if d["content"][0]["attachment"]["title"] == "dropped.png"
    )
    opened = page.request.get(f"{portal}/documents/{dropped_id}/file")
    assert opened.status == 200
    assert opened.body() == big
    assert opened.headers["content-type"] == "image/png"
    assert opened.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in opened.headers["content-security-policy"]

    # chosen files with the script: sent one at a time through the same page
    page.set_input_files("#files", str(lab))
    with page.expect_navigation(url=DONE):
        page.get_by_role("button", name="Upload").click()
    assert "Uploaded: lab result.pdf" in page.locator("#stored").inner_text()
    usage = gateway_usage(served, person.id)
    assert page.locator("#quota-line").inner_text() == usage["display"]
    axe_clean(page, "uploads-en")
    page.set_viewport_size({"width": 360, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing runs off
    page.set_viewport_size({"width": 1280, "height": 900})

    # over the gateway's per-file limit: its reason, through the script too
    service = served["gw"].extensions["uploads"]
    kept = service.max_file_bytes
    service.max_file_bytes = 1_000_000
    try:
        big_file = tmp_path / "big.png"
        big_file.write_bytes(big)
        page.set_input_files("#files", str(big_file))
        with page.expect_navigation(url=DONE):
            page.get_by_role("button", name="Upload").click()
        refusal = page.locator("#refused").inner_text()
        assert "big.png: The file is too large, or your upload space is full." in refusal
        assert "a file may have" in refusal
        axe_clean(page, "uploads-error-en")
    finally:
        service.max_file_bytes = kept

    # describe: the gateway's document takes the new words
    mine = {d["content"][0]["attachment"]["title"]: d for d in gateway_uploads(served, person.id)}
    target = mine["scan.png"]
    page.goto(f"{portal}/uploads")
    page.locator(f"tr:has(td[data-id='{target['id']}'])").get_by_role(
        "link", name="Describe"
    ).click()
    assert page.locator("#description").input_value() == "Blood count from Lab X"
    page.locator("#description").fill("x" * 2001)
    page.get_by_role("button", name="Save the description").click()
    assert "at most 2000 characters" in page.locator(".nhsuk-error-summary").inner_text()
    axe_clean(page, "uploads-describe-error-en")
    page.locator("#description").fill("Chest X-ray, Clinic Y, March")
    page.get_by_role("button", name="Save the description").click()
    page.wait_for_url(f"{portal}/uploads")
    assert listed(page)["scan.png"] == "Chest X-ray, Clinic Y, March"
    again = {d["id"]: d for d in gateway_uploads(served, person.id)}
    assert again[target["id"]]["description"] == "Chest X-ray, Clinic Y, March"

    # delete: a confirmation page first, then gone from the gateway and the quota
    before = gateway_usage(served, person.id)["used"]
    page.locator(f"tr:has(td[data-id='{target['id']}'])").get_by_role("link", name="Delete").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Delete scan.png?"
    assert target["id"] in {d["id"] for d in gateway_uploads(served, person.id)}
    axe_clean(page, "uploads-delete-en")
    page.get_by_role("button", name="Yes, delete it").click()
    page.wait_for_url(f"{portal}/uploads")
    assert "Deleted: scan.png" in page.locator("#stored").inner_text()
    assert target["id"] not in {d["id"] for d in gateway_uploads(served, person.id)}
    after = gateway_usage(served, person.id)
    assert after["used"] == before - len(scan.read_bytes())
    assert page.locator("#quota-line").inner_text() == after["display"]

    # another patient's upload: 404 on every address of the screen, and it stays
    theirs = service.receive(
        other.id, "account:999999", io.BytesIO(samples.pdf()), None, "application/pdf"
    )
    document = service.create_document(
        other.id,
        "account:999999",
        f"Patient/{other.id}",
        theirs["id"],
        "other",
        "theirs.pdf",
        "theirs",
    )
    their_id = f"upload-{document['id']}"
    token = page.locator("input[name=csrf_token]").first.input_value()
    for path in (
        f"/uploads/{their_id}/describe",
        f"/uploads/{their_id}/delete",
        f"/documents/{their_id}/file",
    ):
        answer = page.request.get(f"{portal}{path}")
        assert answer.status == 404, path
        assert "theirs" not in answer.text()
    for path in (f"/uploads/{their_id}/describe", f"/uploads/{their_id}/delete"):
        answer = page.request.post(
            f"{portal}{path}", form={"csrf_token": token, "description": "mine now"}
        )
        assert answer.status == 404, path
    assert service.document(document["id"], frozenset({other.id})) is not None
    assert service.document(document["id"], frozenset({other.id}))["description"] == "theirs"

    # Romanian: the quota line with a decimal comma, the words of the manual
    page.goto(f"{portal}/uploads")
    page.get_by_role("button", name="Română").click()
    display = gateway_usage(served, person.id)["display"]
    used, rest = display.split(" / ")
    quota, left = rest.split(" (")
    left = left.replace(" left)", " rămas)")
    romanian = f"{used} / {quota} ({left}".replace(".", ",")
    assert page.locator("#quota-line").inner_text() == romanian
    assert "," in romanian
    axe_clean(page, "uploads-ro")
    some = page.locator("#uploads tbody tr").first
    some.get_by_role("link", name="Descrieți").click()
    axe_clean(page, "uploads-describe-ro")
    page.goto(f"{portal}/uploads")
    some.get_by_role("link", name="Ștergeți").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Ștergeți ")
    axe_clean(page, "uploads-delete-ro")
    page.goto(f"{portal}/uploads")
    text_page = page
    text_page.set_input_files("#files", str(text))
    with page.expect_navigation(url=DONE):
        page.get_by_role("button", name="Încărcați").click()
    assert "Acest tip de fișier nu poate fi încărcat." in page.locator("#refused").inner_text()
    axe_clean(page, "uploads-error-ro")
    context.close()


def test_upload_by_keyboard_and_the_empty_page_in_romanian(
    served: dict[str, Any], browser: Any, inbox: Inbox, adults: list[Any], tmp_path: Path
) -> None:
    portal = served["portal"]
    person = adults[2]
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)
    page.goto(f"{portal}/uploads")
    page.get_by_role("button", name="Română").click()
    assert page.locator("#quota-line").inner_text() == "0 MB / 200 MB (200 MB rămas)"
    assert page.locator("#no-uploads").is_visible()
    axe_clean(page, "uploads-empty-ro")

    lab = tmp_path / "analize.pdf"
    lab.write_bytes(samples.pdf())

    def tab_to(selector: str) -> None:
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#files")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(lab))
    tab_to("#upload-form button[type=submit]")
    with page.expect_navigation(url=DONE):
        page.keyboard.press("Enter")
    assert "Încărcat: analize.pdf" in page.locator("#stored").inner_text()
    tab_to("#uploads a[href*='/delete']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/delete")
    tab_to("form button[type=submit].nhsuk-button--warning")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}/uploads")
    assert page.locator("#no-uploads").is_visible()
    context.close()


def test_quota_figures_as_each_language_writes_them(tmp_path: Path) -> None:
    """The gateway's rounding (two decimals at most, 1 MB = 10^6 bytes), with a decimal comma
    in Romanian and Polish; sizes under 1 MB in kB."""
    from portal.app import create_portal
    from portal.screens import uploads

    app = create_portal(
        {
            "portal_fhir_url": "http://127.0.0.1:9/fhir",
            "portal_public_url": "http://127.0.0.1:8090",
            "portal_client_id": "portal",
            "portal_state_url": f"sqlite:///{tmp_path / 'p.sqlite'}",
        }
    )
    figures = {"used": 1_290_000, "quota": 200_000_000, "left": 198_710_000}
    for lang, line in (
        ("en", "1.29 MB / 200 MB (198.71 MB left)"),
        ("ro", "1,29 MB / 200 MB (198,71 MB rămas)"),
        ("pl", "1,29 MB / 200 MB (pozostało 198,71 MB)"),
    ):
        with app.test_request_context("/uploads", headers={"Accept-Language": lang}):
            assert uploads.quota_line(figures) == line
    # a few kB used is not "0 MB", and the room left is never rounded up into room not there
    tiny = {"used": 3_000, "quota": 200_000_000, "left": 199_997_000}
    for lang, line in (
        ("en", "0.01 MB / 200 MB (199.99 MB left)"),
        ("pl", "0,01 MB / 200 MB (pozostało 199,99 MB)"),
    ):
        with app.test_request_context("/uploads", headers={"Accept-Language": lang}):
            assert uploads.quota_line(tiny) == line
    with app.test_request_context("/uploads", headers={"Accept-Language": "en"}):
        assert uploads.quota_line({"used": 0, "quota": 200_000_000, "left": 200_000_000}) == (
            "0 MB / 200 MB (200 MB left)"
        )
        assert uploads.file_size(999) == "1 kB"
        assert uploads.file_size(12_400) == "12 kB"
        assert uploads.file_size(3_010_000) == "3.01 MB"
    app.extensions["portal_engine"].dispose()
