"""The shared input check itself, on what HTTP clients cannot send (lone surrogates) and on
its bounds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_gateway.inputs import MAX_NAME, MAX_PARAMS, MAX_VALUE, bad_text, problem, shown

from .conftest import EXAMPLES


def test_controls_and_lone_surrogates_are_refused_and_ordinary_text_is_not() -> None:
    for text in ("\x00", "a\x01", "\x1f", "\x7f", "\x85", "\x9f", "\ud800", "a\udfffb", "x\ny"):
        assert bad_text(text), repr(text)
    for text in ("", "Ionescu", "Łódź", "Ștefan", "\U0001d11e", "a|b,c\\,d", "\ufffd", "\xa0"):
        assert not bad_text(text), repr(text)


def test_bounds_of_values_names_and_count() -> None:
    assert problem([("name", "a" * MAX_VALUE)]) is None
    assert "longer than" in (problem([("name", "a" * (MAX_VALUE + 1))]) or "")
    assert problem([("state", "s" * 11)], limits={"state": 10}) is not None
    assert problem([("n" * (MAX_NAME + 1), "")]) is not None
    assert problem([("a", "")] * MAX_PARAMS) is None
    assert problem([("a", "")] * (MAX_PARAMS + 1)) is not None


@settings(settings.get_profile("fuzz"), max_examples=EXAMPLES * 3)
@given(name=st.text(max_size=60), value=st.text(max_size=60))
def test_a_refusal_never_repeats_the_value_nor_a_control(name: str, value: str) -> None:
    found = problem([(name, value)])
    assert (found is not None) == (bad_text(name) or bad_text(value))
    if found is not None:
        assert not bad_text(found)
        assert len(found) < 200
        assert shown(name) in found or "parameter name" in found
