"""AuditEvent from a gateway ``audit_event`` row: http://hl7.org/fhir/R4/auditevent.html.

One access decision shaped after IHE's Basic Audit Log Patterns (BALP,
https://profiles.ihe.net/ITI/BALP/): a RESTful-operation event (``type`` audit-event-type
``rest``, ``subtype`` the FHIR restful-interaction), ``action`` R for reads, C for creations,
U for updates, E for searches and operations, ``outcome`` 0 success, 4 minor failure
(refused, not found, partial or failed; ``outcomeDesc`` says which) or 8 serious failure (an
interaction cut off in its middle, its outcome unknown). Agents: the user (``who``
by the gateway's subject identifier, ``requestor`` true), the client application (DICOM
110153 Source Role ID, ``who`` by OAuth client id) and the gateway (110152 Destination Role
ID); the gateway is also the ``source.observer`` (security-source-type 4, application server).
Entities: each patient the decision concerned (audit-entity-type 1 Person, object-role 1
Patient) and each resource seen (audit-entity-type 2 System Object, object-role 4 Domain
Resource), ``what`` a reference that resolves on this server; a DICOM study, whose UID is no
FHIR id, is named by ``what.identifier`` (system ``urn:dicom:uid``, value ``urn:oid:<uid>``)
and ``what.type``. Ids only: the row holds no names or national IDs. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .common import DEFAULT_BASE, instant

Json = dict[str, Any]

SUBJECT_SYSTEM = f"{DEFAULT_BASE}/sid/gateway-subject"
CLIENT_SYSTEM = f"{DEFAULT_BASE}/sid/oauth-client"

_REST = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_INTERACTION = "http://hl7.org/fhir/restful-interaction"
#: gateway action -> (restful-interaction code, AuditEvent.action)
_ACTIONS = {
    "read": ("read", "R"),
    "search": ("search-type", "E"),
    "$everything": ("operation", "E"),
    "create": ("create", "C"),
    "update": ("update", "U"),
}
#: access.audit's outcomes -> AuditEvent.outcome (0 success; 4 minor failure, "often equivalent to
#: an HTTP 400 response": refused, not found, or the request carried out in part or not at all;
#: 8 serious failure, "the action was not successful due to some kind of unexpected error": an
#: interaction whose process died in its middle, so that nobody knows what it did)
_OUTCOMES = {
    "allowed": "0",
    "denied": "4",
    "not-found": "4",
    "partial": "4",
    "failed": "4",
    "unknown": "8",
}

#: For searching (``smart_auth.audit.routes``): gateway value -> FHIR code of each coded
#: element, with the code of every value the table does not name.
TYPE_CODING = (_REST["system"], _REST["code"])
ACTION_CODES = ({k: v[1] for k, v in _ACTIONS.items()}, "E")
SUBTYPE_CODES = ({k: v[0] for k, v in _ACTIONS.items()}, "operation")
OUTCOME_CODES = (dict(_OUTCOMES), "4")
#: Outcomes whose entity ids name what the caller was given (and may read again).
_SEEN = frozenset({"allowed", "partial"})
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
ENTITY_TYPES = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_PERSON = {"system": ENTITY_TYPES, "code": "1", "display": "Person"}
_SYSTEM_OBJECT = {"system": ENTITY_TYPES, "code": "2", "display": "System Object"}
#: A DICOM UID (PS3.5 §9.1): digits and dots, never a FHIR ImagingStudy id of this server.
_DICOM_UID = re.compile(r"[0-9]+(?:\.[0-9]+)+")
#: FHIR ids of the resources a row may name (http://hl7.org/fhir/R4/datatypes.html#id).
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_PATIENT_ROLE = {"system": _ROLE, "code": "1", "display": "Patient"}
_RESOURCE_ROLE = {"system": _ROLE, "code": "4", "display": "Domain Resource"}
_CLIENT_TYPE = {"coding": [{"system": _DCM, "code": "110153", "display": "Source Role ID"}]}
_SERVER_TYPE = {"coding": [{"system": _DCM, "code": "110152", "display": "Destination Role ID"}]}
_SOURCE_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
    "code": "4",
    "display": "Application Server",
}


def from_audit_row(
    record: Any,
    patients: Iterable[int],
    *,
    subject_system: str = SUBJECT_SYSTEM,
    client_system: str = CLIENT_SYSTEM,
    observer: str = "fhir-gateway",
    client_name: str | None = None,
) -> Json:
    """The AuditEvent of one row (``id``, ``recorded``, ``action``, ``resource_type``,
    ``outcome``, ``subject``, ``client_id``, ``entity_ids``) and the patients it concerned;
    ``client_name``, the name the client is registered under, is the client agent's
    ``display`` (so a patient's history can say which app or partner clinic it was)."""
    interaction, action = _ACTIONS.get(record["action"], ("operation", "E"))
    client = (
        _by_identifier(client_system, record["client_id"])
        if record["client_id"]
        else {"display": "unidentified client"}
    )
    if record["client_id"] and client_name:
        client["display"] = client_name
    agents: list[Json] = [
        {
            "who": _by_identifier(subject_system, record["subject"] or "anonymous"),
            "requestor": True,
        },
        {"type": _SERVER_TYPE, "who": {"display": observer}, "requestor": False},
        {"type": _CLIENT_TYPE, "who": client, "requestor": False},
    ]
    concerned = sorted(set(patients))
    entities: list[Json] = [
        {"what": {"reference": f"Patient/{p}"}, "type": _PERSON, "role": _PATIENT_ROLE}
        for p in concerned
    ]
    kind = record["resource_type"]
    for rid in filter(None, (record["entity_ids"] or "").split(",")):
        if kind == "Patient" and rid.isdigit() and int(rid) in concerned:
            continue  # already an entity as the patient
        what = _what(kind, rid, resolves=record["outcome"] in _SEEN)
        if what is not None:
            entities.append({"what": what, "type": _SYSTEM_OBJECT, "role": _RESOURCE_ROLE})
    event: Json = {
        "resourceType": "AuditEvent",
        "id": record["id"],
        "meta": {"lastUpdated": instant(record["recorded"])},
        "type": _REST,
        "subtype": [{"system": _INTERACTION, "code": interaction}],
        "action": action,
        "recorded": instant(record["recorded"]),
        "outcome": _OUTCOMES.get(record["outcome"], "4"),
        "outcomeDesc": f"{record['outcome']}: {record['action']} {kind}",
        "agent": agents,
        "source": {"observer": {"display": observer}, "type": [_SOURCE_TYPE]},
    }
    if entities:
        event["entity"] = entities
    return event


def _what(kind: str, rid: str, *, resolves: bool) -> Json | None:
    """``entity.what`` of one id the row names: a reference to ``kind/rid`` where that is a
    FHIR resource of this server the caller saw (``resolves``); a DICOM study by its UID as an
    identifier; what was asked for but not seen (refused, not found) by its display only; None
    for an id cut short or malformed."""
    if kind == "ImagingStudy" and _DICOM_UID.fullmatch(rid):
        return {"type": kind, "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{rid}"}}
    if not _FHIR_ID.fullmatch(rid) or not kind.isalpha() or not kind[:1].isupper():
        return None
    if not resolves:
        return {"type": kind, "display": f"{kind}/{rid}"}
    return {"reference": f"{kind}/{rid}"}


def _by_identifier(system: str, value: str) -> Json:
    return {"identifier": {"system": system, "value": value}}
