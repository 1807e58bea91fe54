"""The portal's HTTP client of the gateway: SMART discovery, the authorization-code grant with
PKCE as a confidential client, refresh, and FHIR reads with the session's token. One pooled
``requests`` session per portal process; every request has a bounded timeout."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

#: FHIR search parameters: a value, or several for a parameter given more than once (AND)
Params = Mapping[str, str | Sequence[str]]


class GatewayError(Exception):
    """The gateway refused or did not answer; ``status`` is its HTTP status (0: no answer)."""

    def __init__(self, status: int, what: str) -> None:
        super().__init__(f"{what}: {status}")
        self.status = status


class SignedOut(Exception):
    """The session has no usable token (never signed in, or refresh refused)."""


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def subject_of(id_token: str) -> str:
    """The ``sub`` claim (the gateway's account id) of an ID token the portal received straight
    from the token endpoint over its authenticated channel (OpenID Connect Core §3.1.3.7: such
    a token's origin is the TLS server; it only names who signed in, and grants nothing)."""
    parts = id_token.split(".")
    if len(parts) != 3:
        return ""
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return ""
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else ""


@dataclass
class Gateway:
    fhir_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    timeout_s: float
    #: reads of everything, and the writes a patient makes through the portal: uploads (Binary,
    #: DocumentReference), answers (QuestionnaireResponse), shares (Consent), bookings
    #: (Appointment) and imaging uploads (ImagingStudy)
    scope: str = (
        "openid fhirUser online_access user/*.rs user/Appointment.cu user/Binary.c"
        " user/Consent.cu user/DocumentReference.cud user/ImagingStudy.c"
        " user/QuestionnaireResponse.u"
    )

    def __post_init__(self) -> None:
        self.http = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self._conf: dict[str, Any] | None = None

    def _get(self, url: str, **kw: Any) -> requests.Response:
        try:
            return self.http.get(url, timeout=self.timeout_s, **kw)
        except requests.RequestException:
            raise GatewayError(0, "gateway unreachable") from None

    def smart_configuration(self) -> dict[str, Any]:
        if self._conf is None:
            answer = self._get(f"{self.fhir_url}/.well-known/smart-configuration")
            if answer.status_code != 200:
                raise GatewayError(answer.status_code, "smart-configuration")
            self._conf = answer.json()
        return self._conf

    def authorize_url(self, state: str, challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": state,
            "aud": self.fhir_url,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.smart_configuration()['authorization_endpoint']}?{urlencode(query)}"

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            answer = self.http.post(
                self.smart_configuration()["token_endpoint"],
                data=form,
                auth=(self.client_id, self.client_secret),
                timeout=self.timeout_s,
            )
        except requests.RequestException:
            raise GatewayError(0, "token endpoint unreachable") from None
        if answer.status_code != 200:
            raise GatewayError(answer.status_code, "token endpoint")
        token = answer.json()
        return {
            "access_token": token["access_token"],
            "refresh_token": token.get("refresh_token", ""),
            "expires_at": time.time() + float(token.get("expires_in", 300)),
            "sub": subject_of(token.get("id_token", "")),
        }

    def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        return self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            }
        )

    def refresh(self, tokens: dict[str, Any]) -> dict[str, Any]:
        if not tokens.get("refresh_token"):
            raise SignedOut()
        try:
            fresh = self._token(
                {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
            )
            fresh["sub"] = fresh["sub"] or tokens.get("sub", "")
            return fresh
        except GatewayError as exc:
            if exc.status in (400, 401):
                raise SignedOut() from None
            raise

    def fresh(self, session: Any) -> dict[str, Any]:
        """The session's tokens, refreshed server-side when the access token is about to expire
        (the refreshed tokens are written back into the session)."""
        tokens = session.get("tokens")
        if not tokens:
            raise SignedOut()
        if tokens["expires_at"] - 30 < time.time():
            tokens = self.refresh(tokens)
            session["tokens"] = tokens
        found: dict[str, Any] = tokens
        return found

    def fhir_with(
        self,
        tokens: dict[str, Any],
        path: str,
        params: Params | None = None,
        accept: str = "application/fhir+json",
        stream: bool = False,
    ) -> requests.Response:
        """GET ``path`` of the FHIR API with ``tokens`` (safe from any thread); with ``stream``
        the body is read as the caller iterates it (the caller closes the answer)."""
        answer = self._get(
            f"{self.fhir_url}/{path}",
            params=params,
            headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": accept},
            stream=stream,
        )
        if answer.status_code == 401:
            raise SignedOut()
        return answer

    def fhir(
        self,
        session: Any,
        path: str,
        params: Params | None = None,
        accept: str = "application/fhir+json",
        stream: bool = False,
    ) -> requests.Response:
        """GET ``path`` of the FHIR API with the session's token."""
        return self.fhir_with(self.fresh(session), path, params, accept, stream)

    def send(
        self,
        session: Any,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | IO[bytes] | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        params: Params | None = None,
    ) -> requests.Response:
        """``method`` on ``path`` of the FHIR API (or its DICOMweb, given a path from the FHIR
        base's origin) with the session's token; JSON bodies as ``application/fhir+json``."""
        tokens = self.fresh(session)
        sent = {"Authorization": f"Bearer {tokens['access_token']}"}
        sent["Accept"] = "application/fhir+json"
        if json is not None:
            sent["Content-Type"] = "application/fhir+json"
        elif content_type:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        try:
            answer = self.http.request(
                method,
                f"{self.fhir_url}/{path}",
                json=json,
                data=data,
                params=params,
                headers=sent,
                timeout=self.timeout_s,
            )
        except requests.RequestException:
            raise GatewayError(0, "gateway unreachable") from None
        if answer.status_code == 401:
            raise SignedOut()
        return answer
