"""Fixtures of the mapper tests: the official R4 JSON schema (loaded once) and a context.

The schema is HL7's ``fhir.schema.json`` (R4 4.0.1). Its path comes from the ``FHIR_R4_SCHEMA``
environment variable, else from the shared folder beside the project (``../shared/fhir/r4``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import validators

from mappers import MapContext

SHARED_SCHEMA = Path(__file__).resolve().parents[2].parent / "shared/fhir/r4/fhir.schema.json"


@pytest.fixture(scope="session")
def r4_definitions() -> dict[str, Any]:
    path = Path(os.environ.get("FHIR_R4_SCHEMA", SHARED_SCHEMA))
    if not path.is_file():
        pytest.skip(f"the official R4 JSON schema is not at {path} (set FHIR_R4_SCHEMA)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def r4_errors(r4_definitions: dict[str, Any]) -> Callable[[dict[str, Any]], list[str]]:
    """resource -> the R4 JSON schema's complaints about it (empty when it conforms)."""
    cls = validators.validator_for(r4_definitions)
    by_type: dict[str, Any] = {}

    def errors(resource: dict[str, Any]) -> list[str]:
        rtype = resource["resourceType"]
        if rtype not in by_type:
            by_type[rtype] = cls(
                {"$ref": f"#/definitions/{rtype}", "definitions": r4_definitions["definitions"]}
            )
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in by_type[rtype].iter_errors(resource)
        ]

    return errors


@pytest.fixture(scope="session")
def ctx() -> MapContext:
    return MapContext()
