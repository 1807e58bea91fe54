"""The questionnaire screen's own reading of a Questionnaire, without a browser: one page per
question with the display items before it, and ``enableWhen`` / ``enableBehavior`` as FHIR R4
defines them (the gateway checks the same rules; the portal uses them to skip pages and to
leave out answers the other answers disable)."""

from __future__ import annotations

from typing import Any

from portal.screens.questionnaires import enabled, pages_of

SYSTEM = "https://his.hospital.example/fhir/CodeSystem/questionnaire-answer/q"


def coding(code: str) -> dict[str, str]:
    return {"system": SYSTEM, "code": code}


def test_display_items_go_on_the_page_of_the_question_after_them() -> None:
    items = [
        {"linkId": "intro", "type": "display", "text": "Hello"},
        {"linkId": "a", "type": "boolean", "text": "A?"},
        {"linkId": "b", "type": "string", "text": "B?"},
        {"linkId": "outro", "type": "display", "text": "Thanks"},
    ]
    pages = pages_of(items)
    assert [(p["intro"], p["item"]["linkId"]) for p in pages] == [
        (["Hello"], "a"),
        (["Thanks"], "b"),
    ]
    only = pages_of([{"linkId": "x", "type": "display", "text": "Just this"}])
    assert only == [{"intro": ["Just this"], "item": None}]


def test_enable_when_operators_and_behaviour() -> None:
    answers: dict[str, list[dict[str, Any]]] = {
        "treated": [{"valueBoolean": True}],
        "reason": [{"valueCoding": coding("first")}],
        "weight": [{"valueInteger": 70}],
    }

    def item(*conditions: dict[str, object], behavior: str | None = None) -> dict[str, object]:
        found: dict[str, object] = {"linkId": "x", "type": "string", "enableWhen": list(conditions)}
        if behavior:
            found["enableBehavior"] = behavior
        return found

    assert enabled({"linkId": "x", "type": "string"}, {})
    assert enabled(item({"question": "treated", "operator": "=", "answerBoolean": True}), answers)
    assert not enabled(
        item({"question": "treated", "operator": "=", "answerBoolean": False}), answers
    )
    assert enabled(
        item({"question": "reason", "operator": "=", "answerCoding": coding("first")}), answers
    )
    assert not enabled(
        item({"question": "reason", "operator": "!=", "answerCoding": coding("first")}), answers
    )
    assert enabled(item({"question": "missing", "operator": "!=", "answerBoolean": True}), answers)
    assert enabled(item({"question": "weight", "operator": ">", "answerInteger": 60}), answers)
    assert not enabled(item({"question": "weight", "operator": "<=", "answerInteger": 60}), answers)
    assert enabled(
        item({"question": "weight", "operator": "exists", "answerBoolean": True}), answers
    )
    assert not enabled(
        item({"question": "gp", "operator": "exists", "answerBoolean": True}), answers
    )
    yes = {"question": "treated", "operator": "=", "answerBoolean": True}
    no = {"question": "weight", "operator": "<", "answerInteger": 10}
    assert not enabled(item(yes, no), answers)
    assert not enabled(item(yes, no, behavior="all"), answers)
    assert enabled(item(yes, no, behavior="any"), answers)
