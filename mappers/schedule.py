"""Schedule from a HIS ``schedule`` row: http://hl7.org/fhir/R4/schedule.html.

A doctor's availability for one service at one department between two dates. The connector adds
the service's and the specialty's codes and names. Actors: the Practitioner, the Location and
the HealthcareService (all three are allowed by Schedule.actor).
"""

from __future__ import annotations

from .common import Json, MapContext, Record, meta, period
from .ids import reference, resource_id


def from_schedule(record: Record, ctx: MapContext) -> Json:
    """The Schedule of one schedule row."""
    codes = ctx.codes
    return {
        "resourceType": "Schedule",
        "id": resource_id("Schedule", "schedule", record["id"]),
        "meta": meta(record),
        "active": record["active"],
        "serviceType": codes.service(record["service_code"], record["service_name"]),
        "specialty": codes.specialty(record["specialty_code"], record["specialty_name"]),
        "actor": [
            reference("Practitioner", record["doctor_id"]),
            reference("Location", record["department_id"]),
            reference("HealthcareService", record["service_id"]),
        ],
        "planningHorizon": period(record["valid_from"], record["valid_to"]),
    }
