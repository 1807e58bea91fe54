"""Every mapper's output is valid FHIR R4: HL7's JSON schema and the R4B models agree.

The JSON schema is the official one (``conftest.r4_errors``); ``fhir.resources.R4B`` is used
for R4 (see the shared notes: the R5 models reject R4 data). Checks the schema cannot express
are added here: no empty strings, arrays or objects, and no nulls (FHIR JSON forbids them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from mappers import MapContext, map_record

from .cases import Case
from .cases_clinical import ALL_CASES


def _empties(node: Any, path: str = "") -> list[str]:
    if node is None or node in ("", [], {}):
        return [path or "<root>"]
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _empties(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in _empties(value, f"{path}[{i}]")]
    return []


def test_the_schema_check_is_not_vacuous(r4_errors: Callable[[dict[str, Any]], list[str]]) -> None:
    assert r4_errors({"resourceType": "Patient", "id": "1"}) == []
    assert r4_errors({"resourceType": "Patient", "gender": "yes"})
    assert r4_errors({"resourceType": "Patient", "birthDate": "1980-1-1"})
    assert r4_errors({"resourceType": "Patient", "nickname": "x"})
    assert r4_errors(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "effectiveDateTime": "2026-01-01T10:00:00",
        }
    )


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.name)
def test_official_r4_json_schema(
    case: Case, ctx: MapContext, r4_errors: Callable[[dict[str, Any]], list[str]]
) -> None:
    resource = map_record(case.resource_type, case.kind, case.record, ctx)
    assert r4_errors(resource) == []
    assert _empties(resource) == []


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.name)
def test_r4b_model(case: Case, ctx: MapContext) -> None:
    resource = map_record(case.resource_type, case.kind, case.record, ctx)
    model = get_fhir_model_class(case.resource_type).model_validate(resource)
    assert model.id == resource["id"]


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.name)
def test_json_ready(case: Case, ctx: MapContext) -> None:
    """orjson serialises the dict as is, and the JSON reads back to the same dict."""
    resource = map_record(case.resource_type, case.kind, case.record, ctx)
    assert orjson.loads(orjson.dumps(resource)) == resource
