"""A surface refuses a decision it cannot apply: ignoring part of a decision widens the grant.

The FHIR API cannot narrow its queries to DICOM Study Instance UIDs (``Decision.studies``: a
viewer token's one study), so it answers 403 rather than every ImagingStudy of the patient;
DICOMweb cannot impose query-filtered ImagingStudy scopes (``Decision.filters``) on a C-FIND,
so it answers 403 rather than every study of the patient.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from access.errors import Forbidden
from access.policy import VIEWER, AccessPolicy, Grant
from access.scopes import parse_scopes
from dicomweb.backends.settings import PacsSettings
from dicomweb.web.context import DicomwebContext
from fhir_gateway.errors import NotFound
from fhir_gateway.fhir.interactions import FhirService

STUDY = "1.2.826.0.1.3680043.8.498.1"


class NothingHere:
    """A HIS connector holding no record (a query reaching it finds nothing)."""

    def read_many(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def search(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def count(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def read(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"mrn": "MRN-1"}


def fhir() -> FhirService:
    return FhirService(
        cast(Any, NothingHere()),
        AccessPolicy("test"),
        cast(Any, None),
        base_url="http://gateway.test/fhir",
        secret=b"test-secret",
    )


def viewer_grant() -> Grant:
    return Grant(
        subject="viewer", patients=frozenset({1}), studies=frozenset({STUDY}), reach=VIEWER
    )


def test_the_fhir_api_refuses_a_grant_bound_to_studies() -> None:
    service = fhir()
    with pytest.raises(Forbidden):
        service.read(viewer_grant(), "ImagingStudy", "1")
    with pytest.raises(Forbidden):
        service.search(viewer_grant(), "ImagingStudy", [], strict=False)
    with pytest.raises(Forbidden):
        service.compartment_search(viewer_grant(), "1", "ImagingStudy", [], strict=False)
    with pytest.raises(Forbidden):
        service.search_system(viewer_grant(), [("_type", "ImagingStudy")], strict=False)


def test_the_same_grant_without_studies_is_not_refused() -> None:
    """The refusal is about the studies: the grant otherwise reaches the HIS (nothing there)."""
    grant = Grant(subject="viewer", patients=frozenset({1}), reach=VIEWER)
    with pytest.raises(NotFound):
        fhir().read(grant, "ImagingStudy", "1")
    bundle = fhir().search(grant, "ImagingStudy", [], strict=False)
    assert bundle["resourceType"] == "Bundle"


def dicomweb() -> DicomwebContext:
    return DicomwebContext(
        backend=cast(Any, None),
        pacs=PacsSettings(),
        policy=AccessPolicy("test"),
        his=cast(Any, NothingHere()),
        base_url="http://gateway.test/dicomweb",
    )


def scoped(scope: str) -> Grant:
    return Grant(
        subject="patient",
        patients=frozenset({1}),
        scopes=parse_scopes(scope),
        levels=frozenset({"patient"}),
    )


@pytest.mark.parametrize("interaction", ["search", "read", "export"])
def test_dicomweb_refuses_query_filtered_imaging_scopes(interaction: str) -> None:
    with pytest.raises(Forbidden):
        dicomweb().scope(scoped("patient/ImagingStudy.rs?modality=CT"), interaction)


def test_dicomweb_applies_an_unfiltered_imaging_scope() -> None:
    scope = dicomweb().scope(scoped("patient/ImagingStudy.rs"), "search")
    assert scope.patient_ids == frozenset({"MRN-1"})
