"""The compiled record checks agree with marshmallow, on good records and on every field broken.

Property-style: for every record kind, every field (and every field of nested records and of
questionnaire items) is set to each value of a table of plausible wrong values, removed, and
set to None; the fast check must say "valid" exactly when ``Schema.validate`` finds no error.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import pytest
from marshmallow import Schema, fields
from marshmallow.validate import Email

from mappers.records import CHECKS, SCHEMAS, is_valid, problems
from mappers.validation import Integer, String, compile_check

from . import fixtures as f

GOOD: dict[str, dict[str, Any]] = {
    "department": f.department(),
    "doctor": f.doctor(),
    "service": f.service(),
    "patient": f.patient(),
    "guardian_link": f.guardian_link(),
    "episode": f.episode(),
    "lab_bulletin": f.lab_bulletin(),
    "lab_result": f.lab_result(),
    "paraclinical_test": f.paraclinical_test(),
    "document": f.document(),
    "document_file": f.document_file(),
    "imaging_order": f.imaging_order(),
    "schedule": f.schedule(),
    "slot": f.slot(),
    "appointment": f.appointment(),
    "questionnaire": f.questionnaire(),
    "questionnaire_assignment": f.questionnaire_assignment(),
}
MISSING = object()
WRONG: list[Any] = [
    MISSING,
    None,
    "",
    " ",
    "x",
    "ZZZ",
    "a" * 1001,
    "1.2.3",
    "https://x.example/v",
    "0123456789abcdef0123456789abcdef01234567",
    0,
    -1,
    1,
    2**63,
    True,
    False,
    1.5,
    math.nan,
    math.inf,
    date(2026, 1, 1),
    datetime(2026, 1, 1, 8, 0),
    b"bytes",
    [],
    [1],
    ["x"],
    [None],
    {},
    {"code": "x"},
    ("tuple",),
]


def _agree(kind: str, record: Any) -> None:
    fast = is_valid(kind, record)
    slow = isinstance(record, dict) and not SCHEMAS[kind].validate(record)
    assert fast == slow, (kind, problems(kind, record))


def _variants(record: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name in record:
        for value in WRONG:
            broken = dict(record)
            if value is MISSING:
                del broken[name]
            else:
                broken[name] = value
            out.append(broken)
    return out


def test_good_records_pass() -> None:
    assert set(GOOD) == set(SCHEMAS) == set(CHECKS)
    for kind, record in GOOD.items():
        assert is_valid(kind, record), problems(kind, record)
        assert SCHEMAS[kind].validate(record) == {}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_every_broken_field_agrees(kind: str) -> None:
    for broken in _variants(GOOD[kind]):
        _agree(kind, broken)


@pytest.mark.parametrize(
    ("kind", "nested"),
    [("guardian_link", "guardian"), ("questionnaire_assignment", "questionnaire")],
)
def test_nested_records_agree(kind: str, nested: str) -> None:
    for broken in _variants(GOOD[kind][nested]):
        _agree(kind, {**GOOD[kind], nested: broken})


def test_questionnaire_items_agree() -> None:
    good = GOOD["questionnaire"]
    for index, item in enumerate(good["items"]):
        for broken in _variants(item):
            items = list(good["items"])
            items[index] = broken
            _agree("questionnaire", {**good, "items": items})
    for options in (
        [" padded "],
        [{"display": "no code"}],
        [{"code": "x", "display": ""}],
        [{"code": "x", "display": None}],
        [3],
        [{"code": "a b"}],
    ):
        item = {"link_id": "q", "text": "Q", "type": "choice", "options": options}
        _agree("questionnaire", {**good, "items": [item]})


@pytest.mark.parametrize("record", [None, [], "patient", 12, {}])
def test_non_records_agree(record: Any) -> None:
    _agree("patient", record)
    assert problems("patient", record)


def test_unknown_keys_are_ignored() -> None:
    assert is_valid("patient", {**f.patient(), "access_code": 1, "extra": object()})


def test_compiler_refuses_what_it_cannot_translate() -> None:
    class Nullable(Schema):
        a = Integer(required=True, allow_none=True)

    class Optional(Schema):
        a = Integer(required=False, allow_none=False)

    class Unknown(Schema):
        a = String(required=True, allow_none=False, validate=Email())

    class Coercing(Schema):
        a = fields.Integer(required=True, allow_none=False)

    for schema in (Nullable(), Optional(), Unknown(), Coercing()):
        with pytest.raises(TypeError):
            compile_check(schema)
