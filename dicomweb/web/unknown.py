"""Addresses under ``/dicomweb`` that no DICOMweb route serves.

They answer in DICOMweb's own error format (PS3.18 §8.6: the status, and a DICOM JSON body
with an Error Comment), not in the FHIR API's OperationOutcome: 404 for a path no route knows,
405 with ``Allow`` for a method the path's route does not take. A catch-all route of the
blueprint receives them (the specific routes match first); which methods a path's real route
takes is asked of a map of the blueprint's routes without the catch-all.
"""

from __future__ import annotations

from flask import Response, current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from .context import blueprint, error_response

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
_ENDPOINT = f"{blueprint.name}.unknown"


def _routes() -> Map:
    """The DICOMweb routes without the catch-all, built once per application."""
    routes = current_app.extensions.get("dicomweb_routes")
    if routes is None:
        rules = [
            Rule(rule.rule, methods=rule.methods, endpoint=rule.endpoint)
            for rule in current_app.url_map.iter_rules()
            if rule.endpoint.startswith(f"{blueprint.name}.") and rule.endpoint != _ENDPOINT
        ]
        routes = current_app.extensions["dicomweb_routes"] = Map(rules)
    return routes


@blueprint.route(
    "/", defaults={"rest": ""}, methods=METHODS, endpoint="unknown", strict_slashes=False
)
@blueprint.route("/<path:rest>", methods=METHODS, endpoint="unknown")
def unknown(rest: str) -> Response:
    try:
        _routes().bind("", "/").match(request.path, method=request.method)
    except MethodNotAllowed as exc:
        allowed = sorted(set(exc.valid_methods or ()) | {"OPTIONS"})
        return error_response(
            405, "This method is not supported here", {"Allow": ", ".join(allowed)}
        )
    except NotFound:
        pass
    return error_response(404, "There is nothing at this DICOMweb address")
