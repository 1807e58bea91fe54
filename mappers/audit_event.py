"""AuditEvent from a gateway ``audit_event`` row: http://hl7.org/fhir/R4/auditevent.html.

One access decision as a RESTful-operation event (``type`` audit-event-type ``rest``,
``subtype`` the FHIR restful-interaction), ``action`` R for reads and E for searches and
operations (AuditEvent.action: C R U D E), ``outcome`` 0 success or 4 minor failure (refused or
not found; ``outcomeDesc`` says which). Two agents: the caller (``who`` by the gateway's subject
identifier, ``requestor`` true) and the client application (``who`` by OAuth client id); the
gateway itself is the ``source.observer``. Entities: each patient the decision concerned
(object-role 1 Patient) and each resource seen (object-role 4 Domain Resource), each typed by its
resource type (``entity.type``, resource-types). Ids only: the
row holds no names or national IDs. Pure: no I/O.
"""

from __future__ import annotations

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
#: an HTTP 400 response": refused, not found, or the request carried out in part or not at all)
_OUTCOMES = {"allowed": "0", "denied": "4", "not-found": "4", "partial": "4", "failed": "4"}

#: For searching (``smart_auth.audit.routes``): gateway value -> FHIR code of each coded
#: element, with the code of every value the table does not name.
TYPE_CODING = (_REST["system"], _REST["code"])
ACTION_CODES = ({k: v[1] for k, v in _ACTIONS.items()}, "E")
SUBTYPE_CODES = ({k: v[0] for k, v in _ACTIONS.items()}, "operation")
OUTCOME_CODES = (dict(_OUTCOMES), "4")
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_PATIENT_ROLE = {"system": _ROLE, "code": "1", "display": "Patient"}
_RESOURCE_ROLE = {"system": _ROLE, "code": "4", "display": "Domain Resource"}
_APP_TYPE = {
    "coding": [
        {
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": "110150",
            "display": "Application",
        }
    ]
}


def from_audit_row(
    record: Any,
    patients: Iterable[int],
    *,
    subject_system: str = SUBJECT_SYSTEM,
    client_system: str = CLIENT_SYSTEM,
    observer: str = "fhir-gateway",
) -> Json:
    """The AuditEvent of one row (``id``, ``recorded``, ``action``, ``resource_type``,
    ``outcome``, ``subject``, ``client_id``, ``entity_ids``) and the patients it concerned."""
    interaction, action = _ACTIONS.get(record["action"], ("operation", "E"))
    agents: list[Json] = [
        {
            "who": _by_identifier(subject_system, record["subject"] or "anonymous"),
            "requestor": True,
        }
    ]
    if record["client_id"]:
        agents.append(
            {
                "type": _APP_TYPE,
                "who": _by_identifier(client_system, record["client_id"]),
                "requestor": False,
            }
        )
    concerned = sorted(set(patients))
    entities: list[Json] = [
        {
            "what": {"reference": f"Patient/{p}"},
            "type": _entity_type("Patient"),
            "role": _PATIENT_ROLE,
        }
        for p in concerned
    ]
    kind = record["resource_type"]
    for rid in filter(None, (record["entity_ids"] or "").split(",")):
        if kind == "Patient" and rid.isdigit() and int(rid) in concerned:
            continue  # already an entity as the patient
        entities.append(
            {
                "what": {"reference": f"{kind}/{rid}"},
                "type": _entity_type(kind),
                "role": _RESOURCE_ROLE,
            }
        )
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
        "source": {"observer": {"display": observer}},
    }
    if entities:
        event["entity"] = entities
    return event


def _entity_type(resource_type: str) -> Json:
    """AuditEvent.entity.type: the resource type (audit-entity-type binds resource-types)."""
    return {"system": RESOURCE_TYPES, "code": resource_type}


def _by_identifier(system: str, value: str) -> Json:
    return {"identifier": {"system": system, "value": value}}
