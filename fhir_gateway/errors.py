"""Errors of the FHIR API, each rendering itself as an OperationOutcome.

FHIR R4 http.html#summary: every failed interaction answers with an OperationOutcome and the
HTTP status of the failure. Each class knows its status and its issue code
(http://hl7.org/fhir/R4/valueset-issue-type.html); one handler in ``fhir_gateway.app`` renders
them. Messages are written for the caller: they never carry stack traces, SQL, secrets or
patient data.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FhirError(Exception):
    """Base of every error the FHIR API answers with."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "exception"
    severity: ClassVar[str] = "error"

    def __init__(self, diagnostics: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.severity, self.code, self.diagnostics)


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


class Unauthorized(FhirError):
    status = 401
    code = "login"


class Forbidden(FhirError):
    status = 403
    code = "forbidden"


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


class HisUnavailable(FhirError):
    """The HIS did not answer; the caller may retry after ``Retry-After`` seconds."""

    status = 503
    code = "transient"

    def __init__(self, diagnostics: str, *, retry_after: int = 5) -> None:
        super().__init__(diagnostics, headers={"Retry-After": str(retry_after)})


class InternalError(FhirError):
    status = 500
    code = "exception"
