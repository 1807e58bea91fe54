"""Reference data: the hospital, its departments, specialties, doctors, services, questionnaires."""

from __future__ import annotations

import datetime as dt
import random

from fhir_gateway.his import schema

from .. import names
from .catalog import DEPARTMENTS, HOSPITAL, SERVICES, SPECIALTIES, tr
from .context import Batch, DoctorRef, Organisation, QuestionnaireRef, ServiceRef
from .identifiers import stamp
from .questionnaires import DEFINITIONS

_PREFIXES = {
    "ro": ("Dr.", "Dr.", "Dr.", "Conf. dr.", "Prof. dr."),
    "pl": ("lek.", "lek.", "dr n. med.", "dr hab.", "prof. dr hab."),
}


def organisation(locale: str) -> Organisation:
    """The (still empty) organisation of a hospital speaking ``locale``."""
    return Organisation(locale=locale, hospital=HOSPITAL)


def build(batch: Batch, rng: random.Random, locales: tuple[str, ...]) -> None:
    """Queue the reference rows into ``batch.rows`` and describe them in ``batch.org``."""
    org = batch.org
    _departments(batch, rng, org)
    _specialties(batch, org.locale)
    _doctors(batch, rng, org, locales)
    _services(batch, rng, org)
    _questionnaires(batch, org, sorted(set(locales)))


def _audit(batch: Batch, rng: random.Random, days: tuple[int, int] = (200, 900)) -> dict:
    """``updated_at``/``version`` of a reference row last touched some days ago."""
    when = batch.clock.now - dt.timedelta(days=rng.randint(*days), minutes=rng.randint(0, 1439))
    return {"updated_at": when, "version": 2 if rng.random() < 0.05 else 1}


def _departments(batch: Batch, rng: random.Random, org: Organisation) -> None:
    locale, hospital = org.locale, org.hospital
    hospital_id = batch.seq.next_id(schema.department)
    batch.rows.add(
        schema.department,
        {
            "id": hospital_id,
            "code": "HOSP",
            "name": tr(hospital.name, locale),
            "kind": "hospital",
            "phone": tr(hospital.phone, locale),
            "address_line": tr(hospital.address_line, locale),
            "city": tr(hospital.city, locale),
            "postal_code": tr(hospital.postal_code, locale),
            "country": names.COUNTRY[locale],
            **_audit(batch, rng),
        },
    )
    org.department_names[hospital_id] = hospital.name
    org.department_abbr[hospital_id] = "SP"
    for number, department in enumerate(DEPARTMENTS, start=1):
        department_id = batch.seq.next_id(schema.department)
        batch.rows.add(
            schema.department,
            {
                "id": department_id,
                "code": department.code,
                "name": tr(department.name, locale),
                "kind": department.kind,
                "parent_id": hospital_id,
                "phone": f"{tr(hospital.phone, locale)} / {100 + number}",
                "address_line": tr(hospital.address_line, locale),
                "city": tr(hospital.city, locale),
                "postal_code": tr(hospital.postal_code, locale),
                "country": names.COUNTRY[locale],
                **_audit(batch, rng),
            },
        )
        org.department_ids[department.code] = department_id
        org.department_names[department_id] = department.name
        org.department_abbr[department_id] = department.abbr


def _specialties(batch: Batch, locale: str) -> None:
    for specialty in SPECIALTIES:
        batch.rows.add(
            schema.specialty, {"code": specialty.code, "name": tr(specialty.name, locale)}
        )


def _doctors(batch: Batch, rng: random.Random, org: Organisation, locales: tuple[str, ...]) -> None:
    codes: set[str] = set()
    for specialty in SPECIALTIES:
        department_id = org.department(specialty.department)
        for _ in range(specialty.doctors):
            locale = rng.choice(locales)
            gender = rng.choice("MF")
            given = names.given_name(rng, locale, gender)
            family = names.family_form(names.family_name(rng, locale), locale, gender)
            prefix = rng.choice(_PREFIXES[locale])
            code = stamp(rng, locale)
            while code in codes:
                code = stamp(rng, locale)
            codes.add(code)
            doctor_id = batch.seq.next_id(schema.doctor)
            batch.rows.add(
                schema.doctor,
                {
                    "id": doctor_id,
                    "code": code,
                    "family": family,
                    "given": given,
                    "prefix": prefix,
                    "gender": gender,
                    "specialty_code": specialty.code,
                    "department_id": department_id,
                    "phone": f"{tr(org.hospital.phone, org.locale)} / {200 + doctor_id}",
                    "email": names.email(given, family, doctor_id, "hospital.example"),
                    "active": rng.random() > 0.05,
                    **_audit(batch, rng),
                },
            )
            org.doctors.setdefault(specialty.code, []).append(
                DoctorRef(
                    doctor_id, code, f"{prefix} {given} {family}", specialty.code, department_id
                )
            )


def _services(batch: Batch, rng: random.Random, org: Organisation) -> None:
    for service in SERVICES:
        service_id = batch.seq.next_id(schema.service)
        department_id = org.department(service.department)
        batch.rows.add(
            schema.service,
            {
                "id": service_id,
                "code": service.code,
                "name": tr(service.name, org.locale),
                "specialty_code": service.specialty,
                "department_id": department_id,
                "telemedicine": service.telemedicine,
                "duration_min": service.duration_min,
                "active": True,
                **_audit(batch, rng),
            },
        )
        org.services.setdefault(service.specialty, []).append(
            ServiceRef(
                service_id,
                service.code,
                service.specialty,
                department_id,
                service.duration_min,
                service.telemedicine,
            )
        )


def _questionnaires(batch: Batch, org: Organisation, locales: list[str]) -> None:
    for locale in locales:
        for definition in DEFINITIONS:
            questionnaire_id = batch.seq.next_id(schema.questionnaire)
            published = batch.clock.now - dt.timedelta(days=definition.age_days, hours=-9)
            batch.rows.add(
                schema.questionnaire,
                {
                    "id": questionnaire_id,
                    "code": f"{definition.name}-{locale}",
                    "title": tr(definition.title, locale),
                    "version_label": definition.version_label,
                    "status": "active",
                    "description": tr(definition.description, locale),
                    "items": [item.as_json(locale) for item in definition.items],
                    "published_at": published,
                    "updated_at": published,
                    "version": 1,
                },
            )
            org.questionnaires.append(
                QuestionnaireRef(questionnaire_id, locale, definition, published)
            )
