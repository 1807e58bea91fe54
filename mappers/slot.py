"""Slot from a HIS ``slot`` row: http://hl7.org/fhir/R4/slot.html.

Status: free -> free, busy -> busy, blocked -> busy-unavailable. The connector adds the
schedule's service, specialty, doctor and department.

Telemedicine: R4 has no element for "by video" and v2-0276 (the preferred appointment-type codes)
has no video code, so a video slot's ``appointmentType`` is v3 ActCode ``VR`` "virtual" (the
R4 encounter class for care given at a distance) plus the local code ``VIDEO``
(``{local_codes}/appointment-type``); an in-person slot's is v2-0276 ``ROUTINE`` ("default if not
valued"). Plain codings, no extension: clients tell the two apart with ``appointment-type``
searches or by reading one element.
"""

from __future__ import annotations

from .codes import ROUTINE_VISIT, SLOT_STATUS_MAP
from .common import Json, MapContext, Record, instant, meta
from .ids import reference, resource_id


def from_slot(record: Record, ctx: MapContext) -> Json:
    """The Slot of one slot row."""
    codes = ctx.codes
    resource: Json = {
        "resourceType": "Slot",
        "id": resource_id("Slot", "slot", record["id"]),
        "meta": meta(record),
        "serviceType": codes.service(record["service_code"], record["service_name"]),
        "specialty": codes.specialty(record["specialty_code"], record["specialty_name"]),
    }
    resource["appointmentType"] = codes.video_visit if record["telemedicine"] else ROUTINE_VISIT
    resource["schedule"] = reference("Schedule", record["schedule_id"])
    resource["status"] = SLOT_STATUS_MAP[record["status"]]
    resource["start"] = instant(record["start_at"])
    resource["end"] = instant(record["end_at"])
    return resource
