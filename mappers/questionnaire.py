"""Questionnaire from a HIS ``questionnaire`` row: http://hl7.org/fhir/R4/questionnaire.html.

``url`` is ``{IdentifierSystems.questionnaire}/{code}`` and ``version`` the HIS version label,
so ``url|version`` (a canonical reference) names one version. Items come from the ``items`` JSON
(shape: ``mappers.records.QuestionnaireItem``): the HIS uses FHIR's item type names, ``choice``
options become ``answerOption.valueCoding`` in a per-questionnaire local code system
(``{local_codes}/questionnaire-answer/{code}``), ``display`` items are never required.
"""

from __future__ import annotations

import re
from typing import Any

from .codes import coding
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


def _item(spec: Record, answer_system: str) -> Json:
    kind = spec["type"]
    item: Json = {"linkId": spec["link_id"], "text": spec["text"], "type": kind}
    if kind == "display":
        return item  # que-6: display items cannot be required or repeat
    if spec.get("required"):
        item["required"] = True
    if spec.get("repeats"):
        item["repeats"] = True
    options = spec.get("options")
    if kind == "choice" and options:
        item["answerOption"] = [
            {"valueCoding": option_coding(option, answer_system)} for option in options
        ]
    return item


def from_questionnaire(record: Record, ctx: MapContext) -> Json:
    """The Questionnaire of one questionnaire row."""
    code = record["code"]
    index = item_index(record, "questionnaire", record)
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
    if index:
        answer_system = ctx.codes.questionnaire_answers(code)
        resource["item"] = [_item(spec, answer_system) for spec in index.values()]
    return resource
