"""Where each FHIR resource comes from in the default HIS database, and how it is searched.

A ``Source`` is one record kind (a HIS table, with the joins its mapper needs) serving one
resource type: its columns, its patient column (for compartment narrowing), the SQL binding of
every search parameter the registry declares for that type, and its sort columns. A resource
type may be served by several sources (DiagnosticReport: lab bulletins, paraclinical tests,
radiology reports); searches merge them in one ordering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.engine import Connection

from mappers import IdentifierSystems, codes

from . import schema as t
from .bindings import (
    Absent,
    AnalyteCode,
    Binding,
    BoolToken,
    ConstantToken,
    DateBinding,
    FlagToken,
    IdBinding,
    IdentifierBinding,
    ReferenceBinding,
    StringBinding,
    TokenColumn,
    UriBinding,
    reverse,
)

Enrich = Callable[[Connection, list[dict[str, Any]]], None]


@dataclass
class Source:
    resource_type: str
    kind: str
    rank: int
    stmt: Select[Any]  # the columns the mapper needs, with joins
    id_col: ColumnElement[Any]
    patient_col: ColumnElement[Any] | None
    bindings: dict[str, Binding]
    sorts: dict[str, ColumnElement[Any]]
    where: ColumnElement[bool] | None = None
    enrich: Enrich | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _common(resource_type: str, kind: str, table: Any) -> tuple[dict[str, Binding], dict[str, Any]]:
    bindings: dict[str, Binding] = {
        "_id": IdBinding(resource_type, kind, table.c.id),
        "_lastUpdated": DateBinding(table.c.updated_at),
    }
    return bindings, {"_id": table.c.id, "_lastUpdated": table.c.updated_at}


def _source(
    resource_type: str,
    kind: str,
    table: Any,
    stmt: Select[Any],
    patient_col: ColumnElement[Any] | None,
    bindings: dict[str, Binding],
    sorts: Mapping[str, ColumnElement[Any]] | None = None,
    *,
    rank: int = 0,
    where: ColumnElement[bool] | None = None,
    enrich: Enrich | None = None,
) -> Source:
    base_bindings, base_sorts = _common(resource_type, kind, table)
    return Source(
        resource_type=resource_type,
        kind=kind,
        rank=rank,
        stmt=stmt,
        id_col=table.c.id,
        patient_col=patient_col,
        bindings={**base_bindings, **bindings},
        sorts={**base_sorts, **(sorts or {})},
        where=where,
        enrich=enrich,
    )


# --- enrichment: related values a mapper needs, fetched once per page ---------------------------


def _enrich_bulletin_results(conn: Connection, records: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in records]
    by_bulletin: dict[int, list[int]] = {i: [] for i in ids}
    stmt = (
        select(t.lab_result.c.bulletin_id, t.lab_result.c.id)
        .where(t.lab_result.c.bulletin_id.in_(ids))
        .order_by(t.lab_result.c.id)
    )
    for bulletin_id, result_id in conn.execute(stmt):
        by_bulletin[bulletin_id].append(result_id)
    for r in records:
        r["result_ids"] = by_bulletin[r["id"]]


def _enrich_questionnaire(conn: Connection, records: list[dict[str, Any]]) -> None:
    ids = {r["questionnaire_id"] for r in records}
    rows = conn.execute(select(t.questionnaire).where(t.questionnaire.c.id.in_(ids))).mappings()
    by_id = {row["id"]: dict(row) for row in rows}
    for r in records:
        r["questionnaire"] = by_id.get(r["questionnaire_id"])


def _nest_guardian(_conn: Connection, records: list[dict[str, Any]]) -> None:
    for r in records:
        r["guardian"] = {k[2:]: r.pop(k) for k in [k for k in r if k.startswith("g_")]}


# --- the sources ----------------------------------------------------------------------------------


def build_sources(systems: IdentifierSystems) -> list[Source]:
    """Every source of the default HIS database, bound to the deployment's identifier systems."""
    return [
        *_people(systems),
        *_organisation(systems),
        *_clinical(systems),
        *_reports(systems),
        *_scheduling(systems),
        *_questionnaires(systems),
    ]


def _national_id(systems: IdentifierSystems, table: Any) -> list[tuple[str, Any, Any]]:
    return [
        (systems.cnp, table.c.national_id, table.c.national_id_kind == "CNP"),
        (systems.pesel, table.c.national_id, table.c.national_id_kind == "PESEL"),
    ]


def _people(s: IdentifierSystems) -> list[Source]:
    p, g, d, sp = t.patient, t.patient.alias("g"), t.doctor, t.specialty
    guardian_cols = [c.label(f"g_{c.name}") for c in g.c]
    doctor_stmt = select(d, sp.c.name.label("specialty_name")).join(
        sp, sp.c.code == d.c.specialty_code
    )
    gender = TokenColumn(p.c.gender, (codes.ADMINISTRATIVE_GENDER,), reverse(codes.GENDER))
    return [
        _source(
            "Patient",
            "patient",
            p,
            select(p),
            p.c.id,
            {
                "identifier": IdentifierBinding([*_national_id(s, p), (s.mrn, p.c.mrn, None)]),
                "name": StringBinding([p.c.family, p.c.given]),
                "family": StringBinding([p.c.family]),
                "given": StringBinding([p.c.given]),
                "gender": gender,
                "birthdate": DateBinding(p.c.birth_date, is_date=True),
                "active": BoolToken(p.c.active),
                "email": TokenColumn(p.c.email, (), nullable=True),
                "phone": TokenColumn(p.c.phone, (), nullable=True),
            },
            {"birthdate": p.c.birth_date},
        ),
        _source(
            "RelatedPerson",
            "guardian_link",
            t.guardian_link,
            select(t.guardian_link, *guardian_cols).join(
                g, g.c.id == t.guardian_link.c.guardian_id
            ),
            t.guardian_link.c.ward_id,
            {
                "patient": ReferenceBinding({"Patient": t.guardian_link.c.ward_id}),
                "identifier": IdentifierBinding(_national_id(s, g)),
                "relationship": TokenColumn(t.guardian_link.c.relationship, (codes.V3_ROLE_CODE,)),
                "name": StringBinding([g.c.family, g.c.given]),
            },
            enrich=_nest_guardian,
        ),
        _source(
            "Practitioner",
            "doctor",
            d,
            doctor_stmt,
            None,
            {
                "identifier": IdentifierBinding([(s.doctor_stamp, d.c.code, None)]),
                "name": StringBinding([d.c.family, d.c.given]),
                "family": StringBinding([d.c.family]),
                "given": StringBinding([d.c.given]),
                "active": BoolToken(d.c.active),
            },
        ),
        _source(
            "PractitionerRole",
            "doctor",
            d,
            doctor_stmt,
            None,
            {
                "practitioner": ReferenceBinding({"Practitioner": d.c.id}),
                "organization": ReferenceBinding({"Organization": d.c.department_id}),
                "location": ReferenceBinding({"Location": d.c.department_id}),
                "specialty": _specialty(s, d.c.specialty_code),
                "active": BoolToken(d.c.active),
            },
        ),
    ]


def _specialty(s: IdentifierSystems, col: Any) -> Binding:
    return TokenColumn(col, (f"{s.local_codes}/specialty",))


def _service_type(s: IdentifierSystems, col: Any) -> Binding:
    return TokenColumn(col, (f"{s.local_codes}/service",))


def _organisation(s: IdentifierSystems) -> list[Source]:
    dep, sv, sp = t.department, t.service, t.specialty
    dep_identifier = IdentifierBinding([(s.department, dep.c.code, None)])
    org_type = TokenColumn(
        dep.c.kind, (codes.ORGANIZATION_TYPE,), reverse(codes.DEPARTMENT_ORG_TYPE)
    )
    return [
        _source(
            "Organization",
            "department",
            dep,
            select(dep),
            None,
            {
                "identifier": dep_identifier,
                "name": StringBinding([dep.c.name]),
                "type": org_type,
                "partof": ReferenceBinding({"Organization": dep.c.parent_id}, nullable=True),
            },
        ),
        _source(
            "Location",
            "department",
            dep,
            select(dep),
            None,
            {
                "identifier": dep_identifier,
                "name": StringBinding([dep.c.name]),
                "organization": ReferenceBinding({"Organization": dep.c.id}),
            },
        ),
        _source(
            "HealthcareService",
            "service",
            sv,
            select(sv, sp.c.name.label("specialty_name")).join(
                sp, sp.c.code == sv.c.specialty_code
            ),
            None,
            {
                "identifier": IdentifierBinding([(s.service, sv.c.code, None)]),
                "name": StringBinding([sv.c.name]),
                "organization": ReferenceBinding({"Organization": sv.c.department_id}),
                "location": ReferenceBinding({"Location": sv.c.department_id}),
                "specialty": _specialty(s, sv.c.specialty_code),
                "service-type": _service_type(s, sv.c.code),
                "active": BoolToken(sv.c.active),
            },
        ),
    ]


def _clinical(s: IdentifierSystems) -> list[Source]:
    ep, lr, doc = t.episode, t.lab_result, t.document
    patient_ref = ReferenceBinding({"Patient": ep.c.patient_id})
    lab_patient = ReferenceBinding({"Patient": lr.c.patient_id})
    doc_patient = ReferenceBinding({"Patient": doc.c.patient_id})
    return [
        _source(
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
        _source(
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
        _source(
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
        _source(
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
    return _Identity(out)


class _Identity(dict):  # type: ignore[type-arg]
    """A code table where an unknown code stands for itself (local codes pass through)."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, [key])


def _reports(s: IdentifierSystems) -> list[Source]:
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
        _source(
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
            enrich=_enrich_bulletin_results,
        ),
        _source(
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
                    _Identity({loinc[0]: [k] for k, loinc in codes.PARACLINICAL_LOINC.items()}),
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
        _source(
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
        _source(
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


def _scheduling(s: IdentifierSystems) -> list[Source]:
    sc, sl, ap, sv, sp = t.schedule, t.slot, t.appointment, t.service, t.specialty
    service_cols = [
        sv.c.code.label("service_code"),
        sv.c.name.label("service_name"),
        sv.c.specialty_code,
        sp.c.name.label("specialty_name"),
    ]
    schedule_stmt = (
        select(sc, *service_cols)
        .join(sv, sv.c.id == sc.c.service_id)
        .join(sp, sp.c.code == sv.c.specialty_code)
    )
    slot_stmt = (
        select(sl, sc.c.service_id, sc.c.doctor_id, sc.c.department_id, *service_cols)
        .join(sc, sc.c.id == sl.c.schedule_id)
        .join(sv, sv.c.id == sc.c.service_id)
        .join(sp, sp.c.code == sv.c.specialty_code)
    )
    appointment_stmt = (
        select(ap, *service_cols)
        .join(sv, sv.c.id == ap.c.service_id)
        .join(sp, sp.c.code == sv.c.specialty_code)
    )
    actor = ReferenceBinding(
        {"Patient": ap.c.patient_id, "Practitioner": ap.c.doctor_id, "Location": ap.c.department_id}
    )
    return [
        _source(
            "Schedule",
            "schedule",
            sc,
            schedule_stmt,
            None,
            {
                "actor": ReferenceBinding(
                    {"Practitioner": sc.c.doctor_id, "Location": sc.c.department_id}
                ),
                "service-type": _service_type(s, sv.c.code),
                "specialty": _specialty(s, sv.c.specialty_code),
                "active": BoolToken(sc.c.active),
                "date": DateBinding(sc.c.valid_from, sc.c.valid_to, is_date=True),
            },
        ),
        _source(
            "Slot",
            "slot",
            sl,
            slot_stmt,
            None,
            {
                "schedule": ReferenceBinding({"Schedule": sl.c.schedule_id}),
                "status": TokenColumn(
                    sl.c.status, (codes.SLOT_STATUS,), reverse(codes.SLOT_STATUS_MAP)
                ),
                "start": DateBinding(sl.c.start_at),
                "service-type": _service_type(s, sv.c.code),
                "specialty": _specialty(s, sv.c.specialty_code),
            },
            {"start": sl.c.start_at},
        ),
        _source(
            "Appointment",
            "appointment",
            ap,
            appointment_stmt,
            ap.c.patient_id,
            {
                "patient": ReferenceBinding({"Patient": ap.c.patient_id}),
                "actor": actor,
                "practitioner": ReferenceBinding({"Practitioner": ap.c.doctor_id}),
                "location": ReferenceBinding({"Location": ap.c.department_id}),
                "date": DateBinding(ap.c.start_at),
                "status": TokenColumn(
                    ap.c.status, (codes.APPOINTMENT_STATUS,), reverse(codes.APPOINTMENT_STATUS_MAP)
                ),
                "service-type": _service_type(s, sv.c.code),
                "specialty": _specialty(s, sv.c.specialty_code),
                "slot": ReferenceBinding({"Slot": ap.c.slot_id}, nullable=True),
                "appointment-type": FlagToken(
                    ap.c.telemedicine,
                    (
                        (codes.V3_ACT_CODE, "VR"),
                        (f"{s.local_codes}/appointment-type", "VIDEO"),
                    ),
                    ((codes.V2_0276, "ROUTINE"),),
                ),
            },
            {"date": ap.c.start_at},
        ),
    ]


def _questionnaires(s: IdentifierSystems) -> list[Source]:
    q, qa = t.questionnaire, t.questionnaire_assignment
    authored = func.coalesce(qa.c.submitted_at, qa.c.sent_at)
    qr_patient = ReferenceBinding({"Patient": qa.c.patient_id})
    return [
        _source(
            "Questionnaire",
            "questionnaire",
            q,
            select(q),
            None,
            {
                "url": UriBinding(q.c.code, f"{s.questionnaire}/"),
                "name": StringBinding([q.c.code]),
                "title": StringBinding([q.c.title]),
                "status": TokenColumn(q.c.status, (codes.PUBLICATION_STATUS,)),
                "version": TokenColumn(q.c.version_label, ()),
                "date": DateBinding(q.c.published_at),
            },
            {"date": q.c.published_at},
        ),
        _source(
            "QuestionnaireResponse",
            "questionnaire_assignment",
            qa,
            select(qa),
            qa.c.patient_id,
            {
                "patient": qr_patient,
                "subject": qr_patient,
                "status": TokenColumn(
                    qa.c.status,
                    (codes.QUESTIONNAIRE_RESPONSE_STATUS,),
                    reverse(codes.ASSIGNMENT_STATUS),
                ),
                "authored": DateBinding(authored),
                "questionnaire": ReferenceBinding({"Questionnaire": qa.c.questionnaire_id}),
            },
            {"authored": authored},
            enrich=_enrich_questionnaire,
        ),
    ]
