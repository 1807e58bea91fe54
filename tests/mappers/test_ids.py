"""FHIR ids: every id built parses back to its record; nothing else parses."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mappers.ids import MAX_HIS_ID, RECORD_KINDS, parse_id, reference, resource_id

FHIR_ID = re.compile(r"[A-Za-z0-9\-\.]{1,64}\Z")  # http://hl7.org/fhir/R4/datatypes.html#id
PAIRS = [(rtype, kind) for rtype, kinds in RECORD_KINDS.items() for kind in kinds]


@pytest.mark.parametrize(("resource_type", "kind"), PAIRS)
@pytest.mark.parametrize("his_id", [0, 1, 12, 291429, MAX_HIS_ID])
def test_round_trip(resource_type: str, kind: str, his_id: int) -> None:
    fhir_id = resource_id(resource_type, kind, his_id)
    assert FHIR_ID.match(fhir_id)
    assert parse_id(resource_type, fhir_id) == (kind, his_id)
    assert reference(resource_type, his_id, kind) == {"reference": f"{resource_type}/{fhir_id}"}


def test_diagnostic_report_prefixes() -> None:
    assert resource_id("DiagnosticReport", "lab_bulletin", 7) == "lab-7"
    assert resource_id("DiagnosticReport", "paraclinical_test", 7) == "para-7"
    assert resource_id("DiagnosticReport", "imaging_order", 7) == "rad-7"
    assert resource_id("ImagingStudy", "imaging_order", 7) == "7"
    assert reference("Patient", 12) == {"reference": "Patient/12"}


@pytest.mark.parametrize(
    ("resource_type", "fhir_id"),
    [
        ("DiagnosticReport", "lab-x"),
        ("DiagnosticReport", "lab-"),
        ("DiagnosticReport", "lab"),
        ("DiagnosticReport", "12"),
        ("DiagnosticReport", "LAB-12"),
        ("DiagnosticReport", "rad-01"),
        ("DiagnosticReport", "para-1-2"),
        ("DiagnosticReport", "xyz-1"),
        ("DiagnosticReport", "lab--1"),
        ("Patient", "../1"),
        ("Patient", ""),
        ("Patient", "012"),
        ("Patient", "-1"),
        ("Patient", "1.0"),
        ("Patient", " 1"),
        ("Patient", "1 "),
        ("Patient", "1\n"),
        ("Patient", "lab-1"),
        ("Patient", "١٢"),
        ("Patient", "²"),
        ("Patient", str(MAX_HIS_ID + 1)),
        ("Patient", "9" * 64),
        ("Patient", "1e3"),
        ("Patient", "0x10"),
        ("Medication", "1"),
        ("", "1"),
        ("Patient", None),
        ("Patient", 12),
    ],
)
def test_malformed_ids_are_refused(resource_type: str, fhir_id: Any) -> None:
    assert parse_id(resource_type, fhir_id) is None


@pytest.mark.parametrize(
    ("resource_type", "kind", "his_id"),
    [
        ("Patient", "doctor", 1),
        ("Medication", "patient", 1),
        ("Patient", "patient", -1),
        ("Patient", "patient", True),
        ("Patient", "patient", "12"),
        ("Patient", "patient", 1.0),
        ("Patient", "patient", MAX_HIS_ID + 1),
        ("DiagnosticReport", "lab_result", 1),
    ],
)
def test_resource_id_refuses(resource_type: str, kind: str, his_id: Any) -> None:
    with pytest.raises(ValueError, match=r"built from|HIS key"):
        resource_id(resource_type, kind, his_id)


def test_reference_needs_a_kind_for_diagnostic_reports() -> None:
    with pytest.raises(ValueError, match="DiagnosticReport is not built from"):
        reference("DiagnosticReport", 1)
