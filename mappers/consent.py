"""Consent from a gateway ``share`` row: http://hl7.org/fhir/R4/consent.html.

A share is a patient's permission for one partner clinic to read their record: ``scope``
patient-privacy (consentscope), ``category`` LOINC 59284-0 "Patient Consent", the patient as
``patient`` and ``performer``, the partner (an OAuth client, named by its ``client_id``) as
``organization`` and as the recipient actor (v3 ParticipationType IRCP), ``policyRule`` v3
ActCode OPTIN (invariant ppc-1 wants a policy or a rule), ``provision`` permit over ``period``
from the grant to the withdrawal. A withdrawn share is ``status`` inactive. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from .common import DEFAULT_BASE, instant, period
from .ids import reference

Json = dict[str, Any]

#: Identifier.system of the gateway's OAuth client ids (partner clinics).
CLIENT_SYSTEM = f"{DEFAULT_BASE}/sid/oauth-client"

SCOPE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
            "display": "Privacy Consent",
        }
    ]
}
CATEGORY = {
    "coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]
}
POLICY_RULE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "OPTIN",
            "display": "opt-in",
        }
    ]
}
RECIPIENT = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP",
            "display": "information recipient",
        }
    ]
}


def partner(client_id: str, client_system: str = CLIENT_SYSTEM) -> Json:
    """A logical reference to the partner clinic by its OAuth client id."""
    return {"identifier": {"system": client_system, "value": client_id}}


def from_share(record: Any, client_system: str = CLIENT_SYSTEM) -> Json:
    """The Consent of one share (``id``, ``client_id``, ``his_patient_id``, ``active``,
    ``created``, ``withdrawn_at``)."""
    patient = reference("Patient", record["his_patient_id"])
    changed = record["withdrawn_at"] or record["created"]
    org = partner(record["client_id"], client_system)
    return {
        "resourceType": "Consent",
        "id": str(record["id"]),
        "meta": {"lastUpdated": instant(changed)},
        "status": "active" if record["active"] else "inactive",
        "scope": SCOPE,
        "category": [CATEGORY],
        "patient": patient,
        "dateTime": instant(record["created"]),
        "performer": [patient],
        "organization": [org],
        "policyRule": POLICY_RULE,
        "provision": {
            "type": "permit",
            "period": period(record["created"], record["withdrawn_at"]),
            "actor": [{"role": RECIPIENT, "reference": org}],
        },
    }


def partner_of(resource: Any, client_system: str = CLIENT_SYSTEM) -> str | None:
    """The partner's client id a Consent names (``organization`` or a provision actor)."""
    if not isinstance(resource, dict):
        return None
    candidates = list(resource.get("organization") or [])
    provision = resource.get("provision") or {}
    if isinstance(provision, dict):
        for actor in provision.get("actor") or []:
            if isinstance(actor, dict):
                candidates.append(actor.get("reference"))
    for ref in candidates:
        ident = ref.get("identifier") if isinstance(ref, dict) else None
        if isinstance(ident, dict) and ident.get("system") in (client_system, None):
            value = ident.get("value")
            if isinstance(value, str) and 0 < len(value) <= 128:
                return value
    return None
