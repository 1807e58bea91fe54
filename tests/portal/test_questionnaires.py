"""The portal's questionnaires (F18) against a served gateway and its own HIS: a questionnaire
the HIS assigned is answered one question a page (each page saved in the gateway's in-progress
QuestionnaireResponse), an answer the gateway refuses comes back as an error summary linked to
its field, a file is uploaded and attached, the answers are checked and submitted, and the HIS
holds them; the questionnaire is then read-only. Another one is closed with "deliver without
upload". Another patient's questionnaire is 404. axe-core clean in EN and PL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from fhir_gateway.his import schema as t
from tests.booking.his import utcnow
from tests.portal.care import adults, sqlite_his  # noqa: F401 (fixtures)
from tests.portal.conftest import axe_clean, fill_date, pytestmark, sign_in  # noqa: F401
from tests.smart_auth.accounts.conftest import Inbox
from tests.uploads import samples

EN = {"Accept-Language": "en"}


def assign(his: str, patient: int, code: str) -> int:
    """A questionnaire the HIS sends ``patient`` now; the assignment's id."""
    engine = sa.create_engine(his)
    now = utcnow()
    with engine.begin() as conn:
        questionnaire = conn.execute(
            sa.select(t.questionnaire.c.id).where(t.questionnaire.c.code == code)
        ).scalar_one()
        key = conn.execute(
            sa.insert(t.questionnaire_assignment).values(
                questionnaire_id=questionnaire,
                patient_id=patient,
                sent_at=now - dt.timedelta(minutes=5),
                status="sent",
                updated_at=now - dt.timedelta(minutes=5),
                version=1,
            )
        ).inserted_primary_key
        assert key is not None
        made = key[0]
    engine.dispose()
    return int(made)


def assignment(his: str, assignment_id: int) -> Any:
    engine = sa.create_engine(his)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.questionnaire_assignment).where(
                t.questionnaire_assignment.c.id == assignment_id
            )
        ).one()
    engine.dispose()
    return row


def bump(his: str, assignment_id: int) -> None:
    """A change the HIS makes to an assignment (its version moves on)."""
    engine = sa.create_engine(his)
    with engine.begin() as conn:
        conn.execute(
            sa.update(t.questionnaire_assignment)
            .where(t.questionnaire_assignment.c.id == assignment_id)
            .values(version=t.questionnaire_assignment.c.version + 1)
        )
    engine.dispose()


def save(page: Any) -> None:
    page.get_by_role("button", name="Save and continue").click()


def test_answer_step_by_step_attach_and_submit(
    served: dict[str, Any],
    browser: Any,
    inbox: Inbox,
    adults: list[Any],  # noqa: F811
    sqlite_his: str,  # noqa: F811
    tmp_path: Any,
) -> None:
    his, portal = sqlite_his, served["portal"]
    person, other = adults[0], adults[1]
    mine = assign(his, person.id, "onco-previsit-ro")
    theirs = assign(his, other.id, "onco-previsit-ro")
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    sign_in(page, served, person, inbox)

    # the list: the new questionnaire waits to be answered
    page.goto(f"{portal}/questionnaires")
    waiting = page.locator("#waiting")
    assert waiting.get_by_role("link").first.inner_text() != ""
    link = page.locator(f"a[href='/questionnaires/{mine}']")
    assert link.count() == 1
    axe_clean(page, "questionnaires-en")
    link.click()
    page.locator("#start").click()

    # one question a page: a choice (with the questionnaire's introduction on its page)
    assert page.locator(".nhsuk-inset-text p").first.inner_text().startswith("Vă rugăm")
    axe_clean(page, "questionnaire-step-en")
    save(page)  # a required question left empty: the portal asks for it, linked to the field
    summary = page.locator(".nhsuk-error-summary")
    assert summary.get_by_role("link").inner_text() == "Answer this question."
    assert summary.get_by_role("link").get_attribute("href") == "#answer-reason"
    assert page.locator("#answer-reason").count() == 1
    page.locator("#answer-reason").check()
    save(page)
    assert assignment(his, mine).answers == {"reason": "first"}  # saved at once, in the HIS

    # an optional date, typed in its day, month and year boxes: what is no real day is said,
    # linked to the day box, and comes back as typed
    page.locator("#answer-diagnosed_on-day").fill("31")
    page.locator("#answer-diagnosed_on-month").fill("2")
    page.locator("#answer-diagnosed_on-year").fill("2023")
    save(page)
    summary = page.locator(".nhsuk-error-summary")
    assert summary.get_by_role("link").get_attribute("href") == "#answer-diagnosed_on-day"
    assert page.locator("#answer-diagnosed_on-day").input_value() == "31"
    axe_clean(page, "questionnaire-date-error-en")
    fill_date(page, "answer-diagnosed_on", dt.date(2023, 3, 14))
    save(page)

    # a boolean that enables the next question; its text
    page.get_by_label("Yes", exact=True).check()
    save(page)
    page.locator("#answer-treatments").fill("Chimioterapie 2023")
    save(page)

    # the gateway refuses a whole number beyond 32 bits: its OperationOutcome as an error
    # summary linked to the field
    page.locator("#answer-weight").fill("99999999999")
    save(page)
    summary = page.locator(".nhsuk-error-summary")
    assert summary.get_by_role("link").inner_text() == "Enter a smaller whole number."
    assert summary.get_by_role("link").get_attribute("href") == "#answer-weight"
    assert page.locator("#answer-weight").get_attribute("aria-describedby") == "answer-weight-error"
    axe_clean(page, "questionnaire-error-en")
    page.locator("#answer-weight").fill("70")
    save(page)
    page.locator("#answer-height").fill("1,75")
    save(page)
    save(page)  # the family doctor: optional

    # the attachment: a file uploaded through the gateway as the patient's document
    assert page.get_by_role("button", name="Deliver without upload").is_visible()
    axe_clean(page, "questionnaire-attach-en")
    study = page.locator("input[name=answer-earlier][value^='ImagingStudy/']").first
    study_ref = study.get_attribute("value")
    study.check()
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(samples.pdf() + b"%" + b"0" * 300_000)  # beyond the portal's form limit
    page.locator("#file").set_input_files(str(pdf))
    page.locator("#document-type").select_option("other-clinic-letter")
    save(page)

    # check the answers, go back to change one, submit
    assert page.get_by_role("heading", level=1).inner_text() == "Check your answers"
    assert page.locator("#value-weight").inner_text() == "70"
    assert page.locator("#value-diagnosed_on").inner_text() == "14/03/2023"
    assert page.locator("#value-earlier").inner_text().endswith("letter.pdf")
    axe_clean(page, "questionnaire-review-en")
    page.get_by_role("link", name="Change Înălțime (m)").click()
    assert page.locator("#answer-height").input_value() == "1.75"
    page.locator("#answer-height").fill("1.8")
    for _ in range(3):
        if page.get_by_role("heading", level=1).inner_text() == "Check your answers":
            break
        save(page)
    page.locator("#submit").click()
    assert "your answers were sent to the hospital" in page.locator("#done").inner_text()
    axe_clean(page, "questionnaire-submitted-en")

    # the HIS holds the answers, submitted
    row = assignment(his, mine)
    assert row.status == "submitted"
    assert row.submitted_at is not None
    answers = row.answers
    assert answers["reason"] == "first"
    assert answers["treated"] is True
    assert answers["weight"] == 70
    assert answers["height"] == 1.8
    assert [a["url"].split("/")[0] for a in answers["earlier"]] == [
        "ImagingStudy",
        "DocumentReference",
    ]
    assert answers["earlier"][0]["url"] == study_ref
    assert answers["earlier"][1]["title"] == "letter.pdf"
    # the uploaded file is the patient's own document at the gateway
    uploads = served["gw"].extensions["uploads"]
    assert uploads.is_upload(answers["earlier"][1]["url"], person.id)
    assert not uploads.is_upload(answers["earlier"][1]["url"], other.id)

    # closed for good: the steps lead back to the read-only answers
    page.goto(f"{portal}/questionnaires/{mine}/step/0")
    assert page.url.endswith(f"/questionnaires/{mine}")
    assert page.locator("#answers").is_visible()
    assert page.locator("#start").count() == 0
    token = page.locator("input[name=csrf_token]").first.input_value()
    again = page.request.post(
        f"{portal}/questionnaires/{mine}/submit", form={"csrf_token": token}, headers=EN
    )
    assert again.url.endswith(f"/questionnaires/{mine}")
    assert assignment(his, mine).version == row.version
    page.goto(f"{portal}/questionnaires")
    assert page.locator(f"#done a[href='/questionnaires/{mine}']").count() == 1

    # another patient's questionnaire through the portal's URLs: 404, nothing of theirs
    for path in (f"/questionnaires/{theirs}", f"/questionnaires/{theirs}/step/0"):
        answer = page.request.get(f"{portal}{path}", headers=EN)
        assert answer.status == 404
        assert "does not exist" in answer.text()
    answer = page.request.post(
        f"{portal}/questionnaires/{theirs}/submit", form={"csrf_token": token}, headers=EN
    )
    assert answer.status == 404
    assert assignment(his, theirs).status == "sent"

    # "deliver without upload": the attachment page closes the questionnaire with nothing
    # attached (in Polish)
    second = assign(his, person.id, "onco-previsit-ro")
    page.get_by_role("button", name="Polski").click()
    page.goto(f"{portal}/questionnaires")
    axe_clean(page, "questionnaires-pl")
    page.goto(f"{portal}/questionnaires/{second}")
    page.locator("#start").click()
    page.locator("#answer-reason-2").check()
    page.locator("#save").click()
    # the response changed elsewhere meanwhile (another window): said, nothing overwritten
    bump(his, second)
    page.locator("#save").click()
    assert page.locator(".nhsuk-error-summary").is_visible()
    assert "zmieniona gdzie indziej" in page.locator(".nhsuk-error-summary").inner_text()
    assert assignment(his, second).answers == {"reason": "follow-up"}
    page.locator("#save").click()
    page.locator("#answer-treated-2").check()  # no: the treatments question is skipped
    page.locator("#save").click()
    page.locator("#answer-weight").fill("64")
    page.locator("#save").click()
    page.locator("#answer-height").fill("1.6")
    page.locator("#save").click()
    page.locator("#save").click()
    # a kind of file the gateway does not take: its 415 said, linked to the file field
    notes = tmp_path / "notes.txt"
    notes.write_text("plain text notes")
    page.locator("#file").set_input_files(str(notes))
    page.locator("#save").click()
    summary = page.locator(".nhsuk-error-summary")
    assert "nie jest przyjmowany" in summary.inner_text()
    assert summary.get_by_role("link").get_attribute("href") == "#file"
    assert page.locator("#file-error").is_visible()
    axe_clean(page, "questionnaire-attach-error-pl")
    # the attachment form checks its CSRF token itself (its size limit is its own): a forged
    # one is refused and changes nothing
    forged = page.request.post(
        page.url.replace("/step/", "/attach/"), multipart={"action": "deliver"}, headers=EN
    )
    assert forged.status == 400
    assert "Formularz wygasł" in forged.text()
    assert assignment(his, second).status == "in-progress"
    page.get_by_role("button", name="Dostarcz bez przesyłania").click()
    assert page.locator("#done").is_visible()
    row = assignment(his, second)
    assert row.status == "submitted"
    assert row.answers == {"reason": "follow-up", "treated": False, "weight": 64, "height": 1.6}
    axe_clean(page, "questionnaire-submitted-pl")
    context.close()
