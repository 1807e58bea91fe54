"""A patient's answers against the Questionnaire, rule by rule (``mappers.questionnaire_answers``).

Each rule of the SDC guide's reading of R4 (required, answer types, answerOption, enableWhen
with enableBehavior, repeats, maxLength; and the shape: known link ids, once each, display items
unanswered) has a test with an answer that breaks it and one that keeps it. A broken rule is
reported for its item, by linkId, never with the answer's value; the Questionnaire the patient
is shown carries the same rules (the mapper), valid R4.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from mappers import InvalidRecord, MapContext, map_record
from mappers.questionnaire_answers import AnswerProblems, Problem, answers_of

NOW = dt.datetime(2026, 11, 1, 9, 0)
ITEMS: list[dict[str, Any]] = [
    {"link_id": "intro", "text": "Please answer", "type": "display"},
    {
        "link_id": "reason",
        "text": "Why",
        "type": "choice",
        "required": True,
        "options": [{"code": "first", "display": "First visit"}, "follow-up"],
    },
    {"link_id": "smoker", "text": "Do you smoke?", "type": "boolean", "required": True},
    {
        "link_id": "packs",
        "text": "Packs a day",
        "type": "integer",
        "required": True,
        "enable_when": [{"question": "smoker", "operator": "=", "answer": True}],
    },
    {"link_id": "height", "text": "Height (m)", "type": "decimal"},
    {"link_id": "seen_on", "text": "Last visit", "type": "date"},
    {"link_id": "at", "text": "When", "type": "dateTime"},
    {"link_id": "gp", "text": "Family doctor", "type": "string", "max_length": 10},
    {"link_id": "notes", "text": "Notes", "type": "text", "max_length": 50},
    {
        "link_id": "why_not_first",
        "text": "Who sent you?",
        "type": "string",
        "enable_when": [
            {"question": "reason", "operator": "!=", "answer": "first"},
            {"question": "height", "operator": ">", "answer": 2},
        ],
        "enable_behavior": "any",
    },
    {
        "link_id": "tall_smoker",
        "text": "Both?",
        "type": "boolean",
        "enable_when": [
            {"question": "smoker", "operator": "exists", "answer": True},
            {"question": "height", "operator": ">=", "answer": 1.9},
        ],
    },
    {"link_id": "files", "text": "Earlier results", "type": "attachment", "repeats": True},
    {"link_id": "languages", "text": "Languages", "type": "string", "repeats": True},
]
QUESTIONNAIRE: dict[str, Any] = {
    "id": 7,
    "code": "previsit-en",
    "title": "Before the visit",
    "version_label": "1.0",
    "status": "active",
    "description": None,
    "items": ITEMS,
    "published_at": NOW,
    "updated_at": NOW,
    "version": 3,
}
CTX = MapContext()
SYSTEM = CTX.codes.questionnaire_answers("previsit-en")
MINE = {"DocumentReference/doc-12", "Binary/12", "ImagingStudy/5"}


def item(link_id: str, *values: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "answer": list(values)}


def coding(code: str) -> dict[str, Any]:
    return {"valueCoding": {"system": SYSTEM, "code": code}}


#: A complete, valid response: the base every test changes one thing of.
BASE_ITEMS = [
    item("reason", coding("first")),
    item("smoker", {"valueBoolean": True}),
    item("packs", {"valueInteger": 1}),
]


def response(*items: dict[str, Any], status: str = "completed", keep: bool = True) -> dict:
    changed = {i["linkId"] for i in items}
    base = [i for i in BASE_ITEMS if i["linkId"] not in changed] if keep else []
    return {"resourceType": "QuestionnaireResponse", "status": status, "item": [*base, *items]}


def check(resource: dict[str, Any], attachment_ok: Callable[[str], bool] = MINE.__contains__):
    return answers_of(resource, QUESTIONNAIRE, CTX, attachment_ok)


def problems(resource: dict[str, Any]) -> list[Problem]:
    with pytest.raises(AnswerProblems) as caught:
        check(resource)
    return caught.value.problems


def only(resource: dict[str, Any], link_id: str | None, words: str) -> None:
    found = problems(resource)
    assert [p.link_id for p in found] == [link_id], found
    assert words in found[0].message, found


# --- the base ----------------------------------------------------------------------------------


def test_a_valid_response_becomes_the_his_answers() -> None:
    assert check(response()) == {"reason": "first", "smoker": True, "packs": 1}


def test_the_questionnaire_shown_carries_the_rules_and_is_valid_r4(r4_errors: Any) -> None:
    resource = map_record("Questionnaire", "questionnaire", QUESTIONNAIRE, CTX)
    assert r4_errors(resource) == []
    by_link = {i["linkId"]: i for i in resource["item"]}
    assert by_link["gp"]["maxLength"] == 10
    assert by_link["packs"]["enableWhen"] == [
        {"question": "smoker", "operator": "=", "answerBoolean": True}
    ]
    assert by_link["why_not_first"]["enableBehavior"] == "any"
    assert by_link["why_not_first"]["enableWhen"][0]["answerCoding"]["code"] == "first"
    assert by_link["why_not_first"]["enableWhen"][1] == {
        "question": "height",
        "operator": ">",
        "answerDecimal": 2,
    }
    assert by_link["tall_smoker"]["enableBehavior"] == "all"
    assert by_link["files"]["repeats"] is True


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"question": "later", "operator": "=", "answer": True}, "not an earlier question"),
        ({"question": "smoker", "operator": "=", "answer": "yes"}, "not a boolean answer"),
        ({"question": "smoker", "operator": ">", "answer": True}, "= or != only"),
        ({"question": "reason", "operator": "=", "answer": "third"}, "not an option"),
        ({"question": "smoker", "operator": "exists", "answer": 1}, "true or false"),
    ],
)
def test_a_questionnaire_with_a_broken_condition_is_refused(
    change: dict[str, Any], problem: str
) -> None:
    items = [*ITEMS, {"link_id": "later", "text": "x", "type": "boolean"}]
    items.insert(3, {"link_id": "cond", "text": "x", "type": "string", "enable_when": [change]})
    with pytest.raises(InvalidRecord) as caught:
        map_record("Questionnaire", "questionnaire", {**QUESTIONNAIRE, "items": items}, CTX)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


# --- required ----------------------------------------------------------------------------------


def test_required_wrong_a_completed_response_lacks_a_required_answer() -> None:
    # (packs, enabled by smoker, goes with it)
    only(response(item("smoker"), item("packs"), status="completed"), "smoker", "required")


def test_required_right_a_response_in_progress_may_lack_it() -> None:
    assert check(response(item("smoker"), item("packs"), status="in-progress")) == {
        "reason": "first"
    }


def test_required_right_a_disabled_required_item_needs_no_answer() -> None:
    given = response(item("smoker", {"valueBoolean": False}), item("packs"))
    assert check(given) == {"reason": "first", "smoker": False}


# --- answer types ------------------------------------------------------------------------------

TYPES = [
    # (link id, a wrong answer, a right answer, the HIS value)
    ("smoker", {"valueString": "yes"}, {"valueBoolean": True}, True),
    ("packs", {"valueInteger": 2**31}, {"valueInteger": 3}, 3),
    ("packs", {"valueDecimal": 1.5}, {"valueInteger": 0}, 0),
    ("height", {"valueDecimal": "1.8"}, {"valueDecimal": 1.82}, 1.82),
    ("seen_on", {"valueDate": "2026-02-30"}, {"valueDate": "2026-02-28"}, "2026-02-28"),
    ("seen_on", {"valueDateTime": "2026-02-28T10:00:00Z"}, {"valueDate": "2026-02-28"}, None),
    (
        "at",
        {"valueDateTime": "2026-02-28T10:00:00"},
        {"valueDateTime": "2026-02-28T10:00:00Z"},
        None,
    ),
    ("gp", {"valueString": "   "}, {"valueString": "Dr Pop"}, "Dr Pop"),
    ("gp", {"valueString": "Dr", "valueBoolean": True}, {"valueString": "Dr"}, "Dr"),
    ("reason", {"valueString": "first"}, coding("follow-up"), "follow-up"),
    ("files", {"valueString": "DocumentReference/doc-12"}, None, None),
]


@pytest.mark.parametrize(("link_id", "wrong", "right", "stored"), TYPES)
def test_answer_types(link_id: str, wrong: Any, right: Any, stored: Any) -> None:
    # a wrong answer to smoker leaves packs disabled: it goes too
    extra = [item("packs")] if link_id == "smoker" else []
    found = problems(response(item(link_id, wrong), *extra))
    assert [p.link_id for p in found] == [link_id]
    assert str(next(iter(wrong.values()))) not in found[0].message  # never the value
    if right is not None:
        answers = check(response(item(link_id, right)))
        if stored is not None:
            assert answers[link_id] == stored


# --- answerOption ------------------------------------------------------------------------------


def test_answer_option_wrong_a_code_the_question_does_not_offer() -> None:
    only(response(item("reason", coding("third"))), "reason", "answerOption")


def test_answer_option_wrong_an_option_code_of_another_system() -> None:
    other = {"valueCoding": {"system": "http://loinc.org", "code": "first"}}
    only(response(item("reason", other)), "reason", "answerOption")


def test_answer_option_right_either_form_of_option() -> None:
    assert check(response(item("reason", coding("follow-up"))))["reason"] == "follow-up"
    assert check(response(item("reason", coding("first"))))["reason"] == "first"


# --- enableWhen --------------------------------------------------------------------------------


def test_enable_when_wrong_an_answer_to_a_disabled_item() -> None:
    given = response(item("smoker", {"valueBoolean": False}), item("packs", {"valueInteger": 2}))
    only(given, "packs", "enableWhen")


def test_enable_when_any_wrong_when_no_condition_holds() -> None:
    given = response(
        item("height", {"valueDecimal": 1.7}), item("why_not_first", {"valueString": "Dr X"})
    )
    only(given, "why_not_first", "enableWhen")


@pytest.mark.parametrize(
    "enabling",
    [
        [item("reason", coding("follow-up"))],  # != holds
        [item("height", {"valueDecimal": 2.05})],  # > holds
    ],
)
def test_enable_when_any_right_when_one_condition_holds(enabling: list[dict[str, Any]]) -> None:
    given = response(*enabling, item("why_not_first", {"valueString": "Dr X"}))
    assert check(given)["why_not_first"] == "Dr X"


def test_enable_when_all_needs_every_condition() -> None:
    short = response(
        item("height", {"valueDecimal": 1.8}), item("tall_smoker", {"valueBoolean": True})
    )
    only(short, "tall_smoker", "enableWhen")
    tall = response(
        item("height", {"valueDecimal": 1.95}), item("tall_smoker", {"valueBoolean": True})
    )
    assert check(tall)["tall_smoker"] is True


def test_enable_when_exists_false_when_the_question_is_unanswered() -> None:
    given = response(
        item("smoker"),
        item("packs"),
        item("height", {"valueDecimal": 1.95}),
        item("tall_smoker", {"valueBoolean": True}),
        status="in-progress",
    )
    only(given, "tall_smoker", "enableWhen")


# --- repeats -----------------------------------------------------------------------------------


def test_repeats_wrong_several_answers_to_a_question_that_does_not_repeat() -> None:
    given = response(item("gp", {"valueString": "Dr A"}, {"valueString": "Dr B"}))
    only(given, "gp", "one answer only")


def test_repeats_right_several_answers_to_a_repeating_question() -> None:
    given = response(item("languages", {"valueString": "ro"}, {"valueString": "pl"}))
    assert check(given)["languages"] == ["ro", "pl"]


def test_repeats_wrong_the_same_item_twice() -> None:
    given = response(item("languages", {"valueString": "ro"}), item("languages"))
    only(given, "languages", "more than once")


# --- maxLength ---------------------------------------------------------------------------------


def test_max_length_wrong_a_longer_answer() -> None:
    only(response(item("gp", {"valueString": "Dr " + "x" * 8})), "gp", "maxLength")
    only(response(item("notes", {"valueString": "n" * 51})), "notes", "maxLength")


def test_max_length_right_an_answer_of_exactly_that_length() -> None:
    assert check(response(item("gp", {"valueString": "x" * 10})))["gp"] == "x" * 10
    assert check(response(item("notes", {"valueString": "ș" * 50})))["notes"] == "ș" * 50


# --- attachments -------------------------------------------------------------------------------


def test_attachment_right_the_patients_own_documents_and_studies() -> None:
    given = response(
        item(
            "files",
            {"valueAttachment": {"url": "DocumentReference/doc-12", "title": "Old scan"}},
            {"valueAttachment": {"url": "ImagingStudy/5", "contentType": "application/dicom"}},
        )
    )
    assert check(given)["files"] == [
        {"url": "DocumentReference/doc-12", "title": "Old scan"},
        {"url": "ImagingStudy/5", "content_type": "application/dicom"},
    ]


@pytest.mark.parametrize(
    "attachment",
    [
        {"url": "DocumentReference/doc-99"},  # not the patient's
        {"url": "Observation/3"},  # not a document or study
        {"url": "https://elsewhere.example/file.pdf"},
        {"data": "aGVsbG8=", "contentType": "text/plain"},  # bytes go through the uploads
    ],
)
def test_attachment_wrong_anything_but_the_patients_own(attachment: dict[str, Any]) -> None:
    only(response(item("files", {"valueAttachment": attachment})), "files", "")


def test_deliver_without_upload_completes_with_no_attachment() -> None:
    assert "files" not in check(response(item("files"), status="completed"))


# --- shape -------------------------------------------------------------------------------------


def test_shape_wrong_unknown_link_ids_and_answers_to_display_items() -> None:
    found = problems(
        response(item("nope", {"valueString": "x"}), item("intro", {"valueString": "x"}))
    )
    assert {p.link_id for p in found} == {"nope", "intro"}


def test_shape_wrong_nested_items() -> None:
    nested = {"linkId": "gp", "item": [{"linkId": "gp-detail"}]}
    only(response(nested), "gp", "nested")


def test_every_wrong_item_is_reported_at_once() -> None:
    given = response(
        item("smoker", {"valueBoolean": False}),
        item("packs", {"valueInteger": 2}),
        item("gp", {"valueString": "x" * 11}),
        item("reason", coding("third")),
    )
    assert [p.link_id for p in problems(given)] == ["reason", "packs", "gp"]
