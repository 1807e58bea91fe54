"""Search-parameter parsing: values, prefixes, modifiers, result parameters, handling."""

from datetime import datetime

import pytest

from fhir_gateway.errors import BadRequest, UnknownParameter
from fhir_gateway.fhir.query import (
    DateValue,
    QueryParser,
    ReferenceValue,
    TokenValue,
    parse_date,
    parse_reference,
    parse_token,
    split_or,
)
from fhir_gateway.fhir.registry import registry

BASE = "http://gw.test/fhir"
parser = QueryParser(BASE, default_count=20, max_count=100)


@pytest.mark.parametrize(
    ("raw", "low", "high"),
    [
        ("2024", datetime(2024, 1, 1), datetime(2025, 1, 1)),
        ("2024-02", datetime(2024, 2, 1), datetime(2024, 3, 1)),
        ("2024-12", datetime(2024, 12, 1), datetime(2025, 1, 1)),
        ("2024-02-29", datetime(2024, 2, 29), datetime(2024, 3, 1)),
        ("2024-02-29T10:15", datetime(2024, 2, 29, 10, 15), datetime(2024, 2, 29, 10, 16)),
        (
            "2024-02-29T10:15:30Z",
            datetime(2024, 2, 29, 10, 15, 30),
            datetime(2024, 2, 29, 10, 15, 31),
        ),
        (
            "2024-02-29T10:15:30+02:00",
            datetime(2024, 2, 29, 8, 15, 30),
            datetime(2024, 2, 29, 8, 15, 31),
        ),
        (
            "2024-02-29T10:15:30.5Z",
            datetime(2024, 2, 29, 10, 15, 30, 500000),
            datetime(2024, 2, 29, 10, 15, 30, 600000),
        ),
    ],
)
def test_dates_are_ranges_of_their_precision(raw, low, high):
    assert parse_date(raw) == DateValue("eq", low, high)


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
def test_every_date_prefix_is_parsed(prefix):
    assert parse_date(f"{prefix}2024-05").prefix == prefix


@pytest.mark.parametrize(
    "raw", ["2024-13", "2024-02-30", "24", "2024/01/01", "xx2024", "2024-01-01T25:00"]
)
def test_bad_dates_are_400(raw):
    with pytest.raises(BadRequest):
        parse_date(raw)


def test_tokens_with_and_without_system():
    assert parse_token("http://loinc.org|718-7") == TokenValue("http://loinc.org", "718-7")
    assert parse_token("|718-7") == TokenValue("", "718-7")
    assert parse_token("718-7") == TokenValue(None, "718-7")
    assert parse_token("http://loinc.org|") == TokenValue("http://loinc.org", None)


def test_references_in_every_form():
    assert parse_reference("123", BASE, None) == ReferenceValue(None, "123")
    assert parse_reference("Patient/123", BASE, None) == ReferenceValue("Patient", "123")
    assert parse_reference(f"{BASE}/Patient/123", BASE, None) == ReferenceValue("Patient", "123")
    assert parse_reference("123", BASE, "Patient") == ReferenceValue("Patient", "123")
    with pytest.raises(BadRequest):
        parse_reference("Practitioner/1", BASE, "Patient")
    with pytest.raises(BadRequest):
        parse_reference("http://elsewhere/fhir/Patient/1", BASE, None)


def test_commas_or_and_escapes():
    assert split_or("a,b\\,c,d\\\\") == ["a", "b,c", "d\\"]


def test_criteria_modifiers_and_result_parameters():
    spec = registry()["Observation"]
    q = parser.parse(
        spec,
        [
            ("patient", "Patient/7"),
            ("code", "http://loinc.org|718-7,2345-7"),
            ("status:not", "cancelled"),
            ("date", "ge2020"),
            ("date", "lt2021"),
            ("_count", "500"),
            ("_sort", "-date"),
            ("_include", "Observation:patient"),
        ],
    )
    assert q.count == 100  # lowered to the maximum
    assert q.sort == ("date", True)
    assert [c.param.code for c in q.criteria] == ["patient", "code", "status", "date", "date"]
    # each OR value stands alone: the second has no system
    assert q.criteria[1].values == (
        TokenValue("http://loinc.org", "718-7"),
        TokenValue(None, "2345-7"),
    )
    assert q.criteria[2].modifier == "not"
    assert q.includes[0].param.code == "patient"
    assert ("_count", "500") in q.used


def test_unknown_parameters_lenient_by_default_strict_on_request():
    spec = registry()["Patient"]
    q = parser.parse(spec, [("shoe-size", "44"), ("gender", "female")])
    assert q.ignored == ("shoe-size",)
    assert [c.param.code for c in q.criteria] == ["gender"]
    with pytest.raises(UnknownParameter):
        parser.parse(spec, [("shoe-size", "44")], strict=True)
    with pytest.raises(UnknownParameter):
        parser.parse(spec, [("gender:contains", "f")], strict=True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_count", "-1"),
        ("_count", "ten"),
        ("_sort", "family"),
        ("_sort", "date,_id"),
        ("_include", "Observation:code"),
        ("_include", "Encounter:patient"),
        ("_include", "Observation:patient:iterate"),
        ("_summary", "text"),
        ("_total", "all"),
        ("birthdate:missing", "maybe"),
    ],
)
def test_bad_result_parameters_are_400(name, value):
    spec = registry()["Patient"] if not name.startswith("_include") else registry()["Observation"]
    with pytest.raises(BadRequest):
        parser.parse(spec, [(name, value)], strict=True)


def test_revinclude_must_point_at_the_searched_type():
    enc = registry()["Encounter"]
    q = parser.parse(enc, [("_revinclude", "DiagnosticReport:encounter")])
    assert q.revincludes[0].target_type == "Encounter"
    with pytest.raises(BadRequest):
        parser.parse(enc, [("_revinclude", "Observation:patient")])
