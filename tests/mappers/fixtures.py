"""HIS records as the connector returns them: one factory per record kind.

Each factory returns a fresh, valid record (plain Python values, typed as SQLAlchemy types
them); keyword arguments override columns. The people and numbers are invented; national IDs
have valid check digits.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

Record = dict[str, Any]

UPDATED = datetime(2026, 3, 1, 8, 30, 15)


def _row(values: Record, overrides: Record) -> Record:
    return {**values, "updated_at": UPDATED, "version": 3, **overrides}


def department(**overrides: Any) -> Record:
    return _row(
        {
            "id": 7,
            "code": "CARD-AMB",
            "name": "Ambulatoriu Cardiologie",
            "kind": "clinic",
            "parent_id": 1,
            "phone": "+40 264 555 010",
            "address_line": "Str. Clinicilor 3-5",
            "city": "Cluj-Napoca",
            "postal_code": "400006",
            "country": "RO",
        },
        overrides,
    )


def hospital(**overrides: Any) -> Record:
    return department(
        **{
            "id": 1,
            "code": "SCJU",
            "name": "Spitalul Clinic Județean",
            "kind": "hospital",
            "parent_id": None,
            **overrides,
        }
    )


def doctor(**overrides: Any) -> Record:
    return _row(
        {
            "id": 31,
            "code": "A12345",
            "family": "Popescu",
            "given": "Ioana Maria",
            "prefix": "Dr.",
            "gender": "F",
            "specialty_code": "cardiology",
            "specialty_name": "Cardiologie",
            "department_id": 7,
            "phone": "+40 264 555 011",
            "email": "ioana.popescu@spital.example",
            "active": True,
        },
        overrides,
    )


def service(**overrides: Any) -> Record:
    return _row(
        {
            "id": 5,
            "code": "CONS-CARD",
            "name": "Consultație cardiologie",
            "specialty_code": "cardiology",
            "specialty_name": "Cardiologie",
            "department_id": 7,
            "telemedicine": True,
            "duration_min": 30,
            "active": True,
        },
        overrides,
    )


def patient(**overrides: Any) -> Record:
    return _row(
        {
            "id": 12,
            "mrn": "MRN-000012",
            "national_id": "1800101221144",
            "national_id_kind": "CNP",
            "family": "Ionescu",
            "given": "Andrei Mihai",
            "gender": "M",
            "birth_date": date(1980, 1, 1),
            "phone": "+40 722 000 111",
            "email": "andrei.ionescu@mail.example",
            "address_line": "Str. Memorandumului 28",
            "city": "Cluj-Napoca",
            "postal_code": "400114",
            "country": "RO",
            "deceased_at": None,
            "active": True,
        },
        overrides,
    )


def polish_patient(**overrides: Any) -> Record:
    return patient(
        **{
            "id": 13,
            "mrn": "MRN-000013",
            "national_id": "44051401458",
            "national_id_kind": "PESEL",
            "family": "Kowalska",
            "given": "Anna",
            "gender": "F",
            "birth_date": date(1944, 5, 14),
            "phone": None,
            "email": None,
            "address_line": None,
            "city": "Gliwice",
            "postal_code": "44-100",
            "country": "PL",
            **overrides,
        }
    )


def guardian_link(**overrides: Any) -> Record:
    mother = patient(
        id=40,
        mrn="MRN-000040",
        national_id="2850505123459",
        family="Ionescu",
        given="Elena",
        gender="F",
        birth_date=date(1985, 5, 5),
        version=2,
    )
    return _row(
        {
            "id": 3,
            "guardian_id": 40,
            "ward_id": 12,
            "relationship": "MTH",
            "valid_from": date(2012, 6, 1),
            "valid_to": date(2030, 6, 1),
            "guardian": mother,
        },
        overrides,
    )


def episode(**overrides: Any) -> Record:
    return _row(
        {
            "id": 100,
            "number": "FO-2026-000100",
            "kind": "HOSP",
            "patient_id": 12,
            "parent_id": None,
            "doctor_id": 31,
            "department_id": 7,
            "started_at": datetime(2026, 2, 10, 9, 0),
            "ended_at": datetime(2026, 2, 14, 12, 30),
            "status": "closed",
            "reason": "Dispnee de efort",
        },
        overrides,
    )


def lab_bulletin(**overrides: Any) -> Record:
    return _row(
        {
            "id": 291429,
            "number": "LR_291429",
            "patient_id": 12,
            "episode_id": 100,
            "requester_id": 31,
            "department_id": 9,
            "collected_at": datetime(2026, 2, 11, 7, 45),
            "validated_at": datetime(2026, 2, 11, 14, 2, 9),
            "validator_id": 32,
            "status": "validated",
            "access_code": "123456",
            "document_id": 501,
            "result_ids": [9001, 9002],
        },
        overrides,
    )


def lab_result(**overrides: Any) -> Record:
    return _row(
        {
            "id": 9001,
            "bulletin_id": 291429,
            "patient_id": 12,
            "analyte_code": "HGB",
            "analyte_name": "Hemoglobină",
            "value_num": 13.5,
            "value_text": None,
            "unit": "g/dL",
            "ref_low": 12.0,
            "ref_high": 16.0,
            "ref_text": None,
            "flag": "N",
            "status": "final",
            "observed_at": datetime(2026, 2, 11, 9, 12),
        },
        overrides,
    )


def paraclinical_test(**overrides: Any) -> Record:
    return _row(
        {
            "id": 77,
            "number": "ECG-2026-77",
            "kind": "ECG",
            "patient_id": 12,
            "episode_id": 100,
            "doctor_id": 31,
            "department_id": 11,
            "performed_at": datetime(2026, 2, 12, 10, 0),
            "status": "validated",
            "conclusion": "Ritm sinusal, AV 72/min.",
            "document_id": 502,
        },
        overrides,
    )


def document(**overrides: Any) -> Record:
    return _row(
        {
            "id": 501,
            "number": "DS_CU_42270000278035",
            "kind": "DISCHARGE",
            "title": "Scrisoare medicală",
            "patient_id": 12,
            "episode_id": 100,
            "author_id": 31,
            "department_id": 7,
            "created_at": datetime(2026, 2, 14, 12, 0),
            "status": "current",
            "content_type": "application/pdf",
            "size": 4,
            "sha1": "a9993e364706816aba3e25717850c26c9cd0d89d",
        },
        overrides,
    )


def document_file(**overrides: Any) -> Record:
    return document(content=b"abc\n", **overrides)


def imaging_order(**overrides: Any) -> Record:
    return _row(
        {
            "id": 4401,
            "accession_number": "ACC0004401",
            "patient_id": 12,
            "episode_id": 100,
            "referrer_id": 31,
            "department_id": 15,
            "modality": "CT",
            "body_part": "CHEST",
            "procedure": None,
            "description": "CT torace nativ",
            "ordered_at": datetime(2026, 2, 10, 11, 0),
            "performed_at": datetime(2026, 2, 10, 15, 20),
            "study_uid": "1.2.826.0.1.3680043.8.498.12345",
            "series_count": 3,
            "instance_count": 412,
            "status": "reported",
            "radiologist_id": 33,
            "report_text": "Fără leziuni pulmonare focale.",
            "report_conclusion": "Aspect normal.",
            "reported_at": datetime(2026, 2, 10, 18, 45),
            "report_document_id": 503,
        },
        overrides,
    )


def _service_columns() -> Record:
    return {
        "service_code": "CONS-CARD",
        "service_name": "Consultație cardiologie",
        "specialty_code": "cardiology",
        "specialty_name": "Cardiologie",
    }


def schedule(**overrides: Any) -> Record:
    return _row(
        {
            "id": 8,
            "doctor_id": 31,
            "service_id": 5,
            "department_id": 7,
            "valid_from": date(2026, 1, 1),
            "valid_to": date(2026, 6, 30),
            "active": True,
            **_service_columns(),
        },
        overrides,
    )


def slot(**overrides: Any) -> Record:
    return _row(
        {
            "id": 5001,
            "schedule_id": 8,
            "start_at": datetime(2026, 3, 2, 9, 0),
            "end_at": datetime(2026, 3, 2, 9, 30),
            "status": "free",
            "telemedicine": False,
            "service_id": 5,
            "doctor_id": 31,
            "department_id": 7,
            **_service_columns(),
        },
        overrides,
    )


def appointment(**overrides: Any) -> Record:
    return _row(
        {
            "id": 601,
            "patient_id": 12,
            "slot_id": 5001,
            "service_id": 5,
            "doctor_id": 31,
            "department_id": 7,
            "start_at": datetime(2026, 3, 2, 9, 0),
            "end_at": datetime(2026, 3, 2, 9, 30),
            "status": "booked",
            "telemedicine": True,
            "video_url": "https://video.spital.example/room/abc123",
            "comment": "Aduceți ECG-ul.",
            "booked_at": datetime(2026, 2, 20, 16, 5),
            **_service_columns(),
        },
        overrides,
    )


ITEMS: list[Record] = [
    {"link_id": "intro", "text": "Vă rugăm să completați chestionarul.", "type": "display"},
    {"link_id": "smoker", "text": "Fumați?", "type": "boolean", "required": True},
    {"link_id": "cigarettes", "text": "Câte țigări pe zi?", "type": "integer"},
    {"link_id": "weight", "text": "Greutate (kg)", "type": "decimal"},
    {"link_id": "diagnosed", "text": "Data diagnosticului", "type": "date"},
    {
        "link_id": "pain",
        "text": "Durere",
        "type": "choice",
        "required": True,
        "options": [
            {"code": "none", "display": "Fără"},
            {"code": "mild", "display": "Ușoară"},
            "severe",
        ],
    },
    {
        "link_id": "symptoms",
        "text": "Simptome",
        "type": "choice",
        "repeats": True,
        "options": ["cough", "fever", "fatigue"],
    },
    {"link_id": "notes", "text": "Observații", "type": "text", "required": False},
    {"link_id": "scan", "text": "Imagistică anterioară", "type": "attachment"},
]


def questionnaire(**overrides: Any) -> Record:
    return _row(
        {
            "id": 2,
            "code": "onco-intake",
            "title": "Chestionar de internare oncologie",
            "version_label": "2.1",
            "status": "active",
            "description": "Înainte de prima vizită.",
            "items": [dict(item) for item in ITEMS],
            "published_at": datetime(2025, 11, 3, 10, 0),
        },
        overrides,
    )


def questionnaire_assignment(**overrides: Any) -> Record:
    return _row(
        {
            "id": 70,
            "questionnaire_id": 2,
            "patient_id": 12,
            "sent_at": datetime(2026, 2, 1, 9, 0),
            "status": "submitted",
            "submitted_at": datetime(2026, 2, 2, 20, 15, 3),
            "answers": {
                "smoker": "yes",
                "cigarettes": 10,
                "weight": 81.5,
                "diagnosed": "2025-12-01",
                "pain": "mild",
                "symptoms": ["cough", "fatigue"],
                "notes": "Tuse seacă dimineața.",
                "scan": 503,
            },
            "questionnaire": questionnaire(),
        },
        overrides,
    )
