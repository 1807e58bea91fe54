"""Find, book, cancel and move appointments (IHE Scheduling ITI-115 and ITI-117), framework-free.

``find``: ``Appointment/$find`` answers a searchset Bundle of *proposed* Appointments, one per
free Slot that has not begun and matches the filters (``FIND_PARAMS``), earliest first. It is a
search of Slot as the access policy sees it (``decide(grant, "Slot", "search")``): free slots
are no patient's data.

``book``: ``Appointment/$book`` takes an Appointment (alone, or as the ``appointment-resource``
parameter of a Parameters resource, as ITI-117 sends it):

* without an id: book the slot it names (``slot``) for the patient it names (a participant
  ``Patient/N``; a grant acting for one patient may leave it out). Access is
  ``decide(grant, "Appointment", "create")``, and the patient must be one the grant acts for
  (a patient, or a guardian for the minor in their care). The HIS write is atomic
  (``HisConnector.book_slot``): of clients racing for one slot, one gets the booking and each
  other one 409 with an OperationOutcome;
* with the id of one of the patient's appointments: ``status`` ``cancelled`` cancels it, another
  ``slot`` moves it there (``decide(..., "update")``). Only an appointment FHIR still lets
  change (proposed, pending, booked) and only until ``change_window`` before its start: else
  422 (``business-rule``).

Every booking, move and cancellation is told to the ``EventSink`` (the notifications queue it
for their worker to record and deliver) with the appointment's new version, after the HIS
commit; the HIS change feed finds the same changes too, under the same keys.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from access import audit
from access.policy import Grant
from mappers import InvalidRecord, map_record
from mappers.appointment import VIRTUAL_SERVICE, proposed, virtual_service
from mappers.ids import parse_id

from ..errors import BadRequest, BusinessRule, Conflict, NotFound
from ..fhir.interactions import FhirService
from ..fhir.paging import Cursor
from ..fhir.query import (
    Criterion,
    DateValue,
    SearchQuery,
    Value,
    parse_date,
    parse_reference,
    parse_token,
    split_or,
)
from ..fhir.registry import SearchParam, registry
from ..his.connector import AppointmentChange, AppointmentUnchangeable, SlotUnavailable
from ..his.sources.scheduling import FIND_LOCATION, FIND_PRACTITIONER, FIND_SERVICE
from ..inputs import bad_text
from .video import VideoService

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class BookingRules:
    #: how long before the start a patient may still cancel or move an appointment
    change_window: dt.timedelta = dt.timedelta(hours=24)
    #: the range $find searches when no ``end`` is given
    find_days: int = 30
    #: the most proposals one $find answers
    find_max: int = 100


class EventSink(Protocol):
    """Where appointment events go for the notifications (``notifications.booking``)."""

    def appointment_event(
        self, kind: str, appointment_id: int, patient_id: int, start: dt.datetime, version: int
    ) -> None:
        """Record that an appointment was ``booked``, ``changed`` or ``cancelled``, its HIS
        version (``meta.versionId``) after the change."""
        ...


def _internal(code: str, rtype: str = "reference") -> SearchParam:
    return SearchParam(code=code, type=rtype, url="", description="")


#: $find's parameters: name -> (the Slot binding it filters by, its parameter type).
FIND_PARAMS: Mapping[str, tuple[str, str]] = {
    "specialty": ("specialty", "token"),
    "service-type": ("service-type", "token"),
    # in person or by video: the visit's appointmentType codes (VR / VIDEO, or ROUTINE)
    "visit-type": ("appointment-type", "token"),
    "practitioner": (FIND_PRACTITIONER, "reference"),
    "location": (FIND_LOCATION, "reference"),
    "healthcare-service": (FIND_SERVICE, "reference"),
}
#: Parameters $find takes besides the filters.
FIND_OTHERS = frozenset({"start", "end", "_count", "_cursor", "_format", "_pretty"})


class BookingService:
    """$find and $book over the FHIR service's connector, policy and mapping context."""

    def __init__(
        self,
        fhir: FhirService,
        rules: BookingRules,
        *,
        video: VideoService | None = None,
        events: EventSink | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.fhir = fhir
        self.rules = rules
        self.video = video
        self.events = events
        self.clock = clock

    # --- $find ----------------------------------------------------------------------------------

    def find(self, grant: Grant, pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
        self.fhir._decide(grant, "Slot", "search")
        pairs = list(pairs)
        now = self.clock()
        criteria: list[Criterion] = []
        start, end, count, token = now, None, 20, None
        slot_params = registry()["Slot"].params
        for name, raw in pairs:
            if name == "_cursor":
                token = raw
            elif name == "start":
                start = max(now, _instant(raw))
            elif name == "end":
                end = _instant(raw)
            elif name == "_count":
                count = _count(raw)
            elif name in FIND_PARAMS:
                code, kind = FIND_PARAMS[name]
                param = slot_params.get(code) or _internal(code)
                criteria.append(Criterion(param, None, self._values(kind, raw)))
            elif name not in FIND_OTHERS:
                raise BadRequest(f"Appointment/$find does not take the parameter '{name[:40]}'")
        count = min(count, self.rules.find_max)
        # paging as the FHIR searches page (http.html#paging): a next link carries a keyset
        # cursor signed over these parameters and this caller
        used = [(n, v) for n, v in pairs if n != "_cursor"]
        url = f"{self.fhir.base_url}/Appointment/$find"
        scope = f"Appointment/$find|{urlencode(used)}|{grant.fingerprint}"
        cursor = self.fhir.cursors.decode(token, scope) if token is not None else None
        if cursor is not None and not cursor.forward:
            raise BadRequest("This paging link is not one of $find's")
        links = {"self": f"{url}?{urlencode(used)}" if used else url}
        if end is None:
            end = start + dt.timedelta(days=self.rules.find_days)
        if end <= start:
            return _searchset([], self.fhir.base_url, links=links)
        criteria += [
            Criterion(slot_params["status"], None, (parse_token("free"),)),
            Criterion(slot_params["start"], None, (DateValue("ge", start, start),)),
            Criterion(slot_params["start"], None, (DateValue("lt", end, end),)),
        ]
        query = SearchQuery("Slot", tuple(criteria), ("start", False), count, None)
        after = cursor.key if cursor is not None else None
        with self.fhir._his():
            hits = self.fhir.connector.search(
                query, None, after=after, before=None, limit=count + 1
            )
        if len(hits) > count:
            hits = hits[:count]
            following = self.fhir.cursors.encode(Cursor(hits[-1].key, True), scope)
            links["next"] = f"{url}?{urlencode([*used, ('_cursor', following)])}"
        found: list[dict[str, Any]] = []
        for hit in hits:
            try:
                map_record("Slot", hit.kind, hit.record, self.fhir.ctx)  # validates the row
            except InvalidRecord as exc:  # never proposed; reported by fields, never values
                log.warning(
                    "malformed HIS record left out of $find",
                    extra={
                        "record": f"{exc.record_kind}/{exc.record_id}",
                        "problems": exc.problems,
                    },
                )
                continue
            found.append(proposed(hit.record, self.fhir.ctx))
        audit.record(
            grant,
            "search",
            "Slot",
            outcome="allowed",
            ids=[str(h.record["id"]) for h in hits],
        )
        # the number of matches is known only when this page holds them all
        whole = cursor is None and "next" not in links
        return _searchset(found, self.fhir.base_url, links=links, total=whole)

    def _values(self, kind: str, raw: str) -> tuple[Value, ...]:
        parts = split_or(raw)
        if kind == "token":
            return tuple(parse_token(p) for p in parts)
        return tuple(parse_reference(p, self.fhir.base_url, None) for p in parts)

    # --- $book ----------------------------------------------------------------------------------

    def book(self, grant: Grant, body: Any) -> dict[str, Any]:
        appointment = _appointment_of(body)
        if appointment.get("id") is not None:
            return self._change(grant, appointment)
        decision = self.fhir._decide(grant, "Appointment", "create")
        patient = self._patient(grant, appointment, decision.patients)
        slot_id = _slot_of(appointment)
        if slot_id is None:
            raise BadRequest("The Appointment to book names no slot (Appointment.slot)")
        now = self.clock()
        with self.fhir._his():
            slot = self.fhir.connector.read("Slot", "slot", slot_id, None)
            if slot is None:
                raise NotFound(f"Slot/{slot_id} is not known")
            if slot["status"] != "free" or slot["start_at"] <= now:
                self._taken(grant, slot_id)
            room = self.video.new_room() if slot["telemedicine"] and self.video else None
            try:
                his_id = self.fhir.connector.book_slot(
                    slot_id, patient, at=now, video_url=room, comment=_comment(appointment)
                )
            except SlotUnavailable:
                self._taken(grant, slot_id)
            resource = self._answer(grant, his_id, patient)
        audit.record(
            grant,
            "create",
            "Appointment",
            outcome="allowed",
            ids=[resource["id"]],
            patients=[patient],
        )
        self._event("booked", his_id, patient, resource)
        return _searchset([resource], self.fhir.base_url, with_ids=True)

    def _taken(self, grant: Grant, slot_id: int) -> Any:
        audit.record(grant, "create", "Appointment", outcome="denied", ids=[f"Slot/{slot_id}"])
        raise Conflict(f"Slot/{slot_id} is no longer free; choose another time")

    def _change(self, grant: Grant, appointment: Mapping[str, Any]) -> dict[str, Any]:
        fhir_id = appointment["id"]
        if not isinstance(fhir_id, str) or len(fhir_id) > 64 or bad_text(fhir_id):
            raise BadRequest("Appointment.id is a FHIR id")
        decision = self.fhir._decide(grant, "Appointment", "update")
        parsed = parse_id("Appointment", fhir_id)
        now = self.clock()
        with self.fhir._his():
            record = (
                self.fhir.connector.read("Appointment", parsed[0], parsed[1], decision.patients)
                if parsed is not None
                else None
            )
            if record is None or parsed is None:
                audit.record(
                    grant, "update", "Appointment", outcome="not-found", ids=[fhir_id[:64]]
                )
                raise NotFound(f"Appointment/{fhir_id[:64]} is not known")
            his_id, patient = parsed[1], int(record["patient_id"])
            status = appointment.get("status")
            new_slot = _slot_of(appointment)
            cancel = status == "cancelled"
            if not cancel:
                if status not in (None, "booked"):
                    raise BusinessRule(
                        "A patient may cancel an appointment (status cancelled) or move it "
                        "(status booked, another slot), nothing else"
                    )
                if new_slot is None or new_slot == record.get("slot_id"):
                    raise BusinessRule("Nothing to change: name another slot, or cancel")
            room = None
            if not cancel and self.video is not None:
                slot = self.fhir.connector.read("Slot", "slot", new_slot or 0, None)
                if slot is None:
                    raise NotFound(f"Slot/{new_slot} is not known")
                room = self.video.new_room() if slot["telemedicine"] else None
            change = AppointmentChange(
                appointment_id=his_id,
                patient_id=patient,
                at=now,
                not_before=now + self.rules.change_window,
                cancel=cancel,
                new_slot_id=None if cancel else new_slot,
                video_url=room,
                comment=_comment(appointment),
            )
            try:
                self.fhir.connector.change_appointment(change)
            except SlotUnavailable:
                audit.record(grant, "update", "Appointment", outcome="denied", ids=[fhir_id])
                raise Conflict(f"Slot/{new_slot} is no longer free; choose another time") from None
            except AppointmentUnchangeable as exc:
                audit.record(grant, "update", "Appointment", outcome="denied", ids=[fhir_id])
                raise _refusal(exc.reason, fhir_id, self.rules.change_window) from None
            resource = self._answer(grant, his_id, patient)
        audit.record(
            grant, "update", "Appointment", outcome="allowed", ids=[fhir_id], patients=[patient]
        )
        self._event("cancelled" if cancel else "changed", his_id, patient, resource)
        return _searchset([resource], self.fhir.base_url, with_ids=True)

    def _patient(
        self, grant: Grant, appointment: Mapping[str, Any], allowed: frozenset[int] | None
    ) -> int:
        """The patient the booking is for: the participant ``Patient/N`` (or the grant's one
        patient), who must be one the grant acts for and known to the HIS."""
        named = [
            ref.split("/", 1)[1]
            for ref in _references(appointment.get("participant"))
            if ref.startswith("Patient/")
        ]
        if len(named) > 1:
            raise BadRequest("An appointment is booked for one patient")
        if named:
            parsed = parse_id("Patient", named[0])
            patient = parsed[1] if parsed is not None else None
        elif allowed is not None and len(allowed) == 1:
            patient = next(iter(allowed))
        else:
            raise BadRequest("Name the patient: a participant whose actor is Patient/N")
        with self.fhir._his():
            known = (
                patient is not None
                and (allowed is None or patient in allowed)
                and self.fhir.connector.read("Patient", "patient", patient, allowed) is not None
            )
        if not known or patient is None:
            audit.record(grant, "create", "Appointment", outcome="not-found")
            raise NotFound(f"Patient/{(named or ['?'])[0][:64]} is not known")
        return patient

    def _answer(self, grant: Grant, his_id: int, patient: int) -> dict[str, Any]:
        record = self.fhir.connector.read(
            "Appointment", "appointment", his_id, frozenset({patient})
        )
        assert record is not None, "the HIS lost an appointment it has just written"
        resource = map_record("Appointment", "appointment", record, self.fhir.ctx)
        self.finish(grant, [resource])
        return resource

    def _event(self, kind: str, his_id: int, patient: int, resource: Mapping[str, Any]) -> None:
        if self.events is None:
            return
        try:
            start = dt.datetime.fromisoformat(resource["start"].rstrip("Z"))
            version = int(resource["meta"]["versionId"])
            self.events.appointment_event(kind, his_id, patient, start, version)
        except Exception as exc:  # the booking stands; the event is reported, not retried here
            log.error("appointment event not recorded", extra={"error": type(exc).__name__})

    # --- the join link of a video appointment ---------------------------------------------------

    def finish(self, grant: Grant, resources: Sequence[dict[str, Any]]) -> None:
        """Complete video appointments for their reader: someone acting for the patient gets
        the join link (with their token); a partner clinic gets no room at all."""
        partner = "system" in grant.levels
        for resource in resources:
            extensions = resource.get("extension") or []
            room = next(
                (
                    part.get("valueUrl")
                    for ext in extensions
                    if ext.get("url") == VIRTUAL_SERVICE
                    for part in ext.get("extension", [])
                    if part.get("url") == "address"
                ),
                None,
            )
            if room is None:
                continue
            rest = [ext for ext in extensions if ext.get("url") != VIRTUAL_SERVICE]
            if partner or self.video is None or resource.get("status") != "booked":
                if rest:
                    resource["extension"] = rest
                else:
                    resource.pop("extension", None)
                if partner or self.video is None:
                    resource.pop("patientInstruction", None)
                continue
            patient = _patient_of(resource)
            if patient is None:
                continue
            link = self.video.join_url(
                room,
                patient=patient,
                start=dt.datetime.fromisoformat(resource["start"].rstrip("Z")),
                end=dt.datetime.fromisoformat(resource["end"].rstrip("Z")),
            )
            resource["extension"] = [*rest, virtual_service(link, self.video.channel)]
            resource["patientInstruction"] = f"Join the video consultation at {link}"


def _refusal(reason: str, fhir_id: str, window: dt.timedelta) -> Exception:
    if reason == "unknown":
        return NotFound(f"Appointment/{fhir_id[:64]} is not known")
    if reason == "too-late":
        hours = window.total_seconds() / 3600
        return BusinessRule(
            f"An appointment can be cancelled or moved until {hours:g} hours before it starts; "
            "please call the hospital"
        )
    if reason == "other-service":
        return BusinessRule("An appointment moves only to a slot of the same service")
    return BusinessRule("This appointment can no longer be cancelled or moved")


def _appointment_of(body: Any) -> Mapping[str, Any]:
    if isinstance(body, Mapping) and body.get("resourceType") == "Parameters":
        for p in body.get("parameter") or []:
            if isinstance(p, Mapping) and p.get("name") == "appointment-resource":
                body = p.get("resource")
                break
        else:
            raise BadRequest("$book takes an appointment-resource parameter")
    if not isinstance(body, Mapping) or body.get("resourceType") != "Appointment":
        raise BadRequest("$book takes an Appointment (or Parameters with appointment-resource)")
    return body


def _references(value: Any) -> list[str]:
    out = []
    for p in value if isinstance(value, list) else []:
        ref = (p.get("actor") or {}).get("reference") if isinstance(p, Mapping) else None
        if isinstance(ref, str):
            out.append(ref)
    return out


def _slot_of(appointment: Mapping[str, Any]) -> int | None:
    slots = appointment.get("slot")
    if not isinstance(slots, list) or not slots:
        return None
    if len(slots) != 1:
        raise BadRequest("An appointment is booked in one slot")
    ref = slots[0].get("reference") if isinstance(slots[0], Mapping) else None
    parsed = parse_id("Slot", ref.removeprefix("Slot/")) if isinstance(ref, str) else None
    if parsed is None or not ref.startswith("Slot/"):  # type: ignore[union-attr]
        raise BadRequest("Appointment.slot is a reference Slot/N")
    return parsed[1]


def _comment(appointment: Mapping[str, Any]) -> str | None:
    comment = appointment.get("comment")
    if comment is None:
        return None
    if not isinstance(comment, str) or len(comment) > 500 or bad_text(comment):
        raise BadRequest("Appointment.comment is one line of at most 500 characters")
    return comment


def _patient_of(resource: Mapping[str, Any]) -> int | None:
    for ref in _references(resource.get("participant")):
        if ref.startswith("Patient/"):
            parsed = parse_id("Patient", ref.split("/", 1)[1])
            return parsed[1] if parsed is not None else None
    return None


def _instant(raw: str) -> dt.datetime:
    value = parse_date(raw)
    if value.prefix != "eq":
        raise BadRequest("start and end of $find are dateTimes without a prefix")
    return value.low


def _count(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) <= 1000:
        raise BadRequest("_count is a whole number from 1 to 1000")
    return int(raw)


def _searchset(
    resources: list[dict[str, Any]],
    base: str,
    *,
    with_ids: bool = False,
    links: Mapping[str, str] | None = None,
    total: bool = True,
) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total:
        bundle["total"] = len(resources)
    if links:
        bundle["link"] = [{"relation": rel, "url": href} for rel, href in links.items()]
    entries = []
    for r in resources:
        entry: dict[str, Any] = {}
        if with_ids:
            entry["fullUrl"] = f"{base}/Appointment/{r['id']}"
        entry["resource"] = r
        entry["search"] = {"mode": "match"}
        entries.append(entry)
    if entries:
        bundle["entry"] = entries
    return bundle
