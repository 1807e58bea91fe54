"""Appointment from a HIS ``appointment`` row: http://hl7.org/fhir/R4/appointment.html.

Status: requested -> proposed, booked, arrived, done -> fulfilled, cancelled, no-show -> noshow.
Participants: the patient (required, accepted), the doctor (attender) and the department's
Location; the doctor and the place have not accepted a request yet (``needs-action``).
``description`` is the service's name, which portals show as the appointment's title.

Telemedicine (R4 has no virtual-service element; R5's ``virtualService`` does not exist here):
``appointmentType`` is v3 ActCode VR "virtual" + local ``VIDEO`` (in-person: v2-0276 ROUTINE, as
for slots), and the video link goes to ``patientInstruction``, the R4 element for
patient-facing instructions, since the link is what the patient needs to attend. ``comment``
keeps the HIS comment.
"""

from __future__ import annotations

from .codes import APPOINTMENT_STATUS_MAP, ATTENDER, ROUTINE_VISIT
from .common import Json, MapContext, Record, instant, meta
from .ids import reference, resource_id


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
