"""Encounter from a HIS ``episode`` row: http://hl7.org/fhir/R4/encounter.html.

* ``class`` (v3 ActCode): AMB -> AMB; DAY (day hospitalisation) -> SS "short stay"; HOSP ->
  IMP; CONS (a consultation given to an admitted patient) -> IMP as well: the patient is an
  inpatient, and ``partOf`` links the consultation to its admission.
* ``type``: the HIS episode kind (local code, English display), with SNOMED CT 32485007
  "Hospital admission" for HOSP and 11429006 "Consultation" for CONS.
* ``status``: planned/open/closed/cancelled -> planned/in-progress/finished/cancelled.
* the responsible doctor is the attender (``ATND``); the department is both ``location`` and
  ``serviceProvider``.
"""

from __future__ import annotations

from .codes import ATTENDER, EPISODE_KINDS, EPISODE_STATUS
from .common import Json, MapContext, Record, identifier, meta, period
from .ids import reference, resource_id


def from_episode(record: Record, ctx: MapContext) -> Json:
    """The Encounter of one episode row."""
    kind = record["kind"]
    department_id = record["department_id"]
    resource: Json = {
        "resourceType": "Encounter",
        "id": resource_id("Encounter", "episode", record["id"]),
        "meta": meta(record),
        "identifier": identifier(ctx.systems.episode, record["number"]),
        "status": EPISODE_STATUS[record["status"]],
        "class": EPISODE_KINDS[kind][1],
        "type": ctx.codes.encounter_type[kind],
        "subject": reference("Patient", record["patient_id"]),
        "participant": [
            {"type": ATTENDER, "individual": reference("Practitioner", record["doctor_id"])}
        ],
        "period": period(record["started_at"], record.get("ended_at")),
    }
    reason = record.get("reason")
    if reason is not None:
        resource["reasonCode"] = [{"text": reason}]
    resource["location"] = [{"location": reference("Location", department_id)}]
    resource["serviceProvider"] = reference("Organization", department_id)
    parent_id = record.get("parent_id")
    if parent_id is not None:
        resource["partOf"] = reference("Encounter", parent_id)
    return resource
