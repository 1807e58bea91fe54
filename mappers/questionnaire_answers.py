"""A patient's QuestionnaireResponse checked against its Questionnaire, and its answers in the
HIS's form (the reverse of ``questionnaire_response``).

The rules are those of FHIR R4 (questionnaireresponse.html, the ``Questionnaire.item``
definitions) as the Structured Data Capture implementation guide applies them to a form filler's
answers:

* every item names a question of the Questionnaire (``linkId``), once: a question that takes
  several answers carries them in one item (the HIS keeps flat lists: no nested items);
* ``display`` items take no answer;
* answer types: each answer has exactly the ``value[x]`` of its item's type (``string`` and
  ``text`` -> valueString, ``boolean`` -> valueBoolean, ``integer`` -> valueInteger (32-bit),
  ``decimal`` -> valueDecimal, ``date`` -> valueDate (a full date), ``dateTime`` ->
  valueDateTime, ``choice`` -> valueCoding, ``attachment`` -> valueAttachment);
* ``answerOption``: a ``choice`` answer is one of the item's options (system and code);
* ``repeats``: more than one answer only where the item repeats;
* ``maxLength``: a text answer has at most that many characters;
* ``enableWhen`` / ``enableBehavior``: an item whose conditions are not met (by the answers in
  the same response; operators as http://hl7.org/fhir/R4/codesystem-questionnaire-enable-operator.html
  define them) is disabled and takes no answer;
* ``required``: on a completed response every enabled required item has an answer (a response
  in progress may still lack some).

Attachments are references to what the patient already holds at the gateway (their own
DocumentReference or Binary, an upload or a hospital document, or one of their ImagingStudy
resources): ``attachment_ok`` decides, so the check can follow where uploads are kept. A
response that only leaves its attachment items empty ("deliver without upload") is complete.

Problems are reported item by item with the ``linkId`` and the rule, never the answer itself.
Pure: no web framework, no database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .common import MapContext, Record
from .questionnaire import item_index, option_code
from .records import is_valid

#: The statuses a patient may give a response: saving and submitting.
WRITABLE_STATUSES = ("in-progress", "completed")
#: What an attachment answer may point at (a relative literal reference).
ATTACHABLE = ("DocumentReference", "Binary", "ImagingStudy")

_ANSWER_ELEMENT = {
    "string": "valueString",
    "text": "valueString",
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "choice": "valueCoding",
    "attachment": "valueAttachment",
}
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)
_REFERENCE = re.compile(rf"({'|'.join(ATTACHABLE)})/[A-Za-z0-9\-.]{{1,64}}\Z")


@dataclass(frozen=True, slots=True)
class Problem:
    """One wrong item: its link id (None: the response as a whole) and the rule it breaks."""

    link_id: str | None
    message: str


class AnswerProblems(Exception):
    """The response breaks the Questionnaire's rules; ``problems`` says where and how."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


#: ``(reference) -> bool``: whether an attachment may point at that resource.
AttachmentCheck = Callable[[str], bool]


def _string(value: Any, spec: Record, system: str) -> tuple[Any, str | None]:
    if type(value) is not str or not value.strip():
        return None, "a text answer must hold some text"
    limit = spec.get("max_length")
    if limit is not None and len(value) > limit:
        return None, f"the answer is longer than the {limit} characters allowed (maxLength)"
    return value, None


def _boolean(value: Any, spec: Record, system: str) -> tuple[Any, str | None]:
    return (value, None) if type(value) is bool else (None, "valueBoolean must be true or false")


def _integer(value: Any, spec: Record, system: str) -> tuple[Any, str | None]:
    if type(value) is int and -(2**31) <= value < 2**31:
        return value, None
    return None, "valueInteger must be a whole number (32-bit)"


def _decimal(value: Any, spec: Record, system: str) -> tuple[Any, str | None]:
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value, None
    return None, "valueDecimal must be a number"


def _date(value: Any, spec: Record, system: str) -> tuple[Any, str | None]:
    if type(value) is str and _FULL_DATE.match(value):
        try:
            date.fromisoformat(value)
            return value, None
        except ValueError:
            pass
    return None, "valueDate must be a full date (YYYY-MM-DD)"


def _date_time(value: Any, spec: Record, system: str) -> tuple[Any, str | None]:
    if type(value) is str and _FULL_DATE.match(value):
        return _date(value, spec, system)
    if type(value) is str and _DATE_TIME.match(value):
        try:
            datetime.fromisoformat(value)
            return value, None
        except ValueError:
            pass
    return None, "valueDateTime must be a date, or a date and time with its time zone"


def _choice(value: Any, spec: Record, system: str) -> tuple[Any, str | None]:
    if type(value) is dict and value.get("system") == system:
        codes = {option_code(option) for option in spec.get("options") or ()}
        if value.get("code") in codes:
            return value["code"], None
    return None, "the answer is not one of the question's options (answerOption)"


def _attachment(value: Any, spec: Record, system: str) -> tuple[Any, str | None]:
    if type(value) is not dict or "data" in value:
        return None, "an attachment refers to an uploaded document or an imaging study (url)"
    url = value.get("url")
    if type(url) is not str or _REFERENCE.match(url) is None:
        return None, (
            "valueAttachment.url must refer to one of the patient's DocumentReference, Binary "
            "or ImagingStudy resources"
        )
    out: dict[str, Any] = {"url": url}
    for element, key in (("contentType", "content_type"), ("title", "title")):
        if type(value.get(element)) is str and value[element].strip():
            out[key] = value[element][:200]
    return out, None


_CONVERT: dict[str, Callable[[Any, Record, str], tuple[Any, str | None]]] = {
    "string": _string,
    "text": _string,
    "boolean": _boolean,
    "integer": _integer,
    "decimal": _decimal,
    "date": _date,
    "dateTime": _date_time,
    "choice": _choice,
    "attachment": _attachment,
}


def _compare(operator: str, given: Any, expected: Any) -> bool:
    if operator == "=":
        return bool(given == expected)
    if operator == "!=":
        return bool(given != expected)
    try:
        if operator == ">":
            return bool(given > expected)
        if operator == "<":
            return bool(given < expected)
        if operator == ">=":
            return bool(given >= expected)
        return bool(given <= expected)
    except TypeError:
        return False


def _met(condition: Record, answers: dict[str, list[Any]]) -> bool:
    """One enableWhen condition against the answers given (HIS form: option codes)."""
    given = answers.get(condition["question"], [])
    operator, expected = condition["operator"], condition["answer"]
    if operator == "exists":
        return bool(given) == expected
    if operator == "!=":  # true when no answer equals it (so also when unanswered)
        return not any(value == expected for value in given)
    return any(_compare(operator, value, expected) for value in given)


def enabled(spec: Record, answers: dict[str, list[Any]]) -> bool:
    """Whether an item is shown, given the answers to the questions before it."""
    conditions = spec.get("enable_when") or ()
    if not conditions:
        return True
    met = (_met(condition, answers) for condition in conditions)
    return any(met) if spec.get("enable_behavior") == "any" else all(met)


def _items(
    resource: dict[str, Any], index: dict[str, Record]
) -> tuple[dict[str, Any], list[Problem]]:
    """The response's items by link id, and what is wrong with their shape."""
    problems: list[Problem] = []
    by_link: dict[str, Any] = {}
    items = resource.get("item", [])
    if type(items) is not list:
        return {}, [Problem(None, "item must be a list")]
    for item in items:
        link_id = item.get("linkId") if type(item) is dict else None
        if type(link_id) is not str or not link_id:
            problems.append(Problem(None, "every item needs its linkId"))
        elif link_id not in index:
            problems.append(Problem(link_id[:64], "the Questionnaire has no item with this linkId"))
        elif link_id in by_link:
            problems.append(
                Problem(
                    link_id,
                    "the item appears more than once: a repeating question takes its answers "
                    "in one item",
                )
            )
        elif "item" in item:
            problems.append(Problem(link_id, "nested items are not part of this Questionnaire"))
        else:
            by_link[link_id] = item
    return by_link, problems


def answers_of(
    resource: dict[str, Any],
    questionnaire: Record,
    ctx: MapContext,
    attachment_ok: AttachmentCheck,
) -> dict[str, Any]:
    """The HIS answers (``{link_id: value}``, a list for a repeating item) of a response the
    patient sends, checked against the questionnaire row; ``AnswerProblems`` when it breaks a
    rule. ``resource["status"]`` must be one of ``WRITABLE_STATUSES``; ``completed`` also
    demands every enabled required item."""
    if not is_valid("questionnaire", questionnaire):
        raise AnswerProblems([Problem(None, "the Questionnaire of this response is malformed")])
    index = item_index(questionnaire, "questionnaire", questionnaire)
    system = ctx.codes.questionnaire_answers(questionnaire["code"])
    completed = resource.get("status") == "completed"
    by_link, problems = _items(resource, index)
    given: dict[str, list[Any]] = {}
    out: dict[str, Any] = {}
    for link_id, spec in index.items():
        item = by_link.get(link_id)
        raw = item.get("answer", []) if item is not None else []
        if type(raw) is not list:
            problems.append(Problem(link_id, "answer must be a list"))
            continue
        shown = enabled(spec, given)
        if raw and spec["type"] == "display":
            problems.append(Problem(link_id, "a display item takes no answer"))
            continue
        if raw and not shown:
            problems.append(
                Problem(
                    link_id,
                    "the item is not enabled by the answers given (enableWhen), so it takes "
                    "no answer",
                )
            )
            continue
        if len(raw) > 1 and not spec.get("repeats"):
            problems.append(Problem(link_id, "the question does not repeat: one answer only"))
            continue
        if not raw:
            if completed and shown and spec.get("required"):
                problems.append(Problem(link_id, "the question is required"))
            continue
        values, wrong = _answers(raw, spec, system, attachment_ok)
        if wrong is not None:
            problems.append(Problem(link_id, wrong))
            continue
        given[link_id] = values
        out[link_id] = values if spec.get("repeats") else values[0]
    if problems:
        raise AnswerProblems(problems)
    return out


def _answers(
    raw: list[Any], spec: Record, system: str, attachment_ok: AttachmentCheck
) -> tuple[list[Any], str | None]:
    element = _ANSWER_ELEMENT[spec["type"]]
    convert = _CONVERT[spec["type"]]
    values = []
    for answer in raw:
        if type(answer) is not dict or "item" in answer:
            return [], "an answer holds one value and no nested items"
        keys = [key for key in answer if key.startswith("value")]
        if keys != [element]:
            return [], f"a {spec['type']} question takes {element}"
        value, wrong = convert(answer[element], spec, system)
        if wrong is not None:
            return [], wrong
        if spec["type"] == "attachment" and not attachment_ok(value["url"]):
            return [], "the attachment is none of the patient's documents or imaging studies"
        values.append(value)
    return values, None
