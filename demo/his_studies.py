"""Fill the PACS with synthetic studies matching the HIS's imaging orders (demo and tests).

Every ``imaging_order`` whose images the PACS should hold becomes a study with its Study
Instance UID, accession number, modality, body part, description, date, referring doctor and
series and instance counts, for the order's patient. The DICOM PatientID is the patient's MRN
or national ID (``patient_id_source``), the same mapping the access checks use to tie a study
to a patient. Rows that cannot become a study are reported, never fatal.

Which orders are loaded: those whose images the PACS holds by the HIS's convention (the HIS
generator's ``images_in_pacs``): status ``performed`` or ``reported`` with a study UID and a
``series_count``. A ``reported`` order whose counts are NULL has a report but no images yet,
and is skipped, as is one whose ``instance_count`` is 0. A missing ``instance_count`` next to a
``series_count`` gets one image per series.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from demo.synthetic import Patient, StudySpec, build_study
from dicomweb.backends.base import PacsBackend
from dicomweb.backends.settings import PatientIdSource
from fhir_gateway.his.schema import doctor, imaging_order, patient

_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")
IMAGED_STATUSES = ("performed", "reported")
_SEX = {"M": "M", "F": "F"}  # HIS U (unknown) -> DICOM O (other), PS3.3 §C.7.1.1


@dataclass
class LoadReport:
    """What :func:`load_his_studies` did."""

    studies: int = 0
    instances: int = 0
    skipped_present: int = 0
    skipped_no_images: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (accession, reason)


def images_in_pacs(row: Any) -> bool:
    """Whether the HIS says the PACS holds the order's images (see the module docstring)."""
    return (
        row.status in IMAGED_STATUSES
        and row.study_uid is not None
        and row.series_count is not None
        and row.instance_count != 0
    )


def dicom_patient_id(row: Any, source: PatientIdSource) -> str:
    """The DICOM PatientID of a HIS patient row: its MRN or its national ID (CNP, PESEL)."""
    value = row.national_id if source == "national_id" else row.mrn
    return str(value)


def _person_name(family: str | None, given: str | None, prefix: str | None = None) -> str:
    """PN ``Family^Given^Middle^Prefix`` (PS3.5 §6.2.1.1)."""
    if not family:
        return ""
    return f"{family}^{given or ''}^^{prefix}" if prefix else f"{family}^{given or ''}"


def order_rows(his_engine: Engine, *, limit: int | None = None) -> Iterator[Any]:
    """Imaging orders that have a Study Instance UID, with their patient and referrer."""
    o, p, d = imaging_order.c, patient.c, doctor.c
    stmt = (
        select(
            o.accession_number, o.modality, o.body_part, o.description, o.ordered_at,
            o.performed_at, o.study_uid, o.series_count, o.instance_count, o.status,
            p.mrn, p.national_id, p.family, p.given, p.gender, p.birth_date,
            d.family.label("ref_family"), d.given.label("ref_given"),
            d.prefix.label("ref_prefix"),
        )
        .join(patient, p.id == o.patient_id)
        .outerjoin(doctor, d.id == o.referrer_id)
        .where(o.study_uid.is_not(None))
        .order_by(o.id)
    )  # fmt: skip
    if limit is not None:
        stmt = stmt.limit(limit)
    with his_engine.connect() as conn:
        yield from conn.execute(stmt)


def study_spec(
    row: Any,
    *,
    patient_id_source: PatientIdSource = "mrn",
    patient_id_issuer: str = "",
    max_size: int = 128,
    seed: int = 0,
) -> StudySpec:
    """The synthetic study of one order row; ``ValueError`` when the row cannot be one."""
    uid = str(row.study_uid).strip()
    if len(uid) > 64 or not _UID.fullmatch(uid):
        raise ValueError("study_uid is not a valid UID (PS3.5 §9.1)")
    birth = row.birth_date if isinstance(row.birth_date, date) else date(1970, 1, 1)
    when = row.performed_at or row.ordered_at
    if not isinstance(when, datetime):
        raise ValueError("no performed_at or ordered_at date")
    series = max(1, int(row.series_count or 1))
    instances = series if row.instance_count is None else int(row.instance_count)
    return StudySpec(
        study_uid=uid,
        patient=Patient(
            patient_id=dicom_patient_id(row, patient_id_source),
            family=row.family,
            given=row.given,
            birth_date=birth,
            sex=_SEX.get(row.gender, "O"),
            issuer=patient_id_issuer,
        ),
        accession_number=row.accession_number,
        modality=(row.modality or "OT").strip().upper(),
        performed_at=when,
        description=row.description or "",
        body_part=(row.body_part or "").upper(),
        series_count=series,
        instance_count=instances,
        referring_physician=_person_name(row.ref_family, row.ref_given, row.ref_prefix),
        max_size=max_size,
        seed=seed,
    )


def load_his_studies(
    his_engine: Engine,
    pacs: PacsBackend,
    *,
    patient_id_source: PatientIdSource = "mrn",
    patient_id_issuer: str = "",
    max_size: int = 128,
    seed: int = 0,
    limit: int | None = None,
    skip_present: bool = True,
) -> LoadReport:
    """Store one synthetic study per HIS imaging order with a ``study_uid``.

    ``max_size`` caps Rows/Columns so the demo loads in seconds; ``skip_present`` asks the PACS
    first (C-FIND) and skips studies it already holds completely, so loading again is cheap.
    Each study is sent with one :meth:`PacsBackend.store` call (one association, reused from
    the pool for the next study of the same kind).
    """
    report = LoadReport()
    for row in order_rows(his_engine, limit=limit):
        if not images_in_pacs(row):
            report.skipped_no_images += 1
            continue
        try:
            spec = study_spec(
                row,
                patient_id_source=patient_id_source,
                patient_id_issuer=patient_id_issuer,
                max_size=max_size,
                seed=seed,
            )
        except (ValueError, TypeError) as exc:
            report.failures.append((str(row.accession_number), str(exc)))
            continue
        if skip_present and _present(pacs, spec):
            report.skipped_present += 1
            continue
        result = pacs.store(build_study(spec))
        if result.failures:
            first = result.failures[0]
            reason = f"{len(result.failures)} instance(s) refused, e.g. 0x{first.status:04X}"
            report.failures.append((spec.accession_number, reason))
        report.studies += 1
        report.instances += len(result.stored) + len(result.warnings)
    return report


def _present(pacs: PacsBackend, spec: StudySpec) -> bool:
    found = pacs.find_studies({"StudyInstanceUID": spec.study_uid})
    if not found:
        return False
    count = str(found[0].get("NumberOfStudyRelatedInstances", "") or "0")
    return count.isdigit() and int(count) >= spec.instance_count
