"""Errors of access decisions, free of any surface's format.

Each surface renders them its own way (an OperationOutcome for FHIR, an Error Comment in DICOM
JSON for DICOMweb) with the status and headers they carry. A refusal for missing or unusable
credentials is 401 and a missing permission 403, both with the RFC 6750 §3.1 ``error`` code in
``WWW-Authenticate``: ``invalid_token`` when a token was presented but cannot be used,
``insufficient_scope`` when the token is good but does not cover the request.
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """Base of every error an API answers with: a status, a FHIR issue code, a message for the
    caller (never a stack trace, SQL, a secret or patient data) and response headers."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "exception"
    severity: ClassVar[str] = "error"

    def __init__(self, diagnostics: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.headers = headers or {}


def _challenge(realm: str | None, error: str | None, description: str | None = None) -> str:
    """An RFC 6750 §3 ``Bearer`` challenge."""
    parts = []
    if realm:
        parts.append(f'realm="{realm}"')
    if error:
        parts.append(f'error="{error}"')
    if description:
        safe = description.replace('"', "'").replace("\\", "/")
        parts.append(f'error_description="{safe}"')
    return "Bearer" + (" " + ", ".join(parts) if parts else "")


class Unauthorized(ApiError):
    """No usable credentials: none were sent (no ``error``), or the token presented is expired,
    revoked, forged or malformed (``error="invalid_token"``)."""

    status = 401
    code = "login"

    def __init__(
        self,
        diagnostics: str,
        *,
        realm: str | None = None,
        invalid_token: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        challenge = _challenge(realm, "invalid_token" if invalid_token else None)
        super().__init__(diagnostics, headers={"WWW-Authenticate": challenge, **(headers or {})})
        self.invalid_token = invalid_token


class Forbidden(ApiError):
    """The credentials are good but do not cover the request (``insufficient_scope``)."""

    status = 403
    code = "forbidden"

    def __init__(
        self, diagnostics: str, *, realm: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        challenge = _challenge(realm, "insufficient_scope")
        super().__init__(diagnostics, headers={"WWW-Authenticate": challenge, **(headers or {})})
