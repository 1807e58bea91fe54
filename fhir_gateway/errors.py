"""Errors of the FHIR API, each rendering itself as an OperationOutcome.

FHIR R4 http.html#summary: every failed interaction answers with an OperationOutcome and the
HTTP status of the failure. Each class knows its status and its issue code
(http://hl7.org/fhir/R4/valueset-issue-type.html); one handler in ``gateway.app`` renders
them. Messages are written for the caller: they never carry stack traces, SQL, secrets or
patient data.
"""

from __future__ import annotations

from typing import Any

from access.errors import ApiError, Forbidden, Unauthorized

__all__ = ["ApiError", "Forbidden", "Unauthorized", "outcome_of"]


class FhirError(ApiError):
    """Base of the errors only the FHIR API answers with (access errors are ``ApiError``s)."""


def outcome_of(error: ApiError) -> dict[str, Any]:
    """The OperationOutcome of any API error, access refusals included (an error that lists
    several issues, ``Invalid``, gives one issue each)."""
    issues = getattr(error, "issues", None)
    if issues:
        return {"resourceType": "OperationOutcome", "issue": [dict(i) for i in issues]}
    return operation_outcome(error.severity, error.code, error.diagnostics)


def operation_outcome(severity: str, code: str, diagnostics: str) -> dict[str, Any]:
    """A one-issue OperationOutcome (http://hl7.org/fhir/R4/operationoutcome.html)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


class BadRequest(FhirError):
    status = 400
    code = "invalid"


class UnknownParameter(BadRequest):
    """A search parameter the server does not support, under ``Prefer: handling=strict``."""

    code = "not-supported"


class NotFound(FhirError):
    status = 404
    code = "not-found"


class MethodNotAllowed(FhirError):
    status = 405
    code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    code = "not-supported"


class UnsupportedMediaType(FhirError):
    status = 415
    code = "not-supported"


class Unprocessable(FhirError):
    """The hospital record behind a resource cannot be turned into valid FHIR."""

    status = 422
    code = "processing"


class Conflict(FhirError):
    """http.html#update: the request conflicts with the resource's current state (closed for
    good, changed by someone else meanwhile, a slot someone else has just taken)."""

    status = 409
    code = "conflict"


class PreconditionFailed(FhirError):
    """http.html#concurrency: the version in ``If-Match`` is not the current one."""

    status = 412
    code = "conflict"


class Invalid(FhirError):
    """A resource the client sent breaks the rules it must follow: 422 with one issue per
    problem (``issues``: OperationOutcome.issue elements)."""

    status = 422
    code = "invalid"

    def __init__(self, diagnostics: str, issues: list[dict[str, Any]]) -> None:
        super().__init__(diagnostics)
        self.issues = issues


class BusinessRule(FhirError):
    """The request is understood but a rule of the hospital forbids it (a cancellation too
    close to the appointment, a transition FHIR does not allow)."""

    status = 422
    code = "business-rule"


class PayloadTooLarge(FhirError):
    """A body over a configured limit (an upload over the file size or the patient's quota)."""

    status = 413
    code = "too-long"


class RequestTimeout(FhirError):
    """A body that took longer to arrive than the gateway waits for it."""

    status = 408
    code = "timeout"


class Unavailable(FhirError):
    """Something the answer needs did not answer now; the caller may retry after
    ``Retry-After`` seconds."""

    status = 503
    code = "transient"

    def __init__(self, diagnostics: str, *, retry_after: int = 5) -> None:
        super().__init__(diagnostics, headers={"Retry-After": str(retry_after)})


class HisUnavailable(Unavailable):
    """The HIS did not answer; the caller may retry after ``Retry-After`` seconds."""


class InternalError(FhirError):
    status = 500
    code = "exception"
