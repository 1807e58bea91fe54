"""QuestionnaireResponse from a HIS ``questionnaire_assignment`` row.

http://hl7.org/fhir/R4/questionnaireresponse.html. The connector adds ``questionnaire``: the
questionnaire row the assignment points at; the response's ``questionnaire`` is its canonical
``url|version``. Status: sent and in-progress -> in-progress, submitted -> completed; the patient
is both ``subject`` and ``source``; ``authored`` is the submission time, or the sending time
while unanswered. ``meta.versionId`` joins the two rows' versions (as for RelatedPerson).

Answers (``{link_id: value}``, a list for repeating items) are typed by the item's type:
string/text -> valueString, boolean -> valueBoolean (true/false or "yes"/"no"), integer ->
valueInteger (32-bit), decimal -> valueDecimal, date ("YYYY-MM-DD") -> valueDate, dateTime ->
valueDateTime, choice (an option code) -> valueCoding, attachment (a HIS document id, or
``{"url", "content_type"?, "title"?}``) -> valueAttachment. An answer that does not fit its
item makes the record invalid; problems name the link id, never the answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from .codes import ASSIGNMENT_STATUS, QUESTIONNAIRE_ITEM_TYPES
from .common import Json, MapContext, Record, composite_meta, instant, refuse
from .ids import reference, resource_id
from .questionnaire import canonical_url, item_index, option_coding

_YES_NO = {"yes": True, "true": True, "no": False, "false": False}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def _string(value: Any, spec: Record, system: str) -> Any:
    return value if type(value) is str and value.strip() else None


def _boolean(value: Any, spec: Record, system: str) -> Any:
    if type(value) is bool:
        return value
    return _YES_NO.get(value.strip().lower()) if type(value) is str else None


def _integer(value: Any, spec: Record, system: str) -> Any:
    return value if type(value) is int and -(2**31) <= value < 2**31 else None


def _decimal(value: Any, spec: Record, system: str) -> Any:
    ok = type(value) is int or (type(value) is float and math.isfinite(value))
    return value if ok else None


def _date(value: Any, spec: Record, system: str) -> Any:
    if type(value) is not str or _DATE.match(value) is None:
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return None
    return value


def _date_time(value: Any, spec: Record, system: str) -> Any:
    if _date(value, spec, system) is not None:
        return value
    try:
        return instant(datetime.fromisoformat(value)) if type(value) is str else None
    except ValueError:
        return None


def _choice(value: Any, spec: Record, system: str) -> Any:
    if type(value) is not str:
        return None
    for option in spec.get("options") or ():
        if (option if type(option) is str else option["code"]) == value:
            return option_coding(option, system)
    return None


def _attachment(value: Any, spec: Record, system: str) -> Any:
    if type(value) is int:
        try:
            return {"url": f"Binary/{resource_id('Binary', 'document_file', value)}"}
        except ValueError:
            return None
    if type(value) is not dict or type(value.get("url")) is not str or not value["url"]:
        return None
    out: Json = {}
    for key, element in (("content_type", "contentType"), ("url", "url"), ("title", "title")):
        if type(value.get(key)) is str and value[key]:
            out[element] = value[key]
    return out


_CONVERT: dict[str, Callable[[Any, Record, str], Any]] = {
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


def _answered_items(
    record: Record, questionnaire: Record, answers: dict[str, Any], ctx: MapContext
) -> list[Json]:
    index = item_index(questionnaire, "questionnaire_assignment", record)
    problems: list[str] = []
    unknown = sum(1 for link_id in answers if link_id not in index)
    if unknown:
        problems.append(f"answers: {unknown} answer(s) to questions the questionnaire lacks")
    system = ctx.codes.questionnaire_answers(questionnaire["code"])
    items: list[Json] = []
    for link_id, spec in index.items():
        given = answers.get(link_id)
        if given is None or given == []:
            continue
        values = given if type(given) is list else [given]
        element = QUESTIONNAIRE_ITEM_TYPES[spec["type"]]
        if element is None:
            problems.append(f"answers.{link_id}: display items take no answer")
            continue
        if len(values) > 1 and not spec.get("repeats"):
            problems.append(f"answers.{link_id}: several answers to a non-repeating item")
            continue
        convert = _CONVERT[spec["type"]]
        converted = [convert(value, spec, system) for value in values]
        if any(value is None for value in converted):
            problems.append(f"answers.{link_id}: not a valid {spec['type']} answer")
            continue
        items.append(
            {
                "linkId": link_id,
                "text": spec["text"],
                "answer": [{element: value} for value in converted],
            }
        )
    if problems:
        raise refuse("questionnaire_assignment", record, *problems)
    return items


def from_questionnaire_assignment(record: Record, ctx: MapContext) -> Json:
    """The QuestionnaireResponse of one questionnaire assignment."""
    questionnaire = record["questionnaire"]
    if questionnaire["id"] != record["questionnaire_id"]:
        raise refuse(
            "questionnaire_assignment",
            record,
            "questionnaire: not the row questionnaire_id points at",
        )
    submitted_at = record.get("submitted_at")
    patient = reference("Patient", record["patient_id"])
    resource: Json = {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id("QuestionnaireResponse", "questionnaire_assignment", record["id"]),
        "meta": composite_meta(record, questionnaire),
        "questionnaire": f"{canonical_url(questionnaire, ctx.systems)}|"
        f"{questionnaire['version_label']}",
        "status": ASSIGNMENT_STATUS[record["status"]],
        "subject": patient,
        "authored": instant(submitted_at if submitted_at is not None else record["sent_at"]),
        "source": patient,
    }
    answers = record.get("answers")
    if answers:
        items = _answered_items(record, questionnaire, answers, ctx)
        if items:
            resource["item"] = items
    return resource
