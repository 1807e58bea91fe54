"""The booking operations' Flask routes: ``Appointment/$find`` and ``Appointment/$book``.

Thin adapters from HTTP to ``BookingService``. ``$find`` takes its parameters in the query
string (GET) or as a Parameters resource (POST, FHIR operations' usual form); ``$book`` takes a
JSON body (an Appointment, or Parameters with ``appointment-resource``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from ..errors import BadRequest, UnsupportedMediaType
from ..http import render, wants_fhir_json
from ..inputs import problem, shown
from .service import BookingService

booking = Blueprint("booking", __name__)

_JSON = ("application/fhir+json", "application/json")


def service() -> BookingService:
    return current_app.extensions["booking_service"]  # type: ignore[no-any-return]


def _grant() -> Any:
    return service().fhir.policy.grant_for(request.headers)


def _body() -> Any:
    if request.mimetype not in _JSON:
        raise UnsupportedMediaType("Send the operation's input as application/fhir+json")
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("The request body is not JSON")
    return body


@booking.route("/Appointment/$find", methods=["GET", "POST"])
def find() -> Response:
    wants_fhir_json(request)
    grant = _grant()
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += _parameters(_body())
    return render(service().find(grant, pairs), pretty=request.args.get("_pretty") == "true")


@booking.route("/Appointment/$book", methods=["POST"])
def book() -> Response:
    wants_fhir_json(request)
    grant = _grant()
    return render(service().book(grant, _body()), pretty=request.args.get("_pretty") == "true")


def _parameters(body: Any) -> list[tuple[str, str]]:
    """A Parameters resource's primitive parameters as (name, value) pairs."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("POST $find takes a Parameters resource")
    pairs = []
    for p in body.get("parameter") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise BadRequest("A parameter has a name")
        values = [v for k, v in p.items() if k.startswith("value")]
        value = values[0] if len(values) == 1 else None
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            value = value["reference"]  # valueReference (practitioner, location, ...)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise BadRequest(f"The parameter {shown(p['name'])} has one primitive value")
        pairs.append((p["name"], str(value)))
    found = problem(pairs)
    if found:
        raise BadRequest(found)
    return pairs
