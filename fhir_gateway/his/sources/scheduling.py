"""Scheduling and questionnaire sources: schedules, slots, appointments, questionnaires."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from mappers import IdentifierSystems, codes

from .. import schema as t
from ..bindings import (
    BoolToken,
    DateBinding,
    FlagToken,
    ReferenceBinding,
    StringBinding,
    TokenColumn,
    UriBinding,
    reverse,
)
from .base import (
    Source,
    enrich_questionnaire,
    service_type_binding,
    source,
    specialty_binding,
)

#: Bindings of the Slot source that ``Appointment/$find`` filters by (never parsed from a
#: Slot search: the registry does not list them).
FIND_PRACTITIONER = "$find-practitioner"
FIND_LOCATION = "$find-location"
FIND_SERVICE = "$find-healthcare-service"


def visit_type(s: IdentifierSystems, telemedicine: Any) -> FlagToken:
    """``appointment-type``: a video visit is v3 ActCode VR + local VIDEO, an in-person one
    v2-0276 ROUTINE (as ``mappers.slot`` and ``mappers.appointment`` show them)."""
    return FlagToken(
        telemedicine,
        ((codes.V3_ACT_CODE, "VR"), (f"{s.local_codes}/appointment-type", "VIDEO")),
        ((codes.V2_0276, "ROUTINE"),),
    )


def scheduling_sources(s: IdentifierSystems) -> list[Source]:
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
    # every column but the booking's guard: a read-only HIS without it still serves
    read_cols = [c for c in ap.c if c.name != "held_slot_id"]
    appointment_stmt = (
        select(*read_cols, *service_cols)
        .join(sv, sv.c.id == ap.c.service_id)
        .join(sp, sp.c.code == sv.c.specialty_code)
    )
    actor = ReferenceBinding(
        {"Patient": ap.c.patient_id, "Practitioner": ap.c.doctor_id, "Location": ap.c.department_id}
    )
    return [
        source(
            "Schedule",
            "schedule",
            sc,
            schedule_stmt,
            None,
            {
                "actor": ReferenceBinding(
                    {"Practitioner": sc.c.doctor_id, "Location": sc.c.department_id}
                ),
                "service-type": service_type_binding(s, sv.c.code),
                "specialty": specialty_binding(s, sv.c.specialty_code),
                "active": BoolToken(sc.c.active),
                "date": DateBinding(sc.c.valid_from, sc.c.valid_to, is_date=True),
            },
        ),
        source(
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
                "service-type": service_type_binding(s, sv.c.code),
                "specialty": specialty_binding(s, sv.c.specialty_code),
                "appointment-type": visit_type(s, sl.c.telemedicine),
                # for Appointment/$find only (not search parameters of Slot): the schedule's
                # practitioner, place and service
                FIND_PRACTITIONER: ReferenceBinding({"Practitioner": sc.c.doctor_id}),
                FIND_LOCATION: ReferenceBinding({"Location": sc.c.department_id}),
                FIND_SERVICE: ReferenceBinding({"HealthcareService": sc.c.service_id}),
            },
            {"start": sl.c.start_at},
        ),
        source(
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
                "service-type": service_type_binding(s, sv.c.code),
                "specialty": specialty_binding(s, sv.c.specialty_code),
                "slot": ReferenceBinding({"Slot": ap.c.slot_id}, nullable=True),
                "appointment-type": visit_type(s, ap.c.telemedicine),
            },
            {"date": ap.c.start_at},
        ),
    ]


def questionnaire_sources(s: IdentifierSystems) -> list[Source]:
    q, qa = t.questionnaire, t.questionnaire_assignment
    authored = func.coalesce(qa.c.submitted_at, qa.c.sent_at)
    qr_patient = ReferenceBinding({"Patient": qa.c.patient_id})
    return [
        source(
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
        source(
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
            enrich=enrich_questionnaire,
        ),
    ]
