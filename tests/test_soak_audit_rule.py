"""The soak's audit rule (``bench.soak.RETRIEVALS``): one row per answer carrying its final
outcome, plus the ``allowed`` row of a retrieval allowed and then not finished, no more."""

from __future__ import annotations

from typing import Any

from bench.soak import CUT, _audit_differences, _expected_outcomes

WADO = ("wado-retrieve", "ImagingStudy")
READ = ("read", "Patient")


def _answer(kind: str, status: int, error: str = "") -> list[Any]:
    return [kind, 0.0, 1.0, status, 0, error]


def _check(answers: list[list[Any]], rows: dict[tuple[str, str, str], int]) -> tuple[Any, int]:
    return _audit_differences(_expected_outcomes(answers), rows)


def test_a_cut_retrieval_is_one_answer_with_an_allowed_and_a_partial_row():
    answers = [_answer("wado-study", 200), _answer("wado-study", 200, CUT)]
    diff, unfinished = _check(answers, {(*WADO, "allowed"): 2, (*WADO, "partial"): 1})
    assert (diff, unfinished) == ({}, 1)


def test_a_failed_retrieval_may_or_may_not_have_been_allowed_first():
    answers = [_answer("wado-study", 503), _answer("wado-study", 502)]
    # one failed before its admission (one row), one after it (allowed, then failed)
    assert _check(answers, {(*WADO, "failed"): 2, (*WADO, "allowed"): 1}) == ({}, 1)
    assert _check(answers, {(*WADO, "failed"): 2}) == ({}, 0)


def test_more_allowed_rows_than_unfinished_retrievals_break_the_rule():
    answers = [_answer("wado-study", 200), _answer("wado-study", 502)]
    diff, _ = _check(answers, {(*WADO, "allowed"): 3, (*WADO, "failed"): 1})
    assert diff == {"wado-retrieve ImagingStudy allowed": {"answered": 1, "audit_rows": 3}}


def test_a_missing_final_row_breaks_the_rule():
    answers = [_answer("wado-study", 200, CUT)]
    diff, _ = _check(answers, {(*WADO, "allowed"): 1})
    assert "wado-retrieve ImagingStudy partial" in diff


def test_other_interactions_leave_exactly_one_row_per_answer():
    answers = [_answer("fhir-read", 200), _answer("fhir-read", 503)]
    assert _check(answers, {(*READ, "allowed"): 1, (*READ, "failed"): 1}) == ({}, 0)
    diff, _ = _check(answers, {(*READ, "allowed"): 2, (*READ, "failed"): 1})
    assert diff == {"read Patient allowed": {"answered": 1, "audit_rows": 2}}
