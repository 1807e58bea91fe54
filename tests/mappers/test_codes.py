"""Code tables: check digits of every standard code, unit-aware LOINC choice, UCUM spelling."""

from __future__ import annotations

from typing import Any

import pytest

from mappers import codes
from mappers.concepts import MEMO_LIMIT, LocalCodes, local_codes

# Verhoeff tables (SNOMED CT identifiers end with a Verhoeff check digit).
_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def test_verhoeff_tables() -> None:
    """Each permutation row is the previous one composed with row 1; "2363" is valid."""
    for row in range(2, 8):
        assert _P[row] == [_P[1][_P[row - 1][i]] for i in range(10)]
    assert _verhoeff("2363") == 0
    assert _verhoeff("2364") != 0


def _verhoeff(digits: str) -> int:
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _D[check][_P[position % 8][int(digit)]]
    return check


def snomed_ok(sctid: str) -> bool:
    return _verhoeff(sctid) == 0 and sctid[-3:-1] in ("00", "10")  # partition: a concept


def loinc_ok(code: str) -> bool:
    """LOINC's mod-10 check digit (the Luhn algorithm over "number" + "check")."""
    number, _, check = code.partition("-")
    if not (number.isdigit() and len(check) == 1 and check.isdigit()):
        return False
    total = 0
    for position, char in enumerate(reversed(number + check)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _codings(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if "system" in node and "code" in node else []
        return own + [c for value in node.values() for c in _codings(value)]
    if isinstance(node, (list, tuple)):
        return [c for value in node for c in _codings(value)]
    return []


def _all_codings() -> list[dict[str, Any]]:
    tables = [getattr(codes, name) for name in dir(codes) if name.isupper()]
    local = LocalCodes("https://x.example/CodeSystem")
    return _codings(tables) + _codings(list(vars(local).values()))


def test_loinc_check_digits() -> None:
    found = [c["code"] for c in _all_codings() if c["system"] == codes.LOINC]
    found += [
        loinc for by_unit in codes.ANALYTE_LOINC_BY_UNIT.values() for loinc, _ in by_unit.values()
    ]
    found += [loinc[0] for _d, loinc in codes.DOCUMENT_KINDS.values() if loinc]
    assert len(found) > 80
    assert [code for code in found if not loinc_ok(code)] == []


def test_snomed_check_digits() -> None:
    found = [code for code, _ in codes.SPECIALTY_SNOMED.values()]
    found += [sct[0] for _d, _c, sct in codes.EPISODE_KINDS.values() if sct]
    assert [code for code in found if not snomed_ok(code)] == []


def test_every_coding_has_a_display() -> None:
    for coding in _all_codings():
        if coding["system"] != codes.DCM:
            assert coding.get("display"), coding


@pytest.mark.parametrize(
    ("analyte", "unit", "loinc"),
    [
        ("GLU", "mg/dL", "2345-7"),
        ("GLU", "mmol/L", "14749-6"),
        ("GLU", "mg/dl", "2345-7"),
        ("GLU", "%", None),
        ("GLU", None, None),
        ("NEUT", "%", "770-8"),
        ("NEUT", "10*9/L", "751-8"),
        ("HBA1C", "%", "4548-4"),
        ("HBA1C", "mmol/mol", "59261-8"),
        ("ALT", "U/L", "1742-6"),
        ("URINE_PROT", None, "20454-5"),
        ("URINE_PROT", "mg/dL", "2888-6"),
        ("URINE_COLOR", None, "5778-6"),
        ("INR", None, "6301-6"),
        ("PT", "s", "5902-2"),
        ("PT", "%", None),
        ("NOPE", "mg/dL", None),
    ],
)
def test_analyte_loinc_follows_the_unit(analyte: str, unit: str | None, loinc: str | None) -> None:
    found = codes.analyte_loinc(analyte, unit)
    assert (found[0] if found else None) == loinc


@pytest.mark.parametrize(
    ("unit", "ucum"),
    [
        ("g/dL", "g/dL"),
        ("µmol/L", "umol/L"),
        ("10^9/L", "10*9/L"),
        ("mIU/L", "m[IU]/L"),
        ("%", "%"),
        ("mm/hr", "mm/h"),
        (None, None),
        ("arb. u", None),
        ("x 10^9/L", None),
        ("10^4/uL", None),
        ("µg/g", None),
    ],
)
def test_ucum_codes(unit: str | None, ucum: str | None) -> None:
    assert codes.ucum_code(unit) == ucum


def test_search_tables() -> None:
    """The derived tables the connector uses to translate token searches back to HIS codes."""
    assert codes.ANALYTES_BY_LOINC["14749-6"] == frozenset({"GLU"})
    assert codes.ANALYTES_BY_LOINC["20454-5"] == frozenset({"URINE_PROT", "U_PRO"})
    assert codes.ANALYTE_LOINC["GLU"][0] == "2345-7"
    assert codes.ANALYTE_LOINC["FER"] == codes.ANALYTE_LOINC["FERR"]
    assert codes.DOCUMENT_KIND_LOINC["DISCHARGE"][0] == "18842-5"
    assert "CERTIFICATE" not in codes.DOCUMENT_KIND_LOINC
    assert codes.EPISODE_CLASS == {"AMB": "AMB", "DAY": "SS", "HOSP": "IMP", "CONS": "IMP"}
    assert codes.DEPARTMENT_ORG_TYPE["hospital"] == "prov"
    assert codes.PARACLINICAL_SECTION["HOLTER"] == "EC"
    assert codes.PARACLINICAL_LOINC == {
        "ECG": ("11524-6", "EKG study"),
        "EEG": ("11523-8", "EEG study"),
    }
    assert codes.EPISODE_STATUS["open"] == "in-progress"
    assert codes.ENCOUNTER_STATUS == "http://hl7.org/fhir/encounter-status"


def test_local_concepts_are_memoised_and_bounded() -> None:
    local = LocalCodes("https://x.example/CodeSystem")
    assert local.analyte("HGB", "Hb", "g/dL") is local.analyte("HGB", "Hb", "g/dL")
    for n in range(MEMO_LIMIT + 10):
        local.specialty(f"S{n}", "name")
    assert len(local._specialties) == MEMO_LIMIT
    assert local.specialty("S99999", "n") == local.specialty("S99999", "n")
    assert local_codes("https://x.example/CS") is local_codes("https://x.example/CS")
