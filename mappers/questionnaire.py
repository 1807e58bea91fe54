"""Questionnaire from a HIS ``questionnaire`` row: http://hl7.org/fhir/R4/questionnaire.html.

``url`` is ``{IdentifierSystems.questionnaire}/{code}`` and ``version`` the HIS version label,
so ``url|version`` (a canonical reference) names one version. Items come from the ``items`` JSON
(shape: ``mappers.records.QuestionnaireItem``): the HIS uses FHIR's item type names, ``choice``
options become ``answerOption.valueCoding`` in a per-questionnaire local code system
(``{local_codes}/questionnaire-answer/{code}``), ``display`` items are never required.
``max_length`` (text items only) becomes ``maxLength``; ``enable_when`` conditions become
``enableWhen`` with the ``answer[x]`` of the type of the question they look at (an option code
of a ``choice`` question becomes its Coding), and ``enableBehavior`` (``all`` unless the HIS
says ``any``) whenever there are several (que-12). A condition on a question the questionnaire
lacks, on a later question, or with an answer of the wrong type makes the record invalid.
"""

from __future__ import annotations

import re
from typing import Any

from .codes import ENABLE_ANSWER_TYPES, coding
from .common import IdentifierSystems, Json, MapContext, Record, instant, meta, refuse
from .ids import resource_id

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def canonical_url(questionnaire: Record, systems: IdentifierSystems) -> str:
    """Questionnaire.url of a questionnaire row."""
    return f"{systems.questionnaire}/{questionnaire['code']}"


def computable_name(code: str) -> str:
    """Questionnaire.name: "phq-9" -> "Phq9" (que-0: an upper-case letter, then [A-Za-z0-9_])."""
    name = "".join(part[:1].upper() + part[1:] for part in _NOT_ALNUM.split(code) if part)
    return name if name[:1].isalpha() else f"Q{name}"


def option_coding(option: Any, system: str) -> Json:
    """The Coding of one HIS option: a bare code, or {"code", "display"}."""
    if type(option) is str:
        return coding(system, option, option)
    return coding(system, option["code"], option.get("display"))


def item_index(questionnaire: Record, record_kind: str, record: Record) -> dict[str, Record]:
    """The questionnaire's items by link id, in order; duplicate link ids make it invalid."""
    index: dict[str, Record] = {}
    for spec in questionnaire["items"]:
        if spec["link_id"] in index:
            raise refuse(record_kind, record, f"items: link_id {spec['link_id']} is not unique")
        index[spec["link_id"]] = spec
    return index


#: Item types whose answers are text (``maxLength`` applies: que-10).
TEXT_TYPES = frozenset({"string", "text"})


def option_code(option: Any) -> str:
    """The code of one HIS option (a bare code or ``{"code", "display"}``)."""
    return option if type(option) is str else option["code"]  # type: ignore[no-any-return]


def _scalar_fits(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return type(value) is bool
    if kind == "integer":
        return type(value) is int
    if kind == "decimal":
        return type(value) in (int, float)
    return type(value) is str


def _condition(
    condition: Record, earlier: dict[str, Record], answer_system: str
) -> tuple[Json | None, str | None]:
    """(enableWhen element, None) or (None, the problem)."""
    question = earlier.get(condition["question"])
    if question is None or question["type"] in ("display", "attachment"):
        return None, f"enable_when: {condition['question']} is not an earlier question"
    operator, value = condition["operator"], condition["answer"]
    out: Json = {"question": question["link_id"], "operator": operator}
    if operator == "exists":
        if type(value) is not bool:
            return None, "enable_when: exists takes true or false"
        out["answerBoolean"] = value
        return out, None
    kind = question["type"]
    if kind == "choice":
        if operator not in ("=", "!="):
            return None, "enable_when: a choice is compared with = or != only"
        options = {option_code(o): o for o in question.get("options") or ()}
        if type(value) is not str or value not in options:
            return None, f"enable_when: not an option of {question['link_id']}"
        out["answerCoding"] = option_coding(options[value], answer_system)
        return out, None
    if kind == "boolean" and operator not in ("=", "!="):
        return None, "enable_when: a boolean is compared with = or != only"
    if not _scalar_fits(kind, value):
        return None, f"enable_when: not a {kind} answer for {question['link_id']}"
    out[ENABLE_ANSWER_TYPES[kind]] = value
    return out, None


def _item(
    spec: Record, answer_system: str, earlier: dict[str, Record], problems: list[str]
) -> Json:
    kind = spec["type"]
    item: Json = {"linkId": spec["link_id"], "text": spec["text"], "type": kind}
    conditions = spec.get("enable_when") or ()
    if conditions:
        found = [_condition(c, earlier, answer_system) for c in conditions]
        problems.extend(f"items.{spec['link_id']}.{p}" for _, p in found if p is not None)
        item["enableWhen"] = [c for c, _ in found if c is not None]
        if len(conditions) > 1:
            item["enableBehavior"] = spec.get("enable_behavior") or "all"
    if kind == "display":
        return item  # que-6: display items cannot be required or repeat
    if spec.get("required"):
        item["required"] = True
    if spec.get("repeats"):
        item["repeats"] = True
    max_length = spec.get("max_length")
    if max_length is not None:
        if kind not in TEXT_TYPES:
            problems.append(f"items.{spec['link_id']}.max_length: only for text items")
        item["maxLength"] = max_length
    options = spec.get("options")
    if kind == "choice" and options:
        item["answerOption"] = [
            {"valueCoding": option_coding(option, answer_system)} for option in options
        ]
    return item


def items_of(record: Record, ctx: MapContext, record_kind: str, checked: Record) -> list[Json]:
    """Questionnaire.item of a questionnaire row; ``checked`` is the record refused when an
    item is malformed (the questionnaire row, or the assignment that carries it)."""
    index = item_index(record, record_kind, checked)
    answer_system = ctx.codes.questionnaire_answers(record["code"])
    problems: list[str] = []
    earlier: dict[str, Record] = {}
    items = []
    for spec in index.values():
        items.append(_item(spec, answer_system, earlier, problems))
        earlier[spec["link_id"]] = spec
    if problems:
        raise refuse(record_kind, checked, *problems)
    return items


def from_questionnaire(record: Record, ctx: MapContext) -> Json:
    """The Questionnaire of one questionnaire row."""
    code = record["code"]
    items = items_of(record, ctx, "questionnaire", record)
    resource: Json = {
        "resourceType": "Questionnaire",
        "id": resource_id("Questionnaire", "questionnaire", record["id"]),
        "meta": meta(record),
        "url": canonical_url(record, ctx.systems),
        "version": record["version_label"],
        "name": computable_name(code),
        "title": record["title"],
        "status": record["status"],
        "subjectType": ["Patient"],
        "date": instant(record["published_at"]),
    }
    description = record.get("description")
    if description is not None:
        resource["description"] = description
    if items:
        resource["item"] = items
    return resource
