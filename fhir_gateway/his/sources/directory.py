"""Sources of people and the organisation: patients, guardians, doctors, departments, services."""

from __future__ import annotations

from sqlalchemy import select

from mappers import IdentifierSystems, codes

from .. import schema as t
from ..bindings import (
    BoolToken,
    DateBinding,
    IdentifierBinding,
    ReferenceBinding,
    StringBinding,
    TokenColumn,
    reverse,
)
from .base import (
    Source,
    national_id,
    nest_guardian,
    service_type_binding,
    source,
    specialty_binding,
)


def people_sources(s: IdentifierSystems) -> list[Source]:
    p, g, d, sp = t.patient, t.patient.alias("g"), t.doctor, t.specialty
    guardian_cols = [c.label(f"g_{c.name}") for c in g.c]
    doctor_stmt = select(d, sp.c.name.label("specialty_name")).join(
        sp, sp.c.code == d.c.specialty_code
    )
    gender = TokenColumn(p.c.gender, (codes.ADMINISTRATIVE_GENDER,), reverse(codes.GENDER))
    return [
        source(
            "Patient",
            "patient",
            p,
            select(p),
            p.c.id,
            {
                "identifier": IdentifierBinding([*national_id(s, p), (s.mrn, p.c.mrn, None)]),
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
        source(
            "RelatedPerson",
            "guardian_link",
            t.guardian_link,
            select(t.guardian_link, *guardian_cols).join(
                g, g.c.id == t.guardian_link.c.guardian_id
            ),
            t.guardian_link.c.ward_id,
            {
                "patient": ReferenceBinding({"Patient": t.guardian_link.c.ward_id}),
                "identifier": IdentifierBinding(national_id(s, g)),
                "relationship": TokenColumn(t.guardian_link.c.relationship, (codes.V3_ROLE_CODE,)),
                "name": StringBinding([g.c.family, g.c.given]),
            },
            enrich=nest_guardian,
        ),
        source(
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
        source(
            "PractitionerRole",
            "doctor",
            d,
            doctor_stmt,
            None,
            {
                "practitioner": ReferenceBinding({"Practitioner": d.c.id}),
                "organization": ReferenceBinding({"Organization": d.c.department_id}),
                "location": ReferenceBinding({"Location": d.c.department_id}),
                "specialty": specialty_binding(s, d.c.specialty_code),
                "active": BoolToken(d.c.active),
            },
        ),
    ]


def organisation_sources(s: IdentifierSystems) -> list[Source]:
    dep, sv, sp = t.department, t.service, t.specialty
    dep_identifier = IdentifierBinding([(s.department, dep.c.code, None)])
    org_type = TokenColumn(
        dep.c.kind, (codes.ORGANIZATION_TYPE,), reverse(codes.DEPARTMENT_ORG_TYPE)
    )
    return [
        source(
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
        source(
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
        source(
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
                "specialty": specialty_binding(s, sv.c.specialty_code),
                "service-type": service_type_binding(s, sv.c.code),
                "active": BoolToken(sv.c.active),
            },
        ),
    ]
