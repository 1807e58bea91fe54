"""Bad HIS rows become InvalidRecord: field names and reasons, never the values."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from mappers import InvalidRecord, MapContext, map_record

from . import fixtures as f

SECRET = "Ionescu-1800101221144"  # stands for patient data that must never leak


def _invalid(resource_type: str, kind: str, record: Any, ctx: MapContext) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as caught:
        map_record(resource_type, kind, record, ctx)
    error = caught.value
    assert error.record_kind == kind
    assert error.problems
    for text in (*error.problems, str(error)):
        assert SECRET not in text
    return error


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("gender", SECRET, "Must be one of"),
        ("birth_date", SECRET, "Not a valid date"),
        ("birth_date", None, "may not be null"),
        ("national_id_kind", None, "may not be null"),
        ("family", "", "Length must be between 1 and 100"),
        ("active", 1, "Not a valid boolean"),
        ("country", SECRET, "does not match"),
    ],
)
def test_bad_patient_column(column: str, value: Any, reason: str, ctx: MapContext) -> None:
    error = _invalid("Patient", "patient", f.patient(**{column: value}), ctx)
    assert error.record_id == 12
    assert any(p.startswith(f"{column}: ") and reason in p for p in error.problems)


def test_missing_column_and_several_problems(ctx: MapContext) -> None:
    record = f.patient(mrn=SECRET.encode(), birth_date=SECRET)
    del record["national_id"]
    error = _invalid("Patient", "patient", record, ctx)
    fields_named = {p.split(":")[0] for p in error.problems}
    assert fields_named == {"mrn", "birth_date", "national_id"}


def test_nested_problem_paths(ctx: MapContext) -> None:
    link = f.guardian_link(guardian=f.patient(id=40, gender=SECRET))
    error = _invalid("RelatedPerson", "guardian_link", link, ctx)
    assert error.problems == ["guardian.gender: Must be one of: M, F, U."]
    items = [*f.ITEMS[:2], {"link_id": "q", "text": SECRET, "type": SECRET}]
    error = _invalid("Questionnaire", "questionnaire", f.questionnaire(items=items), ctx)
    assert error.problems[0].startswith("items[2].type: ")


def test_record_ids_and_non_records(ctx: MapContext) -> None:
    error = _invalid("Patient", "patient", [SECRET], ctx)
    assert error.record_id is None
    assert _invalid("Patient", "patient", f.patient(id=SECRET), ctx).record_id is None


def test_imaging_study_needs_a_study(ctx: MapContext) -> None:
    error = _invalid("ImagingStudy", "imaging_order", f.imaging_order(study_uid=None), ctx)
    assert error.problems[0].startswith("study_uid: ")
    error = _invalid("DiagnosticReport", "imaging_order", f.imaging_order(reported_at=None), ctx)
    assert error.problems[0].startswith("reported_at: ")


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        ({"smoker": SECRET}, "answers.smoker: not a valid boolean answer"),
        ({"cigarettes": 1.5}, "answers.cigarettes: not a valid integer answer"),
        ({"cigarettes": True}, "answers.cigarettes: not a valid integer answer"),
        ({"cigarettes": 2**40}, "answers.cigarettes: not a valid integer answer"),
        ({"weight": float("nan")}, "answers.weight: not a valid decimal answer"),
        ({"diagnosed": "2025-02-30"}, "answers.diagnosed: not a valid date answer"),
        ({"diagnosed": "20250201"}, "answers.diagnosed: not a valid date answer"),
        ({"pain": SECRET}, "answers.pain: not a valid choice answer"),
        ({"pain": ["none", "mild"]}, "answers.pain: several answers to a non-repeating item"),
        ({"intro": "x"}, "answers.intro: display items take no answer"),
        ({"scan": -3}, "answers.scan: not a valid attachment answer"),
        ({"scan": {"title": SECRET}}, "answers.scan: not a valid attachment answer"),
        ({"notes": "   "}, "answers.notes: not a valid text answer"),
        ({SECRET: 1}, "answers: 1 answer(s) to questions the questionnaire lacks"),
    ],
)
def test_bad_answers(answers: dict[str, Any], problem: str, ctx: MapContext) -> None:
    record = f.questionnaire_assignment(answers=answers)
    error = _invalid("QuestionnaireResponse", "questionnaire_assignment", record, ctx)
    assert error.problems == [problem]


def test_questionnaire_rules(ctx: MapContext) -> None:
    record = f.questionnaire_assignment(questionnaire_id=99)
    error = _invalid("QuestionnaireResponse", "questionnaire_assignment", record, ctx)
    assert error.problems[0].startswith("questionnaire: ")
    twice = f.questionnaire(items=[f.ITEMS[1], f.ITEMS[1]])
    error = _invalid("Questionnaire", "questionnaire", twice, ctx)
    assert error.problems == ["items: link_id smoker is not unique"]


def test_unknown_pair_is_a_programming_error(ctx: MapContext) -> None:
    with pytest.raises(KeyError):
        map_record("Patient", "doctor", f.doctor(), ctx)
    with pytest.raises(KeyError):
        map_record("Medication", "patient", f.patient(), ctx)


def test_dates_are_not_datetimes(ctx: MapContext) -> None:
    """A datetime in a Date column (a driver misconfiguration) is refused, not truncated."""
    error = _invalid("Patient", "patient", f.patient(birth_date=datetime(1980, 1, 1)), ctx)
    assert error.problems == ["birth_date: Not a valid date."]
    assert map_record("Patient", "patient", f.patient(birth_date=date(1980, 1, 1)), ctx)
