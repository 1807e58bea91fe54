"""Sources of the clinical record: episodes, lab results, documents and their files."""

from __future__ import annotations

from sqlalchemy import select

from mappers import IdentifierSystems, codes

from .. import schema as t
from ..bindings import (
    AnalyteCode,
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
    source,
)


def clinical_sources(s: IdentifierSystems) -> list[Source]:
    ep, lr, doc = t.episode, t.lab_result, t.document
    patient_ref = ReferenceBinding({"Patient": ep.c.patient_id})
    lab_patient = ReferenceBinding({"Patient": lr.c.patient_id})
    doc_patient = ReferenceBinding({"Patient": doc.c.patient_id})
    return [
        source(
            "Encounter",
            "episode",
            ep,
            select(ep),
            ep.c.patient_id,
            {
                "identifier": IdentifierBinding([(s.episode, ep.c.number, None)]),
                "patient": patient_ref,
                "subject": patient_ref,
                "date": DateBinding(ep.c.started_at, ep.c.ended_at),
                "status": TokenColumn(
                    ep.c.status, (codes.ENCOUNTER_STATUS,), reverse(codes.EPISODE_STATUS)
                ),
                "class": TokenColumn(ep.c.kind, (codes.V3_ACT_CODE,), reverse(codes.EPISODE_CLASS)),
                "type": TokenColumn(ep.c.kind, (f"{s.local_codes}/episode-kind",)),
                "participant": ReferenceBinding({"Practitioner": ep.c.doctor_id}),
                "practitioner": ReferenceBinding({"Practitioner": ep.c.doctor_id}),
                "location": ReferenceBinding({"Location": ep.c.department_id}),
                "service-provider": ReferenceBinding({"Organization": ep.c.department_id}),
                "part-of": ReferenceBinding({"Encounter": ep.c.parent_id}, nullable=True),
            },
            {"date": ep.c.started_at},
        ),
        source(
            "Observation",
            "lab_result",
            lr,
            select(lr),
            lr.c.patient_id,
            {
                "patient": lab_patient,
                "subject": lab_patient,
                "category": ConstantToken(((codes.OBSERVATION_CATEGORY, "laboratory"),)),
                "code": AnalyteCode(lr.c.analyte_code, lr.c.unit, f"{s.local_codes}/analyte"),
                "date": DateBinding(lr.c.observed_at),
                "status": TokenColumn(lr.c.status, (codes.OBSERVATION_STATUS,)),
            },
            {"date": lr.c.observed_at},
        ),
        source(
            "DocumentReference",
            "document",
            doc,
            select(doc),
            doc.c.patient_id,
            {
                "identifier": IdentifierBinding([(s.document, doc.c.number, None)]),
                "patient": doc_patient,
                "subject": doc_patient,
                "type": TokenColumn(
                    doc.c.kind, (f"{s.local_codes}/document-kind", codes.LOINC), _document_codes()
                ),
                "category": TokenColumn(doc.c.kind, (f"{s.local_codes}/document-kind",)),
                "date": DateBinding(doc.c.created_at),
                "status": TokenColumn(doc.c.status, (codes.DOCUMENT_REFERENCE_STATUS,)),
                "encounter": ReferenceBinding({"Encounter": doc.c.episode_id}, nullable=True),
                "author": ReferenceBinding({"Practitioner": doc.c.author_id}, nullable=True),
            },
            {"date": doc.c.created_at},
        ),
        source(
            "Binary",
            "document_file",
            doc,
            select(doc, t.document_file.c.content).join(
                t.document_file, t.document_file.c.document_id == doc.c.id
            ),
            doc.c.patient_id,
            {},
        ),
    ]


def _document_codes() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for kind, loinc in codes.DOCUMENT_KIND_LOINC.items():
        out.setdefault(loinc[0], []).append(kind)
        out.setdefault(kind, []).append(kind)
    return IdentityCodes(out)
