"""Pure parts of the PACS side: matching, identifiers, ordering, contexts, settings."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from dicomweb.backends.base import InstanceStatus, StoreResult, status_category
from dicomweb.backends.contexts import MAX_CONTEXTS, get_contexts, store_contexts
from dicomweb.backends.matching import fold_name, matches
from dicomweb.backends.query import identifier, page, sort_results
from dicomweb.backends.settings import PacsSettings, options_markdown


def _study(**values: object) -> Dataset:
    ds = Dataset()
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"PatientName": "ȘTEF*"}, True),
        ({"PatientName": "stef*"}, True),  # PN may match case- and accent-insensitively
        ({"PatientName": "*zolk*"}, False),
        ({"PatientName": "Ștefănescu^Ana-Mari?"}, True),
        ({"StudyDate": "20240501-20240531"}, True),
        ({"StudyDate": "-20240505"}, False),
        ({"StudyDate": "20240506-"}, True),
        ({"StudyTime": "09-10"}, True),
        ({"StudyTime": "0931-"}, False),
        ({"ModalitiesInStudy": "MR"}, True),
        ({"ModalitiesInStudy": ["US", "XA"]}, False),
        ({"ModalitiesInStudy": "C*"}, True),
        ({"StudyInstanceUID": "2.25.1\\2.25.2"}, True),
        ({"StudyInstanceUID": ["2.25.3"]}, False),
        ({"AccessionNumber": "A1*"}, True),
        ({"AccessionNumber": "a1*"}, False),  # other VRs match case-sensitively
        ({"NumberOfStudyRelatedInstances": "12"}, True),
        ({"ReferringPhysicianName": "Popescu*"}, True),  # not returned: not held against it
        ({"PatientID": ""}, True),
        ({"PatientID": "*"}, True),
    ],
)
def test_matching_rules(query: dict[str, str | list[str]], expected: bool) -> None:
    study = _study(
        PatientName="Ștefănescu^Ana-Maria",
        StudyDate="20240506",
        StudyTime="093000",
        ModalitiesInStudy=["CT", "MR"],
        StudyInstanceUID="2.25.2",
        AccessionNumber="A123",
        NumberOfStudyRelatedInstances="12",
        PatientID="DEMO-0001",
    )
    assert matches(study, query) is expected


def test_fold_name_handles_letters_without_combining_marks() -> None:
    assert fold_name("Żółkiewski^Łukasz") == "zolkiewski^lukasz"
    assert fold_name("ȘTEFĂNESCU") == fold_name("stefanescu")


def test_unknown_attribute_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown DICOM attribute"):
        matches(_study(PatientID="x"), {"NoSuchKeyword": "x"})


def test_identifier_has_return_keys_and_declares_utf8_only_when_needed() -> None:
    ascii_only = identifier("STUDY", {"PatientID": "P1", "00080050": "A1"})
    assert ascii_only.QueryRetrieveLevel == "STUDY"
    assert ascii_only.PatientID == "P1"
    assert ascii_only.AccessionNumber == "A1"
    assert "ModalitiesInStudy" in ascii_only
    assert ascii_only.ModalitiesInStudy in (None, "")
    assert "SpecificCharacterSet" not in ascii_only
    names = identifier("STUDY", {"PatientName": "Wąs*", "ModalitiesInStudy": ["CT", "MR"]})
    assert names.SpecificCharacterSet == "ISO_IR 192"
    assert list(names.ModalitiesInStudy) == ["CT", "MR"]
    series = identifier("IMAGE", {}, StudyInstanceUID="2.25.1", SeriesInstanceUID="2.25.2")
    assert (series.StudyInstanceUID, series.SeriesInstanceUID) == ("2.25.1", "2.25.2")
    assert "SOPClassUID" in series


def test_results_are_sorted_deterministically_and_paged() -> None:
    studies = [
        _study(StudyDate="20230101", StudyTime="1000", StudyInstanceUID="2.25.9"),
        _study(StudyDate="20240101", StudyTime="0800", StudyInstanceUID="2.25.5"),
        _study(StudyDate="20240101", StudyTime="0800", StudyInstanceUID="2.25.4"),
        _study(StudyDate="20240101", StudyTime="0900", StudyInstanceUID="2.25.7"),
    ]
    ordered = [str(d.StudyInstanceUID) for d in sort_results("STUDY", studies)]
    assert ordered == ["2.25.7", "2.25.4", "2.25.5", "2.25.9"]
    series = [_study(SeriesNumber=n, SeriesInstanceUID=f"2.25.{n}") for n in (10, 2, 1)]
    assert [int(s.SeriesNumber) for s in sort_results("SERIES", series)] == [1, 2, 10]
    assert page([1, 2, 3, 4], limit=2, offset=1) == [2, 3]  # type: ignore[list-item]
    assert page([1, 2], limit=None, offset=5) == []  # type: ignore[list-item]
    with pytest.raises(ValueError, match="negative"):
        page([], limit=-1, offset=0)


def test_get_contexts_stay_within_128_and_cover_every_class() -> None:
    classes = [f"1.2.840.10008.5.1.4.1.1.{n}" for n in range(1, 40)]
    contexts, roles = get_contexts(classes)
    assert len(contexts) == MAX_CONTEXTS
    assert {c.abstract_syntax for c in contexts[1:]} == set(classes)
    assert all(len(c.transfer_syntax) == 1 for c in contexts[1:])
    assert len(roles) == len(classes)
    assert all(r.scp_role and not r.scu_role for r in roles)
    one_class, _ = get_contexts(["1.2.840.10008.5.1.4.1.1.2"])
    assert len(one_class) == 1 + 11  # every retrieve syntax, one context each


def test_store_contexts_refuse_more_than_128() -> None:
    pairs = [(f"1.2.3.{n}", "1.2.840.10008.1.2.1") for n in range(MAX_CONTEXTS + 1)]
    with pytest.raises(ValueError, match="128"):
        store_contexts(pairs)


@pytest.mark.parametrize(
    "changes",
    [
        {"calling_aet": "A" * 17},
        {"called_aet": "   "},
        {"called_aet": "BAD\\AE"},
        {"retrieve_mode": "c-teleport"},
        {"patient_id_source": "email"},
        {"pool_size": 0},
        {"port": 70000},
        {"dimse_timeout_s": 0},
    ],
)
def test_settings_are_validated(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        PacsSettings(**changes)  # type: ignore[arg-type]


def test_settings_document_every_option() -> None:
    table = options_markdown()
    assert "| `retrieve_mode` | `c-get` |" in table
    assert table.count("\n") >= 19


def test_status_categories_and_store_result() -> None:
    assert [status_category(s) for s in (0, 0xFF00, 0xFE00, 0xB000, 0x0122, 0xA700)] == [
        "Success", "Pending", "Cancel", "Warning", "Failure", "Failure",
    ]  # fmt: skip
    result = StoreResult((InstanceStatus("c", "1", 0), InstanceStatus("c", "2", 0xB000),
                          InstanceStatus("c", "3", 0xA700)))  # fmt: skip
    assert [len(result.stored), len(result.warnings), len(result.failures)] == [1, 1, 1]
    assert not result.ok
