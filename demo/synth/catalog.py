"""The hospital's organisation: departments, specialties and bookable services.

Texts are pairs ``(Romanian, Polish)``; :func:`tr` picks one. The organisation speaks the first
locale of the generator's ``locale_mix``; patients' clinical texts speak the patient's own.
"""

from __future__ import annotations

from dataclasses import dataclass

Text = tuple[str, str]


def tr(text: Text, locale: str) -> str:
    """The ``locale`` ('ro' or 'pl') half of a ``(Romanian, Polish)`` text pair."""
    return text[0] if locale == "ro" else text[1]


@dataclass(frozen=True)
class Hospital:
    """The hospital itself (the root department) as each locale names and places it."""

    name: Text
    address_line: Text
    city: Text
    postal_code: Text
    phone: Text


HOSPITAL = Hospital(
    name=(
        "Spitalul Clinic Județean de Urgență „Sfânta Parascheva”",
        "Szpital Wojewódzki im. św. Łukasza",
    ),
    address_line=("Str. Clinicilor nr. 3-5", "ul. Wybrzeże Armii Krajowej 15"),
    city=("Cluj-Napoca", "Gliwice"),
    postal_code=("400006", "44-102"),
    phone=("+40 264 597 852", "+48 32 278 88 88"),
)


@dataclass(frozen=True)
class Department:
    """A department under the hospital; ``abbr`` appears in document numbers (DS_CA_...)."""

    code: str
    abbr: str
    kind: str  # clinic | ward | laboratory | imaging | functional
    name: Text


DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "AMBU",
        "AM",
        "clinic",
        ("Ambulatoriul integrat de specialitate", "Przychodnia Specjalistyczna"),
    ),
    Department("TELE", "TM", "clinic", ("Cabinet de telemedicină", "Poradnia Teleporad")),
    Department("CARD", "CA", "ward", ("Secția Cardiologie", "Oddział Kardiologii")),
    Department("MINT", "MI", "ward", ("Secția Medicină Internă", "Oddział Chorób Wewnętrznych")),
    Department("PED", "PE", "ward", ("Secția Pediatrie", "Oddział Pediatrii")),
    Department("NEUR", "NE", "ward", ("Secția Neurologie", "Oddział Neurologii")),
    Department("ONCO", "ON", "ward", ("Secția Oncologie Medicală", "Oddział Onkologii Klinicznej")),
    Department("SURG", "CH", "ward", ("Secția Chirurgie Generală", "Oddział Chirurgii Ogólnej")),
    Department(
        "OBGY", "OG", "ward", ("Secția Obstetrică-Ginecologie", "Oddział Ginekologii i Położnictwa")
    ),
    Department("DAYH", "SZ", "ward", ("Compartiment Spitalizare de Zi", "Oddział Dzienny")),
    Department(
        "LAB",
        "LA",
        "laboratory",
        ("Laboratorul de Analize Medicale", "Zakład Diagnostyki Laboratoryjnej"),
    ),
    Department(
        "RAD",
        "RI",
        "imaging",
        (
            "Laboratorul de Radiologie și Imagistică Medicală",
            "Zakład Radiologii i Diagnostyki Obrazowej",
        ),
    ),
    Department(
        "FUNC",
        "EF",
        "functional",
        ("Compartimentul de Explorări Funcționale", "Pracownia Diagnostyki Czynnościowej"),
    ),
)


@dataclass(frozen=True)
class Specialty:
    """A medical specialty: where its doctors work and how many of them there are.

    ``clinical`` specialties see patients in episodes of care; ``telemedicine`` ones also offer
    video consultations; ``tests`` are the paraclinical test kinds they order.
    """

    code: str
    abbr: str
    name: Text
    department: str
    doctors: int
    clinical: bool = True
    telemedicine: bool = False
    tests: tuple[str, ...] = ()


SPECIALTIES: tuple[Specialty, ...] = (
    Specialty(
        "cardiology",
        "CARD",
        ("Cardiologie", "Kardiologia"),
        "CARD",
        4,
        telemedicine=True,
        tests=("ECG", "ECHO", "HOLTER"),
    ),
    Specialty(
        "internal_medicine",
        "MI",
        ("Medicină internă", "Choroby wewnętrzne"),
        "MINT",
        4,
        telemedicine=True,
        tests=("ECG",),
    ),
    Specialty("paediatrics", "PED", ("Pediatrie", "Pediatria"), "PED", 3, telemedicine=True),
    Specialty(
        "neurology",
        "NEUR",
        ("Neurologie", "Neurologia"),
        "NEUR",
        3,
        telemedicine=True,
        tests=("EEG", "EMG"),
    ),
    Specialty(
        "oncology",
        "ONC",
        ("Oncologie medicală", "Onkologia kliniczna"),
        "ONCO",
        4,
        telemedicine=True,
    ),
    Specialty("general_surgery", "CHIR", ("Chirurgie generală", "Chirurgia ogólna"), "SURG", 3),
    Specialty(
        "obstetrics_gynaecology",
        "OG",
        ("Obstetrică-ginecologie", "Położnictwo i ginekologia"),
        "OBGY",
        2,
    ),
    Specialty("pulmonology", "PNEU", ("Pneumologie", "Choroby płuc"), "MINT", 2, tests=("SPIRO",)),
    Specialty(
        "endocrinology", "ENDO", ("Endocrinologie", "Endokrynologia"), "MINT", 2, telemedicine=True
    ),
    Specialty("gastroenterology", "GAST", ("Gastroenterologie", "Gastroenterologia"), "MINT", 2),
    Specialty("nephrology", "NEFR", ("Nefrologie", "Nefrologia"), "MINT", 1),
    Specialty("haematology", "HEM", ("Hematologie", "Hematologia"), "MINT", 1),
    Specialty(
        "otorhinolaryngology",
        "ORL",
        ("Otorinolaringologie", "Otorynolaryngologia"),
        "AMBU",
        2,
        tests=("AUDIO",),
    ),
    Specialty(
        "radiology",
        "RAD",
        ("Radiologie și imagistică medicală", "Radiologia i diagnostyka obrazowa"),
        "RAD",
        4,
        clinical=False,
    ),
    Specialty(
        "laboratory_medicine",
        "LAB",
        ("Medicină de laborator", "Diagnostyka laboratoryjna"),
        "LAB",
        3,
        clinical=False,
    ),
)

SPECIALTY_BY_CODE = {specialty.code: specialty for specialty in SPECIALTIES}
CLINICAL = tuple(specialty.code for specialty in SPECIALTIES if specialty.clinical)


@dataclass(frozen=True)
class Service:
    """A bookable service; ``specialty`` doctors provide it in ``department``."""

    code: str
    name: Text
    specialty: str
    department: str
    duration_min: int
    telemedicine: bool = False


def _consultations() -> tuple[Service, ...]:
    services: list[Service] = []
    for spec in SPECIALTIES:
        if not spec.clinical:
            continue
        ro, pl = spec.name
        duration = 30 if spec.code in ("oncology", "neurology", "paediatrics") else 20
        services.append(
            Service(
                f"CONS-{spec.abbr}",
                (f"Consultație {ro.lower()}", f"Konsultacja – {pl.lower()}"),
                spec.code,
                "AMBU",
                duration,
            )
        )
        if spec.telemedicine:
            services.append(
                Service(
                    f"TELE-{spec.abbr}",
                    (f"Teleconsultație {ro.lower()}", f"Teleporada – {pl.lower()}"),
                    spec.code,
                    "TELE",
                    20,
                    telemedicine=True,
                )
            )
    return tuple(services)


PROCEDURES: tuple[Service, ...] = (
    Service(
        "PROC-ECG",
        ("Electrocardiogramă (EKG)", "Elektrokardiogram (EKG)"),
        "cardiology",
        "FUNC",
        15,
    ),
    Service("PROC-ECHO", ("Ecocardiografie", "Echokardiografia"), "cardiology", "FUNC", 30),
    Service("PROC-SPIRO", ("Spirometrie", "Spirometria"), "pulmonology", "FUNC", 20),
    Service("PROC-USG", ("Ecografie abdominală", "USG jamy brzusznej"), "radiology", "RAD", 20),
    Service("PROC-MMG", ("Mamografie", "Mammografia"), "radiology", "RAD", 15),
)

SERVICES: tuple[Service, ...] = _consultations() + PROCEDURES

# Specialties a hospital admission (HOSP) or day hospitalisation (DAY) of a specialty goes to.
WARD_OF = {spec.code: spec.department for spec in SPECIALTIES}
WARD_OF["otorhinolaryngology"] = "SURG"
