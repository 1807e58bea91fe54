"""Hostile values in every search parameter the CapabilityStatement advertises, in ids, paths
and POST _search bodies: never a 5xx, every error an OperationOutcome without internals, every
answer in bounded time, on each HIS database.

The parameters are read from the served ``/fhir/metadata``, so a parameter added to the registry
(or a type another package advertises) is fuzzed without touching this file.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from .conftest import EXAMPLES, assert_fhir_answer, timed

#: Values that broke or could break a parser, a driver or a header, per kind of value.
CONTROL = ["\x00", "a\x00b", "1\x00", "\x01", "\x1b[31m", "\x7f", "\x85", "line\nbreak", "\r\n"]
HUGE = ["a" * 4097, "9" * 5000, ",".join(["x"] * 3000), "Patient/" + "1" * 4100]
DATES = [
    "2020-13-45",
    "ge",
    "eq",
    "eq9999-99",
    "2020-01-01T25:61",
    "99999",
    "0000",
    "9999",
    "gt9999-12-31T23:59:59.999999",
    "le0001-01-01T00:00:00+14:00",
    "2020-01-01T10:00+99:99",
    "2020-02-30",
    "ap2020-01",
    "sa",
    "2020-01-01T10:00:00.1234567",
    "x2020",
    "-2020",
    "2020-",
]
NUMBERS = ["1e309", "NaN", "-0", "Infinity", "1.0e-9999", "0x10", "1,2,,", "ap", "gt-", "5.4.3"]
QUANTITIES = [
    "5.4|http://unitsofmeasure.org|mg",
    "ap|||",
    "5.4||mg",
    "|",
    "le5.4|a|b|c",
    "e|x|y",
]
REFERENCES = [
    "Patient/",
    "/",
    "Patient/../../etc/passwd",
    "http://evil.example/Patient/1",
    "Patient/1/_history/2",
    ":",
    "Patient/1,Patient/",
    "patient/1",
    "Patient//1",
    "Patient/1 ",
    "http://gateway.test/fhir/Patient/",
    "urn:uuid:1",
]
TOKENS = ["|", "||", "a|b|c", "\\,", "\\", ",,,", "%00", "' OR 1=1--", "|code", "system|"]
STRINGS = ["%", "_", "*", "\\", "' OR '1'='1", "\U0001d11e", "\u202e", "\ufffd", "%%%", "\\\\,"]
URIS = ["http://", "::::", "javascript:alert(1)", "file:///etc/passwd", "http://a/" + "b" * 300]
ALL_VALUES = CONTROL + HUGE + DATES + NUMBERS + QUANTITIES + REFERENCES + TOKENS + STRINGS + URIS
MODIFIERS = [
    "",
    "",
    "",
    ":missing",
    ":exact",
    ":contains",
    ":not",
    ":text",
    ":above",
    ":below",
    ":in",
    ":not-in",
    ":of-type",
    ":identifier",
    ":Patient",
    ":Observation",
    ":iterate",
    ":",
    "::",
    ":\x00",
    ":" + "m" * 200,
]
RESULT_PARAMS = [
    ("_count", "-1"),
    ("_count", "99999999999999999999"),
    ("_count", "\x00"),
    ("_sort", "-"),
    ("_sort", "--date"),
    ("_include", "*"),
    ("_include", "Observation:subject:\x00"),
    ("_revinclude", ":::"),
    ("_summary", "true"),
    ("_elements", ",,,"),
    ("_total", "x"),
    ("_cursor", "\x00"),
    ("_cursor", "!!!!"),
    ("_cursor", "a" * 5000),
    ("_format", "\x00"),
]


def advertised(app: Flask) -> list[tuple[str, str, str]]:
    """(type, parameter, parameter type) of every parameter ``/fhir/metadata`` advertises."""
    statement = app.test_client().get("/fhir/metadata").get_json()
    rest = statement["rest"][0]
    found = [
        (resource["type"], param["name"], param["type"])
        for resource in rest["resource"]
        for param in resource.get("searchParam", [])
    ]
    found += [("", param["name"], param["type"]) for param in rest.get("searchParam", [])]
    return found


def values_for(kind: str) -> st.SearchStrategy[str]:
    """Hostile values, weighted towards those that break the parameter's own type."""
    own = {
        "date": DATES,
        "number": NUMBERS,
        "quantity": QUANTITIES,
        "reference": REFERENCES,
        "token": TOKENS,
        "string": STRINGS,
        "uri": URIS,
    }.get(kind, ALL_VALUES)
    return st.one_of(
        st.sampled_from(own),
        st.sampled_from(ALL_VALUES),
        st.text(max_size=40),
        st.text(alphabet=st.characters(max_codepoint=0x9F, exclude_categories=["Cs"]), max_size=20),
    )


def _search(client: Any, resource_type: str, pairs: list[tuple[str, str]], post: bool) -> Any:
    path = f"/fhir/{resource_type}" if resource_type else "/fhir"
    if not resource_type:
        pairs = [("_type", "Patient,Observation"), *pairs]
    if post:
        return timed(client.post, f"{path}/_search", data=MultiDict(pairs))
    return timed(client.get, path + "?" + urlencode(pairs))


@pytest.fixture(scope="module")
def params(fhir_app: Flask) -> list[tuple[str, str, str]]:
    found = advertised(fhir_app)
    assert len(found) > 100  # the registry's types, AuditEvent, Consent and the system search
    assert {"string", "token", "reference", "date"} <= {kind for _, _, kind in found}
    return found


def test_a_nul_in_any_advertised_parameter_is_a_400(
    fhir_app: Flask, params: list[tuple[str, str, str]]
) -> None:
    """Every advertised parameter, by GET and by POST _search: NUL is refused before any
    parser or database sees it (PostgreSQL's driver raised on it: 500)."""
    client = fhir_app.test_client()
    wrong = []
    for resource_type, name, _kind in params:
        for post in (False, True):
            answer = _search(client, resource_type, [(name, "1\x00")], post)
            assert_fhir_answer(answer, "")
            if answer.status_code != 400:
                wrong.append((resource_type, name, post, answer.status_code))
    assert not wrong


def test_an_over_long_value_of_any_advertised_parameter_is_a_400(
    fhir_app: Flask, params: list[tuple[str, str, str]]
) -> None:
    client = fhir_app.test_client()
    wrong = []
    for resource_type, name, _kind in params:
        answer = _search(client, resource_type, [(name, "7" * 4097)], post=True)
        assert_fhir_answer(answer, "")
        if answer.status_code != 400:
            wrong.append((resource_type, name, answer.status_code))
        else:
            assert "7" * 100 not in answer.get_data(as_text=True)  # never echoed
    assert not wrong


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/Patient/1%00",
        "/fhir/Patient%00/1",
        "/fhir/Patient/%01",
        "/fhir/Patient/1%00/Observation",
        "/fhir/Patient/1%00/$everything",
        "/fhir/Binary/1%00",
        "/fhir/AuditEvent/%00",
        "/fhir/Consent/%00",
        "/fhir/Patient/" + "1" * 4097,
    ],
)
def test_a_nul_or_over_long_path_segment_is_a_400(fhir_app: Flask, path: str) -> None:
    answer = timed(fhir_app.test_client().get, path)
    assert_fhir_answer(answer, "")
    assert answer.status_code == 400


@pytest.mark.parametrize(
    "query",
    [b"code=%ED%A0%80", b"name=%FF%FE", b"name=%C0%80", b"_id=%F4%90%80%80", b"family=%E2%82"],
)
def test_a_broken_utf8_value_is_never_a_server_error(fhir_app: Flask, query: bytes) -> None:
    """Unpaired surrogates and over-long encodings cannot arrive decoded: werkzeug keeps or
    replaces the bytes; whatever it makes of them is a plain value or a 400."""
    answer = timed(fhir_app.test_client().get, "/fhir/Patient?" + query.decode("latin-1"))
    assert_fhir_answer(answer, "")


def test_a_date_past_year_9999_or_before_year_1_is_no_server_error(fhir_app: Flask) -> None:
    client = fhir_app.test_client()
    for value in ("9999", "9999-12-31", "gt9999-12-31T23:59:59.999999", "0001-01-01T00:00+14:00"):
        answer = timed(client.get, "/fhir/Observation", query_string={"date": value})
        assert_fhir_answer(answer, value)
        assert answer.status_code in (200, 400), value


@settings(settings.get_profile("fuzz"), max_examples=EXAMPLES * 3)
@given(data=st.data())
def test_hostile_searches_of_advertised_parameters(
    fhir_app: Flask, params: list[tuple[str, str, str]], data: st.DataObject
) -> None:
    client = fhir_app.test_client()
    pairs: list[tuple[str, str]] = []
    for _ in range(data.draw(st.integers(1, 4), label="parameters")):
        resource_type, name, kind = data.draw(st.sampled_from(params), label="parameter")
        modifier = data.draw(st.sampled_from(MODIFIERS), label="modifier")
        value = data.draw(values_for(kind), label="value")
        repeat = data.draw(st.integers(1, 3), label="repeat")
        pairs += [(name + modifier, value)] * repeat
    if data.draw(st.booleans(), label="result parameter"):
        pairs.append(data.draw(st.sampled_from(RESULT_PARAMS), label="result"))
    post = data.draw(st.booleans(), label="POST _search")
    strict = data.draw(st.booleans(), label="strict")
    path = f"/fhir/{resource_type}" if resource_type else "/fhir"
    if not resource_type:
        pairs = [("_type", "Patient,Observation"), *pairs]
    headers = {"Prefer": "handling=strict"} if strict else {}
    if post:
        answer = timed(client.post, f"{path}/_search", data=MultiDict(pairs), headers=headers)
    else:
        answer = timed(client.get, path + "?" + urlencode(pairs), headers=headers)
    assert_fhir_answer(answer, repr(pairs) + "".join(v for _, v in pairs))


@settings(settings.get_profile("fuzz"), max_examples=EXAMPLES // 2)
@given(
    resource_type=st.sampled_from(["Patient", "Observation", "DiagnosticReport", "Binary", "X"]),
    resource_id=st.one_of(st.sampled_from(ALL_VALUES), st.text(min_size=1, max_size=30)),
    tail=st.sampled_from(["", "/Observation", "/$everything", "/_history", "/_search"]),
)
def test_hostile_ids_in_reads_and_compartments(
    fhir_app: Flask, resource_type: str, resource_id: str, tail: str
) -> None:
    path = f"/fhir/{resource_type}/{quote(resource_id, safe='')}{tail}"
    answer = timed(fhir_app.test_client().get, path)
    assert_fhir_answer(answer, resource_id)


@pytest.mark.parametrize("credential", ["Bearer a\x00b", "Bearer \x1f", "Bearer " + "t" * 9000])
def test_a_hostile_credential_is_a_400_before_any_token_lookup(
    fhir_app: Flask, credential: str
) -> None:
    """The credential reaches the token stores' databases: it passes the same check."""
    answer = timed(
        fhir_app.test_client().get, "/fhir/Patient", headers={"Authorization": credential}
    )
    assert_fhir_answer(answer, "")
    assert answer.status_code == 400
