"""DiagnosticReport (three HIS tables) and ImagingStudy sources."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from mappers import IdentifierSystems, codes

from .. import schema as t
from ..bindings import (
    Absent,
    Binding,
    ConstantToken,
    DateBinding,
    IdentifierBinding,
    ReferenceBinding,
    TokenColumn,
    reverse,
)
from .base import (
    IdentityCodes,
    Source,
    enrich_bulletin_results,
    source,
)


def report_sources(s: IdentifierSystems) -> list[Source]:
    lb, pt, io = t.lab_bulletin, t.paraclinical_test, t.imaging_order
    report_status = (codes.DIAGNOSTIC_REPORT_STATUS,)
    dr = "DiagnosticReport"
    v2_0074 = codes.V2_0074
    no_result = ReferenceBinding({})
    rad_status = {
        **reverse(codes.IMAGING_REPORT_STATUS),
        codes.IMAGING_REPORT_STATUS_OTHERWISE: [
            st
            for st in ("ordered", "scheduled", "performed")
            if st not in codes.IMAGING_REPORT_STATUS
        ],
    }
    result_sub = select(t.lab_result.c.bulletin_id)
    return [
        source(
            dr,
            "lab_bulletin",
            lb,
            select(lb),
            lb.c.patient_id,
            {
                "identifier": IdentifierBinding([(s.lab_bulletin, lb.c.number, None)]),
                "patient": ReferenceBinding({"Patient": lb.c.patient_id}),
                "subject": ReferenceBinding({"Patient": lb.c.patient_id}),
                "category": ConstantToken(((v2_0074, "LAB"),)),
                "code": ConstantToken(((codes.LOINC, codes.LAB_REPORT_LOINC),)),
                "date": DateBinding(lb.c.collected_at),
                "issued": DateBinding(lb.c.validated_at, nullable=True),
                "status": TokenColumn(lb.c.status, report_status, reverse(codes.BULLETIN_STATUS)),
                "encounter": ReferenceBinding({"Encounter": lb.c.episode_id}, nullable=True),
                "result": _ResultOf(result_sub, lb.c.id),
                "performer": ReferenceBinding({"Organization": lb.c.department_id}),
                "results-interpreter": ReferenceBinding(
                    {"Practitioner": lb.c.validator_id}, nullable=True
                ),
                "imaging-study": no_result,
            },
            {"date": lb.c.collected_at},
            rank=0,
            enrich=enrich_bulletin_results,
        ),
        source(
            dr,
            "paraclinical_test",
            pt,
            select(pt),
            pt.c.patient_id,
            {
                "identifier": IdentifierBinding([(s.paraclinical, pt.c.number, None)]),
                "patient": ReferenceBinding({"Patient": pt.c.patient_id}),
                "subject": ReferenceBinding({"Patient": pt.c.patient_id}),
                "category": TokenColumn(pt.c.kind, (v2_0074,), reverse(codes.PARACLINICAL_SECTION)),
                "code": TokenColumn(
                    pt.c.kind,
                    (f"{s.local_codes}/paraclinical-kind", codes.LOINC),
                    IdentityCodes({loinc[0]: [k] for k, loinc in codes.PARACLINICAL_LOINC.items()}),
                ),
                "date": DateBinding(pt.c.performed_at),
                "issued": Absent(),  # the HIS keeps no validation time for these
                "status": TokenColumn(
                    pt.c.status, report_status, reverse(codes.PARACLINICAL_STATUS)
                ),
                "encounter": ReferenceBinding({"Encounter": pt.c.episode_id}, nullable=True),
                "result": no_result,
                "performer": ReferenceBinding({"Organization": pt.c.department_id}),
                "results-interpreter": ReferenceBinding({"Practitioner": pt.c.doctor_id}),
                "imaging-study": no_result,
            },
            {"date": pt.c.performed_at},
            rank=1,
        ),
        source(
            dr,
            "imaging_order",
            io,
            select(io),
            io.c.patient_id,
            {
                "identifier": IdentifierBinding([(s.accession, io.c.accession_number, None)]),
                "patient": ReferenceBinding({"Patient": io.c.patient_id}),
                "subject": ReferenceBinding({"Patient": io.c.patient_id}),
                "category": ConstantToken(((v2_0074, "RAD"),)),
                "code": ConstantToken(((codes.LOINC, codes.IMAGING_REPORT_LOINC),)),
                "date": DateBinding(io.c.performed_at, nullable=True),
                "issued": DateBinding(io.c.reported_at),
                "status": TokenColumn(io.c.status, report_status, rad_status),
                "encounter": ReferenceBinding({"Encounter": io.c.episode_id}, nullable=True),
                "result": no_result,
                "performer": ReferenceBinding({"Organization": io.c.department_id}),
                "results-interpreter": ReferenceBinding({"Practitioner": io.c.radiologist_id}),
                "imaging-study": ReferenceBinding({"ImagingStudy": io.c.id}),
            },
            {"date": func.coalesce(io.c.performed_at, io.c.reported_at)},
            rank=2,
            where=io.c.reported_at.is_not(None),
        ),
        source(
            "ImagingStudy",
            "imaging_order",
            io,
            select(io),
            io.c.patient_id,
            {
                "identifier": _StudyIdentifier(s, io),
                "patient": ReferenceBinding({"Patient": io.c.patient_id}),
                "subject": ReferenceBinding({"Patient": io.c.patient_id}),
                "started": DateBinding(io.c.performed_at, nullable=True),
                "modality": TokenColumn(io.c.modality, (codes.DICOM_DCM,)),
                "status": TokenColumn(
                    io.c.status, (codes.IMAGING_STUDY_STATUS,), reverse(codes.ORDER_STUDY_STATUS)
                ),
                "encounter": ReferenceBinding({"Encounter": io.c.episode_id}, nullable=True),
                "referrer": ReferenceBinding({"Practitioner": io.c.referrer_id}),
            },
            {"started": func.coalesce(io.c.performed_at, io.c.ordered_at)},
            where=io.c.study_uid.is_not(None),
        ),
    ]


class _ResultOf(Binding):
    """DiagnosticReport ``result``: bulletins that contain the given Observation."""

    def __init__(self, sub: Select[Any], report_id: ColumnElement[Any]) -> None:
        self.sub, self.report_id = sub, report_id

    def match(self, value: Any, modifier: str | None) -> ColumnElement[bool]:
        binding = ReferenceBinding({"Observation": t.lab_result.c.id})
        return self.report_id.in_(self.sub.where(binding.match(value, modifier)))


class _StudyIdentifier(IdentifierBinding):
    """The study's ``urn:oid:`` identifier (system urn:ietf:rfc:3986) or its accession number."""

    def __init__(self, s: IdentifierSystems, io: Any) -> None:
        super().__init__([(s.accession, io.c.accession_number, None)])
        self.uid_col = io.c.study_uid

    def match(self, value: Any, modifier: str | None) -> ColumnElement[bool]:
        by_accession = super().match(value, modifier)
        code = value.code or ""
        if value.system in (None, codes.DICOM_UID, codes.URN_SYSTEM) and code.startswith(
            "urn:oid:"
        ):
            return by_accession | (self.uid_col == code[len("urn:oid:") :])
        return by_accession
