"""Table-driven mapper tests: each case's resource has the expected key fields.

Cases: ``cases.py`` and ``cases_clinical.py``. Beyond the per-case fields, every mapping is
checked for what all mappers promise: the id from ``mappers.ids``, ``meta`` from the audit
columns, no mutation of the input record, and the same output every time.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone

import pytest

from mappers import MAPPERS, IdentifierSystems, MapContext, map_record
from mappers.ids import RECORD_KINDS, resource_id

from . import fixtures as f
from .cases import ABSENT, Case, dig
from .cases_clinical import ALL_CASES

INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z\Z")


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.name)
def test_key_fields(case: Case, ctx: MapContext) -> None:
    resource = map_record(case.resource_type, case.kind, case.record, ctx)
    assert resource["resourceType"] == case.resource_type
    assert resource["id"] == resource_id(case.resource_type, case.kind, case.record["id"])
    assert INSTANT.match(resource["meta"]["lastUpdated"])
    for path, expected in case.expect.items():
        found = dig(resource, path)
        if expected is ABSENT:
            assert found is ABSENT, f"{path} should be absent, is {found!r}"
        else:
            assert found == expected, path


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.name)
def test_pure(case: Case, ctx: MapContext) -> None:
    """Input untouched, output identical on a second call and unaffected by the first's use."""
    before = copy.deepcopy(case.record)
    first = map_record(case.resource_type, case.kind, case.record, ctx)
    snapshot = copy.deepcopy(first)
    second = map_record(case.resource_type, case.kind, case.record, ctx)
    assert case.record == before
    assert first == second == snapshot


def test_every_mapper_has_cases() -> None:
    covered = {(case.resource_type, case.kind) for case in ALL_CASES}
    assert covered == set(MAPPERS)
    assert {(rtype, kind) for rtype, kinds in RECORD_KINDS.items() for kind in kinds} == set(
        MAPPERS
    )


def test_deployment_systems() -> None:
    """A hospital's own base URL reaches identifiers, local codes and questionnaire URLs."""
    systems = IdentifierSystems.from_base(
        "https://his.spital-cluj.example/fhir/", cnp="urn:oid:1.2.3.4"
    )
    ctx = MapContext(systems)
    base = "https://his.spital-cluj.example/fhir"
    patient = map_record("Patient", "patient", f.patient(), ctx)
    assert patient["identifier"][0]["system"] == "urn:oid:1.2.3.4"
    assert patient["identifier"][1]["system"] == f"{base}/sid/mrn"
    result = map_record("Observation", "lab_result", f.lab_result(), ctx)
    assert result["code"]["coding"][1]["system"] == f"{base}/CodeSystem/analyte"
    form = map_record("Questionnaire", "questionnaire", f.questionnaire(), ctx)
    assert form["url"] == f"{base}/Questionnaire/onco-intake"
    assert systems.pesel == IdentifierSystems().pesel


def test_timestamps_are_utc_instants(ctx: MapContext) -> None:
    """Naive HIS timestamps are UTC; an aware one (a driver's choice) is converted to UTC."""
    bucharest = timezone(timedelta(hours=2))
    naive = map_record(
        "Observation",
        "lab_result",
        f.lab_result(observed_at=datetime(2026, 2, 11, 9, 12, 0, 250000)),
        ctx,
    )
    aware = map_record(
        "Observation",
        "lab_result",
        f.lab_result(observed_at=datetime(2026, 2, 11, 11, 12, tzinfo=bucharest)),
        ctx,
    )
    assert naive["effectiveDateTime"] == "2026-02-11T09:12:00.250000Z"
    assert aware["effectiveDateTime"] == "2026-02-11T09:12:00Z"


def test_shared_concepts_are_reused(ctx: MapContext) -> None:
    """Constant sub-structures are built once (outputs are read-only by contract)."""
    one = map_record("Observation", "lab_result", f.lab_result(id=1), ctx)
    two = map_record("Observation", "lab_result", f.lab_result(id=2), ctx)
    assert one["code"] is two["code"]
    assert one["category"] is two["category"]
    assert one["valueQuantity"] is not two["valueQuantity"]
