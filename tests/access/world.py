"""The data the access contract is written against: who is who, what each holds, and the
credentials (see ``conftest``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient


@dataclass(frozen=True)
class Credential:
    """One credential: the headers a request carries, and the HIS patients whose data it may
    reach at most (the cells decide which of it, where)."""

    name: str
    headers: dict[str, str]
    #: whether a token was presented (401 then says ``error="invalid_token"``)
    presented: bool = True
    patients: tuple[int, ...] = ()


@dataclass
class World:
    app: Flask
    http: FlaskClient
    his_url: str
    a: int
    b: int
    guardian: int
    ward: int
    link: int
    #: HIS patient -> the Study Instance UIDs the PACS holds for them
    studies: dict[int, list[str]]
    #: study -> its (series, instance) UIDs as loaded (without the planted ones)
    instances: dict[str, list[tuple[str, str]]]
    #: one of A's studies that also holds B's instances (``planted``: their series, instance)
    mixed_study: str
    planted: list[tuple[str, str]]
    #: the DiagnosticReport and Binary the result code opens, and another of A's
    report: str
    report_binary: str
    other_report: str
    other_binary: str
    consent_a: str
    consent_b: str
    partner_id: str
    #: a registered partner nobody shared with, named by the Consents the cells create
    spare_partner: str
    credentials: dict[str, Credential]
    tokens: dict[str, str]
    #: type -> patient -> ids of that patient's resources (found with open access)
    owned: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    #: HIS patient -> MRN (the DICOM PatientID of their studies)
    mrn: dict[int, str] = field(default_factory=dict)
    #: what cells look up once (paging links, audit event ids)
    cache: dict[str, Any] = field(default_factory=dict)

    def of(self, rtype: str, patient: int) -> str:
        ids = self.owned.get(rtype, {}).get(patient, [])
        assert ids, f"patient {patient} has no {rtype} in the test HIS"
        return ids[0]

    def imaging_study(self, study_uid: str) -> str:
        """The id of the FHIR ImagingStudy of a Study Instance UID."""
        pairs = dict(x.split("=", 1) for x in self.owned["ImagingStudy-by-uid"][0])
        return pairs[study_uid]

    def study_of(self, patient: int) -> str:
        return self.studies[patient][0]

    def other_study(self) -> str:
        """A study of A's other than the mixed one, else none (a study UID nobody has)."""
        others = [uid for uid in self.studies[self.a] if uid != self.mixed_study]
        return others[0] if others else MISSING_UID


MISSING = "987654321"
MISSING_UID = "1.2.826.0.1.3680043.8.498.987654321"


def owners(resource: dict[str, Any]) -> set[int]:
    """Every patient a resource names: a Patient's own id and every ``Patient/N`` reference."""
    found: set[int] = set()
    if resource.get("resourceType") == "Patient":
        found.add(int(resource["id"]))
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and re.fullmatch(r"Patient/\d+", ref):
                found.add(int(ref.split("/")[1]))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def missing_like(value: str) -> str:
    """An id of the same shape as ``value`` that no record has (``lab-12`` -> ``lab-98...``)."""
    if re.fullmatch(r"\d+(\.\d+)+", value):
        return MISSING_UID
    prefix = re.match(r"[a-z]+-", value)
    return (prefix.group(0) if prefix else "") + MISSING
