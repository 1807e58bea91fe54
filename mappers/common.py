"""What every mapper shares: the mapping context, the error type and FHIR datatype builders.

Mappers are pure functions ``(record, MapContext) -> dict``: no Flask, no database, no I/O
(ARCHITECTURE boundary 2). Their output is a JSON-ready dict of str, int, float, bool, list and
dict, built directly (no pydantic on the hot path), and it is **read-only**: constant parts
(CodeableConcepts, category lists, identifier types) are shared between all the resources a
process returns, so mutating one output would corrupt others. Copy before changing anything.

Datatypes: http://hl7.org/fhir/R4/datatypes.html. HIS timestamps are naive UTC; FHIR ``instant``
needs a zone, so every timestamp is written ISO 8601 with seconds and a ``Z``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Final

from .codes import MRN_TYPE, NATIONAL_ID_TYPE
from .concepts import LocalCodes, local_codes
from .ids import resource_id

Record = Mapping[str, Any]
Json = dict[str, Any]

DEFAULT_BASE: Final = "https://his.hospital.example/fhir"


@dataclass(frozen=True)
class IdentifierSystems:
    """Identifier namespaces and code system bases: the deployment's own URIs.

    Defaults sit under ``DEFAULT_BASE``; ``from_base`` moves them all under the hospital's base
    (``FHIR_GATEWAY_IDENTIFIER_BASE``). Identifier systems: http://hl7.org/fhir/R4/identifier-registry.html.
    """

    cnp: str = f"{DEFAULT_BASE}/sid/cnp"  # Romanian CNP
    pesel: str = "urn:oid:2.16.840.1.113883.3.4424.1.1.616"  # Polish PESEL (P1's OID)
    mrn: str = f"{DEFAULT_BASE}/sid/mrn"
    episode: str = f"{DEFAULT_BASE}/sid/episode-number"
    lab_bulletin: str = f"{DEFAULT_BASE}/sid/lab-bulletin"
    paraclinical: str = f"{DEFAULT_BASE}/sid/paraclinical-test"
    document: str = f"{DEFAULT_BASE}/sid/document-number"
    accession: str = f"{DEFAULT_BASE}/sid/accession-number"
    doctor_stamp: str = f"{DEFAULT_BASE}/sid/doctor-stamp"
    department: str = f"{DEFAULT_BASE}/sid/department"
    service: str = f"{DEFAULT_BASE}/sid/service"
    #: Canonical base of Questionnaire.url: f"{questionnaire}/{code}".
    questionnaire: str = f"{DEFAULT_BASE}/Questionnaire"
    #: Base of the local code systems: f"{local_codes}/analyte", ... (see mappers.concepts).
    local_codes: str = f"{DEFAULT_BASE}/CodeSystem"

    @classmethod
    def from_base(cls, base: str, **overrides: str) -> IdentifierSystems:
        """Every default moved from ``DEFAULT_BASE`` to ``base``, then ``overrides`` applied."""
        base = base.rstrip("/")
        values = {
            f.name: f.default.replace(DEFAULT_BASE, base, 1)
            for f in fields(cls)
            if isinstance(f.default, str) and f.default.startswith(DEFAULT_BASE)
        }
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class MapContext:
    """What a mapper needs besides the record. Create one per deployment and reuse it."""

    systems: IdentifierSystems = IdentifierSystems()

    @cached_property
    def codes(self) -> LocalCodes:
        """The deployment's local concepts (built once per code system base)."""
        return local_codes(self.systems.local_codes)


class InvalidRecord(Exception):
    """A HIS record that cannot become a FHIR resource.

    ``problems`` name fields and reasons ("birth_date: Not a valid date."), never values:
    values can be patient data, and this error ends up in logs and OperationOutcomes.
    """

    def __init__(self, record_kind: str, record_id: int | None, problems: list[str]) -> None:
        self.record_kind = record_kind
        self.record_id = record_id
        self.problems = list(problems)
        super().__init__(f"invalid {record_kind} record {record_id}: {'; '.join(self.problems)}")


def record_id(record: Any) -> int | None:
    """The HIS key of a record, if it has a sane one (for error reports)."""
    value = record.get("id") if isinstance(record, Mapping) else None
    return value if type(value) is int else None


def refuse(record_kind: str, record: Record, *problems: str) -> InvalidRecord:
    """An InvalidRecord for a rule a mapper checks itself (the caller raises it)."""
    return InvalidRecord(record_kind, record_id(record), list(problems))


# --- Datatypes ----------------------------------------------------------------------------------


def instant(value: datetime) -> str:
    """A FHIR instant/dateTime: ISO 8601 with seconds, in UTC, with ``Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return f"{value.isoformat()}Z"


def meta(record: Record) -> Json:
    """Resource.meta from the audit columns (http://hl7.org/fhir/R4/resource.html#Meta)."""
    return {"versionId": str(record["version"]), "lastUpdated": instant(record["updated_at"])}


def composite_meta(record: Record, *related: Record) -> Json:
    """Resource.meta of a resource whose content also comes from ``related`` rows.

    ``versionId`` joins the versions ("3.7", a valid FHIR id) and ``lastUpdated`` is the latest
    change, so the version changes whenever any of the rows does. Related rows without audit
    columns are left out.
    """
    rows = [
        record,
        *(
            row
            for row in related
            if row.get("version") is not None and row.get("updated_at") is not None
        ),
    ]
    return {
        "versionId": ".".join(str(row["version"]) for row in rows),
        "lastUpdated": instant(max(row["updated_at"] for row in rows)),
    }


def period(start: Any, end: Any) -> Json:
    """A Period from datetimes or dates (either may be None, not both)."""
    out: Json = {}
    if start is not None:
        out["start"] = instant(start) if isinstance(start, datetime) else start.isoformat()
    if end is not None:
        out["end"] = instant(end) if isinstance(end, datetime) else end.isoformat()
    return out


def official_name(family: str, given: str, prefix: str | None = None) -> list[Json]:
    """HumanName list: the HIS keeps one given-names string; FHIR wants one entry per name."""
    name: Json = {"use": "official", "family": family, "given": given.split() or [given]}
    if prefix is not None:
        name["prefix"] = [prefix]
    return [name]


def telecom(record: Record, use: str | None = None) -> list[Json] | None:
    """ContactPoints from the ``phone`` and ``email`` columns, or None if there are none."""
    phone, email = record.get("phone"), record.get("email")
    if phone is None and email is None:
        return None
    return [
        _contact_point(system, value, use)
        for system, value in (("phone", phone), ("email", email))
        if value is not None
    ]


def _contact_point(system: str, value: str, use: str | None) -> Json:
    point: Json = {"system": system, "value": value}
    if use is not None:
        point["use"] = use
    return point


def address(record: Record, use: str | None = None) -> list[Json] | None:
    """An Address list from the address columns, or None if all are empty."""
    line, city = record.get("address_line"), record.get("city")
    postal, country = record.get("postal_code"), record.get("country")
    if line is None and city is None and postal is None and country is None:
        return None
    out: Json = {"use": use} if use else {}
    if line is not None:
        out["line"] = [line]
    if city is not None:
        out["city"] = city
    if postal is not None:
        out["postalCode"] = postal
    if country is not None:
        out["country"] = country  # ISO 3166 alpha-2, as Address.country recommends
    return [out]


def national_identifier(person: Record, systems: IdentifierSystems) -> Json:
    """The CNP or PESEL of a patient row, as an official NI identifier."""
    system = systems.cnp if person["national_id_kind"] == "CNP" else systems.pesel
    return {
        "use": "official",
        "type": NATIONAL_ID_TYPE,
        "system": system,
        "value": person["national_id"],
    }


def mrn_identifier(person: Record, systems: IdentifierSystems) -> Json:
    """The hospital's medical record number of a patient row (MR, use usual)."""
    return {"use": "usual", "type": MRN_TYPE, "system": systems.mrn, "value": person["mrn"]}


def identifier(system: str, value: str, type_: Json | None = None) -> list[Json]:
    """A one-identifier list (the HIS number of a row)."""
    if type_ is None:
        return [{"system": system, "value": value}]
    return [{"type": type_, "system": system, "value": value}]


def binary_form(
    document_id: int | None, title: str, content_type: str = "application/pdf"
) -> list[Json] | None:
    """DiagnosticReport.presentedForm pointing at a document's file (Binary/<document id>)."""
    if document_id is None:
        return None
    return [
        {
            "contentType": content_type,
            "url": f"Binary/{resource_id('Binary', 'document_file', document_id)}",
            "title": title,
        }
    ]
