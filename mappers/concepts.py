"""CodeableConcepts that carry the deployment's local code systems, built once and shared.

Every HIS code travels as a local coding, ``{local_codes}/<table>`` (e.g.
``https://his.hospital.example/fhir/CodeSystem/analyte``), beside the standard coding from
``mappers.codes`` when one exists, so a client that knows the hospital's codes loses nothing
and one that knows LOINC or SNOMED CT finds its codes too
(http://hl7.org/fhir/R4/terminologies.html#4.1 "using codes in resources").

Because the local systems depend on the deployment (``IdentifierSystems.local_codes``), these
concepts cannot be module constants: ``LocalCodes`` builds the fixed ones when it is created
(once per base URL, see ``local_codes``) and memoises the ones that depend on HIS values
(analyte, specialty, service) in bounded dicts. The same dict is returned for every resource:
callers must treat it as read-only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

from .codes import (
    DCM,
    DEPARTMENT_KINDS,
    DICOM_MODALITIES,
    DOCUMENT_KINDS,
    EPISODE_KINDS,
    IMAGING_PROCEDURES,
    IMAGING_REPORT_CODING,
    LOINC,
    PARACLINICAL_KINDS,
    SNOMED,
    SPECIALTY_SNOMED,
    VIRTUAL,
    analyte_loinc,
    coding,
    concept,
    ucum_code,
)

Json = dict[str, Any]
#: Entries kept per memo table; beyond it concepts are built per call (never unbounded).
MEMO_LIMIT: Final = 4096

#: Local code system names, appended to ``IdentifierSystems.local_codes``.
ANALYTE, SPECIALTY, SERVICE = "analyte", "specialty", "service"
EPISODE_KIND, DEPARTMENT_KIND, DOCUMENT_KIND = "episode-kind", "department-kind", "document-kind"
PARACLINICAL_KIND, IMAGING_REPORT, IMAGING_PROCEDURE = (
    "paraclinical-kind",
    "imaging-report",
    "imaging-procedure",
)
SERVICE_CHARACTERISTIC, APPOINTMENT_TYPE = "service-characteristic", "appointment-type"
QUESTIONNAIRE_ANSWER = "questionnaire-answer"


def _kind_concept(system: str, code: str, display: str, *standard: Json) -> Json:
    return concept(*standard, coding(system, code, display), text=display)


class LocalCodes:
    """The concepts of one deployment (see the module docstring)."""

    def __init__(self, base: str) -> None:
        self.base = base
        system = self.system
        self.encounter_type: dict[str, list[Json]] = {
            kind: [
                _kind_concept(
                    system(EPISODE_KIND), kind, display, *([coding(SNOMED, *sct)] if sct else [])
                )
            ]
            for kind, (display, _class, sct) in EPISODE_KINDS.items()
        }
        self.organization_type: dict[str, list[Json]] = {
            kind: [_kind_concept(system(DEPARTMENT_KIND), kind, display, org_type)]
            for kind, (display, org_type, _loc, _phys) in DEPARTMENT_KINDS.items()
        }
        self.location_type: dict[str, list[Json]] = {
            kind: [
                _kind_concept(
                    system(DEPARTMENT_KIND), kind, display, *([loc_type] if loc_type else [])
                )
            ]
            for kind, (display, _org, loc_type, _phys) in DEPARTMENT_KINDS.items()
        }
        self.physical_type: dict[str, Json] = {
            kind: concept(phys) for kind, (_d, _o, _l, phys) in DEPARTMENT_KINDS.items()
        }
        self.paraclinical_code: dict[str, Json] = {
            kind: _kind_concept(
                system(PARACLINICAL_KIND),
                kind,
                display,
                *([coding(LOINC, *loinc)] if loinc else []),
            )
            for kind, (display, _section, loinc) in PARACLINICAL_KINDS.items()
        }
        self.document_type: dict[str, Json] = {
            kind: _kind_concept(
                system(DOCUMENT_KIND), kind, display, *([coding(LOINC, *loinc)] if loinc else [])
            )
            for kind, (display, loinc) in DOCUMENT_KINDS.items()
        }
        self.document_category: dict[str, list[Json]] = {
            kind: [_kind_concept(system(DOCUMENT_KIND), kind, display)]
            for kind, (display, _loinc) in DOCUMENT_KINDS.items()
        }
        self.imaging_procedure: dict[str, list[Json]] = {
            code: [_kind_concept(system(IMAGING_PROCEDURE), code, display)]
            for code, display in IMAGING_PROCEDURES.items()
        }
        #: HealthcareService.characteristic of services offered by video.
        self.telemedicine: list[Json] = [
            _kind_concept(
                system(SERVICE_CHARACTERISTIC), "telemedicine", "Telemedicine (video consultation)"
            )
        ]
        #: Slot/Appointment.appointmentType of video consultations (v3 ActCode VR + local).
        self.video_visit: Json = _kind_concept(
            system(APPOINTMENT_TYPE), "VIDEO", "Video consultation", VIRTUAL
        )
        self._analytes: dict[tuple[str, str, str | None], Json] = {}
        self._specialties: dict[tuple[str, str], list[Json]] = {}
        self._services: dict[tuple[str, str], list[Json]] = {}
        self._imaging_reports: dict[str, Json] = {}

    def system(self, table: str) -> str:
        """The URI of one local code system."""
        return f"{self.base}/{table}"

    def analyte(self, code: str, name: str, unit: str | None) -> Json:
        """Observation.code: LOINC (when the analyte and unit are known) + the lab's own code."""
        key = (code, name, unit)
        found = self._analytes.get(key)
        if found is None:
            local = coding(self.system(ANALYTE), code, name)
            loinc = analyte_loinc(code, ucum_code(unit))
            found = (
                concept(coding(LOINC, *loinc), local, text=name)
                if loinc
                else concept(local, text=name)
            )
            _remember(self._analytes, key, found)
        return found

    def specialty(self, code: str, name: str) -> list[Json]:
        """A one-element list: SNOMED CT practice setting (if known) + the HIS specialty."""
        key = (code, name)
        found = self._specialties.get(key)
        if found is None:
            sct = SPECIALTY_SNOMED.get(code)
            found = [
                _kind_concept(
                    self.system(SPECIALTY), code, name, *([coding(SNOMED, *sct)] if sct else [])
                )
            ]
            _remember(self._specialties, key, found)
        return found

    def service(self, code: str, name: str) -> list[Json]:
        """A one-element list: the HIS service as a (local) service type."""
        key = (code, name)
        found = self._services.get(key)
        if found is None:
            found = [_kind_concept(self.system(SERVICE), code, name)]
            _remember(self._services, key, found)
        return found

    def imaging_report(self, modality: str) -> Json:
        """DiagnosticReport.code of a radiology report: LOINC 18748-4 + local per-modality."""
        found = self._imaging_reports.get(modality)
        if found is None:
            display = f"{DICOM_MODALITIES.get(modality, modality)} report"
            found = concept(
                IMAGING_REPORT_CODING,
                coding(self.system(IMAGING_REPORT), modality, display),
                text=display,
            )
            _remember(self._imaging_reports, modality, found)
        return found

    def questionnaire_answers(self, questionnaire_code: str) -> str:
        """The code system of one questionnaire's answer options."""
        return f"{self.base}/{QUESTIONNAIRE_ANSWER}/{questionnaire_code}"


def modality(code: str) -> Json:
    """An ImagingStudy.modality Coding (DICOM CID 29)."""
    return coding(DCM, code, DICOM_MODALITIES.get(code))


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
    if len(memo) < MEMO_LIMIT:
        memo[key] = value


@lru_cache(maxsize=16)
def local_codes(base: str) -> LocalCodes:
    """The shared LocalCodes of one local code system base."""
    return LocalCodes(base)
