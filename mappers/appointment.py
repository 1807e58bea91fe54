"""Appointment from a HIS ``appointment`` row: http://hl7.org/fhir/R4/appointment.html.

Status: requested -> proposed, booked, arrived, done -> fulfilled, cancelled, no-show -> noshow.
Participants: the patient (required, accepted), the doctor (attender) and the department's
Location; the doctor and the place have not accepted a request yet (``needs-action``).
``description`` is the service's name, which portals show as the appointment's title.

Telemedicine: ``appointmentType`` is v3 ActCode VR "virtual" + local ``VIDEO`` (in-person:
v2-0276 ROUTINE, as for slots). The video room travels in R5's ``virtualService``, used in R4 as
its cross-version extension (``VIRTUAL_SERVICE``, sub-extension ``address`` with a ``valueUrl``),
and in ``patientInstruction``, the R4 element for patient-facing instructions. The FHIR API
completes both for the reader (``fhir_gateway.booking.video``: the join link with the reader's
token; a partner gets neither). ``comment`` keeps the HIS comment.

``proposed``: the proposed Appointment an ``Appointment/$find`` answers for one free slot (IHE
Scheduling ITI-115): status ``proposed``, the slot, its times, service, specialty and visit type,
and the doctor and place, who have not accepted yet.
"""

from __future__ import annotations

from .codes import APPOINTMENT_STATUS_MAP, ATTENDER, ROUTINE_VISIT
from .common import Json, MapContext, Record, instant, meta
from .ids import reference, resource_id

#: R5 Appointment.virtualService as an R4 extension (FHIR cross-version extensions).
VIRTUAL_SERVICE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService"


def virtual_service(address: str, channel: Json | None = None) -> Json:
    """The ``virtualService`` extension of a video room's address (and its channel type)."""
    parts: list[Json] = []
    if channel is not None:
        parts.append({"url": "channelType", "valueCoding": channel})
    parts.append({"url": "address", "valueUrl": address})
    return {"url": VIRTUAL_SERVICE, "extension": parts}


def proposed(record: Record, ctx: MapContext) -> Json:
    """The proposed Appointment of one free slot row (as the Slot source reads it)."""
    codes = ctx.codes
    return {
        "resourceType": "Appointment",
        "status": "proposed",
        "serviceType": codes.service(record["service_code"], record["service_name"]),
        "specialty": codes.specialty(record["specialty_code"], record["specialty_name"]),
        "appointmentType": codes.video_visit if record["telemedicine"] else ROUTINE_VISIT,
        "description": record["service_name"],
        "start": instant(record["start_at"]),
        "end": instant(record["end_at"]),
        "slot": [reference("Slot", record["id"])],
        "participant": [
            {
                "type": ATTENDER,
                "actor": reference("Practitioner", record["doctor_id"]),
                "required": "required",
                "status": "needs-action",
            },
            {
                "actor": reference("Location", record["department_id"]),
                "required": "required",
                "status": "needs-action",
            },
        ],
    }


def from_appointment(record: Record, ctx: MapContext) -> Json:
    """The Appointment of one appointment row."""
    codes = ctx.codes
    status = record["status"]
    telemedicine = record["telemedicine"]
    resource: Json = {
        "resourceType": "Appointment",
        "id": resource_id("Appointment", "appointment", record["id"]),
        "meta": meta(record),
        "status": APPOINTMENT_STATUS_MAP[status],
        "serviceType": codes.service(record["service_code"], record["service_name"]),
        "specialty": codes.specialty(record["specialty_code"], record["specialty_name"]),
    }
    resource["appointmentType"] = codes.video_visit if telemedicine else ROUTINE_VISIT
    resource["description"] = record["service_name"]
    resource["start"] = instant(record["start_at"])
    resource["end"] = instant(record["end_at"])
    slot_id = record.get("slot_id")
    if slot_id is not None:
        resource["slot"] = [reference("Slot", slot_id)]
    resource["created"] = instant(record["booked_at"])
    comment = record.get("comment")
    if comment is not None:
        resource["comment"] = comment
    video_url = record.get("video_url")
    if telemedicine and video_url is not None:
        resource["extension"] = [virtual_service(video_url)]
        resource["patientInstruction"] = f"Join the video consultation at {video_url}"
    staff = "needs-action" if status == "requested" else "accepted"
    resource["participant"] = [
        {
            "actor": reference("Patient", record["patient_id"]),
            "required": "required",
            "status": "accepted",
        },
        {
            "type": ATTENDER,
            "actor": reference("Practitioner", record["doctor_id"]),
            "required": "required",
            "status": staff,
        },
        {
            "actor": reference("Location", record["department_id"]),
            "required": "required",
            "status": staff,
        },
    ]
    return resource
