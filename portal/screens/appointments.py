"""Appointments (F19) and video consultations (F20): the active patient's appointments
(upcoming or all, filtered by type, specialty and service), booking through the gateway's
``Appointment/$find`` and ``Appointment/$book`` (choose a service or a specialty, see the doctors
and their free times, confirm), cancelling and moving within the gateway's rules, and the link
that joins a video consultation around its time."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _  # type: ignore[import-untyped]
from flask_babel import lazy_gettext  # type: ignore[import-untyped]

from portal.client import GatewayError
from portal.screens import Tile
from portal.web import active, matches, read, search, searches, send, signed_in

blueprint = Blueprint("appointments", __name__)
TILE = Tile(
    "appointments.upcoming",
    lazy_gettext("Appointments"),
    lazy_gettext("Book, change or cancel appointments and join video consultations."),
)

#: R5 Appointment.virtualService as the gateway carries it in R4 (its cross-version extension)
VIRTUAL_SERVICE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService"
#: the join link is shown from this long before the start until the end (the gateway's video
#: tokens let the patient in from FHIR_GATEWAY_VIDEO_JOIN_BEFORE_MIN, 15 by default)
JOIN_BEFORE = dt.timedelta(minutes=15)
#: statuses of an appointment still to come
OPEN = ("proposed", "pending", "booked")
#: what the filters' "type" means as the gateway's appointment-type codes
TYPES = {"video": "VR", "in-person": "ROUTINE"}


def status_label(status: str) -> str:
    return {
        "proposed": _("Requested"),
        "pending": _("Requested"),
        "booked": _("Booked"),
        "arrived": _("Arrived"),
        "fulfilled": _("Attended"),
        "cancelled": _("Cancelled"),
        "noshow": _("Missed"),
    }.get(status, status)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def local(value: str) -> tuple[str, str]:
    """The day (ISO, for the ``local_date`` filter) and the time (HH:MM) of an instant in the
    hospital's time zone."""
    zone = zoneinfo.ZoneInfo(current_app.extensions["portal_settings"].portal_time_zone)
    at = instant(value).astimezone(zone)
    return at.date().isoformat(), at.strftime("%H:%M")


def code_of(concepts: Any, ending: str) -> tuple[str, str]:
    """(code, text) of the first concept's coding whose system ends with ``ending``."""
    concept = concepts[0] if isinstance(concepts, list) and concepts else concepts or {}
    for coding in concept.get("coding", []):
        if str(coding.get("system", "")).endswith(ending):
            return str(coding.get("code", "")), str(concept.get("text") or coding.get("display"))
    return "", str(concept.get("text", ""))


def is_video(resource: dict[str, Any]) -> bool:
    codings = (resource.get("appointmentType") or {}).get("coding", [])
    return any(c.get("code") == "VR" for c in codings)


def actor(resource: dict[str, Any], resource_type: str) -> str:
    for participant in resource.get("participant", []):
        reference = str((participant.get("actor") or {}).get("reference", ""))
        if reference.startswith(f"{resource_type}/"):
            return reference
    return ""


def join_link(resource: dict[str, Any]) -> str:
    for extension in resource.get("extension", []):
        if extension.get("url") != VIRTUAL_SERVICE:
            continue
        for part in extension.get("extension", []):
            if part.get("url") == "address" and str(part.get("valueUrl", "")).startswith(
                "https://"
            ):
                return str(part["valueUrl"])
    return ""


def doctor_names(references: set[str]) -> dict[str, str]:
    """Practitioner/N -> "Dr. Given Family", one search for all of them."""
    ids = sorted(r.split("/", 1)[1] for r in references if r)
    if not ids:
        return {}
    bundle = search("Practitioner", {"_id": ",".join(ids), "_count": str(len(ids))})
    names = {}
    for doctor in matches(bundle, "Practitioner"):
        name = (doctor.get("name") or [{}])[0]
        parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
        names[f"Practitioner/{doctor['id']}"] = " ".join(p for p in parts if p)
    return names


def shown(resource: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """What a page shows of one Appointment (booked, or proposed by $find)."""
    day, time = local(resource["start"])
    _end_day, end = local(resource["end"])
    start = instant(resource["start"])
    status = resource.get("status", "")
    video = is_video(resource)
    link = join_link(resource) if video and status == "booked" else ""
    slot = str(((resource.get("slot") or [{}])[0]).get("reference", ""))
    return {
        "id": resource.get("id", ""),
        "slot": slot.removeprefix("Slot/"),
        "day": day,
        "time": time,
        "end": end,
        "service_code": code_of(resource.get("serviceType"), "/service")[0],
        "service": resource.get("description") or code_of(resource.get("serviceType"), "")[1],
        "specialty": code_of(resource.get("specialty"), "/specialty")[1],
        "doctor": names.get(actor(resource, "Practitioner"), ""),
        "video": video,
        "status": status,
        "status_label": status_label(status),
        "changeable": status in OPEN and start > now(),
        "join": link if link and start - JOIN_BEFORE <= now() < instant(resource["end"]) else "",
        "join_later": bool(link) and now() < start - JOIN_BEFORE,
    }


def catalogue(bundle: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The hospital's services and specialties as (code, name), by name, from a
    HealthcareService search."""
    services, specialties = {}, {}
    for service in matches(bundle, "HealthcareService"):
        code, name = code_of(service.get("type"), "/service")
        if code:
            services[code] = service.get("name") or name
        code, name = code_of(service.get("specialty"), "/specialty")
        if code:
            specialties[code] = name
    return (
        sorted(services.items(), key=lambda kv: kv[1]),
        sorted(specialties.items(), key=lambda kv: kv[1]),
    )


SERVICES = ("HealthcareService", {"active": "true", "_count": "200"})


@blueprint.get("/appointments")
@signed_in
def upcoming() -> Any:
    when = request.args.get("when", "upcoming")
    chosen = {
        "type": request.args.get("type", ""),
        "specialty": request.args.get("specialty", ""),
        "service": request.args.get("service", ""),
    }
    params = {"patient": active(), "_count": "100"}
    if when == "all":
        params["_sort"] = "-date"
    else:
        when = "upcoming"
        params["_sort"] = "date"
        params["date"] = "ge" + now().strftime("%Y-%m-%dT%H:%M:%SZ")
        params["status"] = ",".join(OPEN)
    if chosen["type"] in TYPES:
        params["appointment-type"] = TYPES[chosen["type"]]
    if chosen["specialty"]:
        params["specialty"] = chosen["specialty"]
    if chosen["service"]:
        params["service-type"] = chosen["service"]
    found, services = searches(("Appointment", params), SERVICES)
    resources = matches(found, "Appointment")
    names = doctor_names({actor(r, "Practitioner") for r in resources})
    service_list, specialty_list = catalogue(services)
    return render_template(
        "appointments/list.html",
        appointments=[shown(r, names) for r in resources],
        when=when,
        chosen=chosen,
        services=service_list,
        specialties=specialty_list,
    )


def own(appointment_id: str) -> dict[str, Any]:
    """The active patient's appointment ``appointment_id``, else 404."""
    resource = read(f"Appointment/{appointment_id}")
    if resource is None or actor(resource, "Patient") != f"Patient/{active()}":
        abort(404)
    return resource


def details(resource: dict[str, Any], **more: Any) -> Any:
    names = doctor_names({actor(resource, "Practitioner")})
    return render_template("appointments/details.html", appointment=shown(resource, names), **more)


@blueprint.get("/appointments/<appointment_id>")
@signed_in
def appointment(appointment_id: str) -> Any:
    return details(own(appointment_id), done=request.args.get("done", ""))


def too_late() -> str:
    return _(
        "This appointment can no longer be changed or cancelled here: the time left before it "
        "is too short. Please call the hospital."
    )


def refusal(answer: Any) -> str:
    """The gateway's refusal of a change, in the patient's words."""
    if answer.status_code == 422:
        return too_late()
    if answer.status_code == 404:
        abort(404)
    raise GatewayError(answer.status_code, "Appointment/$book")


@blueprint.route("/appointments/<appointment_id>/cancel", methods=["GET", "POST"])
@signed_in
def cancel(appointment_id: str) -> Any:
    resource = own(appointment_id)
    if request.method == "GET":
        return details(resource, confirm_cancel=True)
    answer = send(
        "POST",
        "Appointment/$book",
        json={"resourceType": "Appointment", "id": resource["id"], "status": "cancelled"},
    )
    if answer.status_code == 200:
        return redirect(url_for(".appointment", appointment_id=resource["id"], done="cancelled"))
    return details(resource, problem=refusal(answer)), answer.status_code


def proposals(params: dict[str, str]) -> list[dict[str, Any]]:
    """Free times from $find for ``params``, grouped by doctor: [{doctor, times: [...]}]."""
    bundle = search("Appointment/$find", {**params, "_count": "100"})
    found = matches(bundle, "Appointment")
    names = doctor_names({actor(r, "Practitioner") for r in found})
    doctors: dict[str, dict[str, Any]] = {}
    for resource in found:
        reference = actor(resource, "Practitioner")
        entry = doctors.setdefault(
            reference, {"doctor": names.get(reference, ""), "id": reference, "times": []}
        )
        entry["times"].append(shown(resource, names))
    return list(doctors.values())


def criteria() -> dict[str, str]:
    """The booking's choice (a service or a specialty, and perhaps the visit type) from the
    request, as $find parameters."""
    values = request.values
    params = {}
    if values.get("service"):
        params["service-type"] = values["service"][:64]
    elif values.get("specialty"):
        params["specialty"] = values["specialty"][:64]
    if values.get("type") in TYPES:
        params["visit-type"] = TYPES[values["type"]]
    return params


def chosen_fields() -> dict[str, str]:
    return {
        k: request.values[k][:64] for k in ("service", "specialty", "type") if request.values.get(k)
    }


@blueprint.get("/appointments/book")
@signed_in
def book() -> Any:
    services, specialties = catalogue(search(*SERVICES))
    return render_template("appointments/book.html", services=services, specialties=specialties)


def times_page(problem: str = "", status: int = 200, **more: Any) -> Any:
    params = criteria()
    if not params.get("service-type") and not params.get("specialty"):
        return redirect(url_for(".book"))
    services, specialties = catalogue(search(*SERVICES))
    names = dict(services) | dict(specialties)
    chosen = chosen_fields()
    title = names.get(chosen.get("service") or chosen.get("specialty", ""), "")
    return (
        render_template(
            "appointments/times.html",
            doctors=proposals(params),
            chosen=chosen,
            title=title,
            problem=problem,
            **more,
        ),
        status,
    )


@blueprint.get("/appointments/book/times")
@signed_in
def times() -> Any:
    return times_page()


def proposal(slot: str) -> dict[str, Any] | None:
    """The free time of ``slot`` among what $find proposes for the booking's choice."""
    for doctor in proposals(criteria()):
        for time in doctor["times"]:
            if time["slot"] == slot:
                return {**time, "doctor": doctor["doctor"]}
    return None


LOST = lazy_gettext(
    "Someone else booked this time a moment ago. Please choose another time: the list below "
    "shows the times that are free now."
)


@blueprint.route("/appointments/book/confirm", methods=["GET", "POST"])
@signed_in
def confirm() -> Any:
    slot = request.values.get("slot", "")
    if not slot.isdigit():
        return times_page(_("Choose a time."), 400)
    if request.method == "GET":
        chosen = proposal(slot)
        if chosen is None:
            return times_page(str(LOST), 409)
        return render_template(
            "appointments/confirm.html", time=chosen, chosen=chosen_fields(), slot=slot
        )
    answer = send(
        "POST",
        "Appointment/$book",
        json={
            "resourceType": "Appointment",
            "status": "booked",
            "slot": [{"reference": f"Slot/{slot}"}],
            "participant": [{"actor": {"reference": f"Patient/{active()}"}, "status": "accepted"}],
        },
    )
    if answer.status_code == 409:
        return times_page(str(LOST), 409)
    if answer.status_code != 200:
        raise GatewayError(answer.status_code, "Appointment/$book")
    booked = matches(answer.json(), "Appointment")[0]
    return redirect(url_for(".appointment", appointment_id=booked["id"], done="booked"))


@blueprint.route("/appointments/<appointment_id>/change", methods=["GET", "POST"])
@signed_in
def change(appointment_id: str) -> Any:
    resource = own(appointment_id)
    current = shown(resource, {})
    if not current["changeable"]:
        return details(resource, problem=too_late()), 422
    params = {"service-type": current["service_code"]}

    def page(problem: str = "", status: int = 200) -> Any:
        doctors = proposals(params)
        for doctor in doctors:
            doctor["times"] = [t for t in doctor["times"] if t["slot"] != current["slot"]]
        return (
            render_template(
                "appointments/change.html",
                doctors=[d for d in doctors if d["times"]],
                appointment=current,
                problem=problem,
            ),
            status,
        )

    if request.method == "GET":
        return page()
    slot = request.form.get("slot", "")
    if not slot.isdigit():
        return page(_("Choose a time."), 400)
    answer = send(
        "POST",
        "Appointment/$book",
        json={
            "resourceType": "Appointment",
            "id": resource["id"],
            "status": "booked",
            "slot": [{"reference": f"Slot/{slot}"}],
        },
    )
    if answer.status_code == 200:
        return redirect(url_for(".appointment", appointment_id=resource["id"], done="moved"))
    if answer.status_code == 409:
        return page(str(LOST), 409)
    return details(resource, problem=refusal(answer)), answer.status_code
