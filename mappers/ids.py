"""FHIR logical ids and references derived from HIS keys.

A resource's id is its HIS row's integer key (``"12"``), except for DiagnosticReport, which is
built from three HIS tables and so prefixes the key with its record kind: ``lab-12``
(lab_bulletin), ``para-12`` (paraclinical_test), ``rad-12`` (imaging_order). Ids are canonical:
one resource has exactly one id (no leading zeros, lower-case prefixes), and ``parse_id`` accepts
nothing else, so a HIS key never reaches a query unless it came from an id this module built.

FHIR ids: http://hl7.org/fhir/R4/datatypes.html#id ([A-Za-z0-9\\-\\.]{1,64});
literal references: http://hl7.org/fhir/R4/references.html#literal.
"""

from __future__ import annotations

import re
from typing import Final

#: resource type -> the record kinds (HIS tables) that produce it.
RECORD_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "Patient": ("patient",),
    "Practitioner": ("doctor",),
    "PractitionerRole": ("doctor",),
    "Organization": ("department",),
    "Location": ("department",),
    "HealthcareService": ("service",),
    "RelatedPerson": ("guardian_link",),
    "Encounter": ("episode",),
    "Observation": ("lab_result",),
    "DiagnosticReport": ("lab_bulletin", "paraclinical_test", "imaging_order"),
    "ImagingStudy": ("imaging_order",),
    "DocumentReference": ("document",),
    "Binary": ("document_file",),
    "Schedule": ("schedule",),
    "Slot": ("slot",),
    "Appointment": ("appointment",),
    "Questionnaire": ("questionnaire",),
    "QuestionnaireResponse": ("questionnaire_assignment",),
}

#: Id prefixes of the resource types built from several record kinds.
_PREFIXES: Final[dict[str, dict[str, str]]] = {
    "DiagnosticReport": {
        "lab_bulletin": "lab",
        "paraclinical_test": "para",
        "imaging_order": "rad",
    },
}
#: (resource type, record kind) -> id prefix ("" for single-kind types).
_ID_PREFIX: Final[dict[tuple[str, str], str]] = {
    (rtype, kind): (f"{_PREFIXES[rtype][kind]}-" if rtype in _PREFIXES else "")
    for rtype, kinds in RECORD_KINDS.items()
    for kind in kinds
}
_KIND_BY_PREFIX: Final[dict[str, dict[str, str]]] = {
    rtype: {prefix: kind for kind, prefix in by_kind.items()}
    for rtype, by_kind in _PREFIXES.items()
}
_SOLE_KIND: Final[dict[str, str]] = {
    rtype: kinds[0] for rtype, kinds in RECORD_KINDS.items() if len(kinds) == 1
}
#: The largest key a HIS database column holds (signed 64-bit), so parsed ids always bind.
MAX_HIS_ID: Final = 2**63 - 1
_KEY = re.compile(r"0|[1-9][0-9]{0,18}")


def resource_id(resource_type: str, record_kind: str, his_id: int) -> str:
    """The FHIR id of the resource a HIS record maps to.

    Raises ValueError for a (type, kind) pair no mapper produces or a key that is not a
    non-negative int.
    """
    prefix = _ID_PREFIX.get((resource_type, record_kind))
    if prefix is None:
        raise ValueError(f"{resource_type} is not built from {record_kind} records")
    if type(his_id) is not int or not 0 <= his_id <= MAX_HIS_ID:
        raise ValueError("a HIS key is a non-negative 64-bit int")
    return f"{prefix}{his_id}"


def reference(resource_type: str, his_id: int, record_kind: str | None = None) -> dict[str, str]:
    """A relative literal reference, e.g. ``{"reference": "Patient/12"}``.

    ``record_kind`` may be left out for resource types built from a single record kind.
    """
    kind = record_kind or _SOLE_KIND.get(resource_type, "")
    return {"reference": f"{resource_type}/{resource_id(resource_type, kind, his_id)}"}


def parse_id(resource_type: str, fhir_id: str) -> tuple[str, int] | None:
    """(record kind, HIS key) for a FHIR id this module could have built, else None."""
    if type(fhir_id) is not str:
        return None
    by_prefix = _KIND_BY_PREFIX.get(resource_type)
    if by_prefix is not None:
        prefix, dash, number = fhir_id.partition("-")
        kind = by_prefix.get(prefix) if dash else None
    else:
        kind, number = _SOLE_KIND.get(resource_type), fhir_id
    if kind is None or _KEY.fullmatch(number) is None:
        return None
    his_id = int(number)
    return (kind, his_id) if his_id <= MAX_HIS_ID else None
