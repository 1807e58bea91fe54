"""The FHIR API's Flask routes: thin adapters from HTTP to ``FhirService``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from .errors import BadRequest, MethodNotAllowed, NotFound, UnsupportedMediaType
from .fhir.interactions import FhirService
from .http import FHIR_JSON, not_modified, render, strict_handling, version_headers, wants_fhir_json
from .inputs import MAX_VALUE, problem

fhir = Blueprint("fhir", __name__)

_READ_ONLY = ["GET", "HEAD"]
_ALL = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def service() -> FhirService:
    return current_app.extensions["fhir_service"]  # type: ignore[no-any-return]


def _grant() -> Any:
    return service().policy.grant_for(request.headers)


def _pretty() -> bool:
    return request.args.get("_pretty") == "true"


#: Where the FHIR surface lives: this blueprint and the FHIR types other packages serve
#: (AuditEvent, Consent) all answer under it.
FHIR_PREFIX = "/fhir"


def refuse_bad_text() -> None:
    """The FHIR surface's one input check (``inputs.problem``), before any route parses a value:
    path segments, the query string, a POST _search body and the credential, of every FHIR
    type whoever serves it. A refusal is a 400 OperationOutcome, never the database's error.

    The composition root runs it for every request, after its own request-id hook (so that a
    refusal carries its request id too); it passes over requests outside the FHIR base."""
    if request.path != FHIR_PREFIX and not request.path.startswith(FHIR_PREFIX + "/"):
        return
    pairs = [("path", str(value)) for value in (request.view_args or {}).values()]
    pairs += list(request.args.items(multi=True))
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        pairs += list(request.form.items(multi=True))
    credential = request.headers.get("Authorization")
    if credential is not None:
        pairs.append(("Authorization", credential))
    found = problem(pairs, limits={"Authorization": 2 * MAX_VALUE})
    if found:
        raise BadRequest(found)


def _not_allowed(allowed: str) -> MethodNotAllowed:
    return MethodNotAllowed(
        f"{request.method} is not supported here; this gateway is read-only for now",
        headers={"Allow": allowed},
    )


@fhir.route("/metadata", methods=_ALL)
def metadata() -> Response:
    if request.method not in _READ_ONLY:
        raise _not_allowed("GET")
    wants_fhir_json(request)
    # Built by the composition root from the registries (``conformance``), which sit above.
    return render(current_app.extensions["capability_statement"](), pretty=_pretty())


@fhir.route("", methods=_ALL)
def search_system() -> Response:
    """http.html#search: ``GET [base]?_type=A,B&...`` searches several types at once
    (``POST [base]/_search`` arrives through ``search_type``)."""
    if request.method == "POST" and "fhir_transaction" in current_app.extensions:
        # http.html#transaction: the one kind of transaction a part of the gateway serves
        # (patients' uploads: IHE MHD ITI-65), registered by that part
        return current_app.extensions["fhir_transaction"]()  # type: ignore[no-any-return]
    if request.method not in _READ_ONLY:
        raise _not_allowed("GET, POST on _search")
    wants_fhir_json(request)
    return _search_system(list(request.args.items(multi=True)))


def _search_system(pairs: list[tuple[str, str]]) -> Response:
    grant = _grant()
    pairs = [(k, v) for k, v in pairs if k not in ("_format", "_pretty")]
    bundle = service().search_system(grant, pairs, strict=strict_handling(request))
    return render(bundle, pretty=_pretty())


@fhir.route("/<resource_type>", methods=_ALL)
def search_type(resource_type: str) -> Response:
    if resource_type == "_search":  # POST [base]/_search: the search of several types
        if request.method != "POST":
            raise _not_allowed("POST")
        return _search_system(_form_pairs())
    if request.method not in _READ_ONLY:
        raise _not_allowed("GET, POST on _search")
    wants_fhir_json(request)
    return _search(resource_type, list(request.args.items(multi=True)))


@fhir.route("/<resource_type>/_search", methods=_ALL)
def search_post(resource_type: str) -> Response:
    if request.method != "POST":
        raise _not_allowed("POST")
    return _search(resource_type, _form_pairs())


def _search(resource_type: str, pairs: list[tuple[str, str]]) -> Response:
    grant = _grant()
    pairs = [(k, v) for k, v in pairs if k not in ("_format", "_pretty")]
    bundle = service().search(grant, resource_type, pairs, strict=strict_handling(request))
    return render(bundle, pretty=_pretty())


@fhir.route("/<compartment>/<compartment_id>/<resource_type>", methods=_ALL)
def compartment_search(compartment: str, compartment_id: str, resource_type: str) -> Response:
    """search.html#compartments: ``Patient/[id]/[type]``, the only compartment served."""
    if request.method not in _READ_ONLY:
        raise _not_allowed("GET, POST on _search")
    return _compartment(
        compartment, compartment_id, resource_type, list(request.args.items(multi=True))
    )


@fhir.route("/<compartment>/<compartment_id>/<resource_type>/_search", methods=_ALL)
def compartment_search_post(compartment: str, compartment_id: str, resource_type: str) -> Response:
    if request.method != "POST":
        raise _not_allowed("POST")
    return _compartment(compartment, compartment_id, resource_type, _form_pairs())


def _compartment(
    compartment: str, compartment_id: str, resource_type: str, pairs: list[tuple[str, str]]
) -> Response:
    if compartment != "Patient":
        raise NotFound("Only the Patient compartment can be searched here")
    wants_fhir_json(request)
    grant = _grant()
    pairs = [(k, v) for k, v in pairs if k not in ("_format", "_pretty")]
    bundle = service().compartment_search(
        grant, compartment_id, resource_type, pairs, strict=strict_handling(request)
    )
    return render(bundle, pretty=_pretty())


def _form_pairs() -> list[tuple[str, str]]:
    """POST _search: the query string and the form body's parameters (http.html#search)."""
    wants_fhir_json(request)
    if request.mimetype != "application/x-www-form-urlencoded" and request.content_length:
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded")
    return list(request.args.items(multi=True)) + list(request.form.items(multi=True))


@fhir.route("/<resource_type>/<resource_id>", methods=_ALL)
def read(resource_type: str, resource_id: str) -> Response:
    if request.method not in _READ_ONLY:
        raise _not_allowed("GET")
    grant = _grant()
    if resource_type == "Binary":
        return _binary(grant, resource_id)
    wants_fhir_json(request)
    resource = service().read(grant, resource_type, resource_id)
    headers = version_headers(resource)
    if not_modified(request, resource):
        return Response(status=304, headers=headers)
    return render(resource, headers=headers, pretty=_pretty())


def _binary(grant: Any, resource_id: str) -> Response:
    """binary.html#rest: the file's own bytes unless the client asks for FHIR JSON."""
    resource, record = service().binary(grant, resource_id)
    headers = version_headers(resource)
    if not_modified(request, resource):
        return Response(status=304, headers=headers)
    if _asks_for_fhir(request.args.get("_format"), request.headers.get("Accept", "")):
        return render(resource, headers=headers, pretty=_pretty())
    headers["Content-Disposition"] = (
        f'inline; filename="{record["number"]}.pdf"'
        if record.get("content_type") == "application/pdf"
        else "inline"
    )
    return Response(record["content"], mimetype=record["content_type"], headers=headers)


def _asks_for_fhir(fmt: str | None, accept: str) -> bool:
    if fmt:
        return fmt.split(";", 1)[0].strip() in ("json", "application/json", FHIR_JSON)
    types = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    return FHIR_JSON in types or "application/json" in types


@fhir.route("/QuestionnaireResponse/<resource_id>", methods=["PUT"])
def update_questionnaire_response(resource_id: str) -> Response:
    """http.html#update of a QuestionnaireResponse: the patient saves or submits answers
    (``fhir.writes``); reads and other methods go to the generic routes."""
    wants_fhir_json(request)
    grant = _grant()
    if not request.is_json:
        raise UnsupportedMediaType("The body must be application/fhir+json")
    body = request.get_json(silent=True)
    resource = current_app.extensions["questionnaire_responses"].update(
        grant, resource_id, body, request.headers.get("If-Match")
    )
    return render(resource, headers=version_headers(resource), pretty=_pretty())


@fhir.route("/Patient/<patient_id>/$everything", methods=_ALL)
def everything(patient_id: str) -> Response:
    if request.method not in ("GET", "HEAD", "POST"):
        raise _not_allowed("GET, POST")
    wants_fhir_json(request)
    grant = _grant()
    pairs = list(request.args.items()) + (
        list(request.form.items()) if request.method == "POST" else []
    )
    return render(service().everything(grant, patient_id, pairs), pretty=_pretty())
