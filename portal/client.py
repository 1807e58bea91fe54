"""The portal's HTTP client of the gateway: SMART discovery, the authorization-code grant with
PKCE as a confidential client, the EHR launch of one identity, refresh, and FHIR reads with the
active identity's token. One pooled
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


def claims_of(id_token: str) -> dict[str, Any]:
    """The claims of an ID token the portal received straight from the token endpoint over its
    authenticated channel (OpenID Connect Core §3.1.3.7: such a token's origin is the TLS
    server; it only names who signed in, and grants nothing)."""
    parts = id_token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def subject_of(id_token: str) -> str:
    """The ``sub`` claim (the gateway's account id) of an ID token (see ``claims_of``)."""
    sub = claims_of(id_token).get("sub")
    return sub if isinstance(sub, str) else ""


def own_patient(id_token: str) -> str:
    """The account's own Patient id from the ``fhirUser`` claim of an account-level ID token
    (SMART: ``Patient/<id>`` at the FHIR base), or ""."""
    who = claims_of(id_token).get("fhirUser")
    if not isinstance(who, str) or "/Patient/" not in who:
        return ""
    return who.rsplit("/Patient/", 1)[1]


@dataclass
class Gateway:
    fhir_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    timeout_s: float
    #: What the portal is registered for. At sign-in it asks the ``user/`` part, which the person
    #: approves once on the gateway's consent page: reads of the records of everyone the
    #: account acts for, and the writes a patient makes through the portal: uploads (Binary,
    #: DocumentReference), answers (QuestionnaireResponse), shares (Consent), bookings
    #: (Appointment) and imaging uploads (ImagingStudy). That grant is the account's: the portal
    #: only lists the people with it (Patient) and starts launches with it. Every record is read
    #: and written with a token of one identity, from an EHR launch: the ``patient/`` part with
    #: that patient in context (SMART ``launch``), so the gateway itself confines each request.
    scope: str = (
        "openid fhirUser online_access launch user/*.rs user/Appointment.cu user/Binary.c"
        " user/Consent.cu user/DocumentReference.cud user/ImagingStudy.c"
        " user/QuestionnaireResponse.u patient/*.rs patient/Appointment.cu patient/Binary.c"
        " patient/Consent.cu patient/DocumentReference.cud patient/ImagingStudy.c"
        " patient/QuestionnaireResponse.u"
    )

    @property
    def sign_in_scope(self) -> str:
        """The account's grant, asked at sign-in: no patient context, no ``patient/`` scope."""
        return " ".join(s for s in self.scope.split() if not s.startswith(("patient/", "launch")))

    @property
    def launch_scope(self) -> str:
        """What an EHR launch for one identity asks: the ``patient/`` scopes with that patient in
        context, and nothing at the account's level."""
        return " ".join(s for s in self.scope.split() if not s.startswith("user/"))

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

    def authorize_url(self, state: str, challenge: str, launch: str = "") -> str:
        """The authorization request: the sign-in (the account's grant), or with ``launch`` an
        EHR launch for one identity (SMART App Launch 2.x: ``launch`` scope and parameter)."""
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.launch_scope if launch else self.sign_in_scope,
            "state": state,
            "aud": self.fhir_url,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if launch:
            query["launch"] = launch
        return f"{self.smart_configuration()['authorization_endpoint']}?{urlencode(query)}"

    def start_launch(self, account: dict[str, Any], patient: str) -> str:
        """An EHR launch for ``patient`` started at the gateway on the back channel with the
        account's grant (``account``: its tokens); the opaque ``launch`` value. The gateway
        decides from its own guardianship data: a patient the account does not act for is a
        ``GatewayError`` (403), and no launch."""
        url = self.fhir_url.rsplit("/", 1)[0] + "/oauth/client-launch"
        try:
            answer = self.http.post(
                url,
                data={"subject_token": account["access_token"], "patient": patient},
                auth=(self.client_id, self.client_secret),
                timeout=self.timeout_s,
            )
        except requests.RequestException:
            raise GatewayError(0, "launch endpoint unreachable") from None
        if answer.status_code != 200:
            raise GatewayError(answer.status_code, "launch")
        return str(answer.json()["launch"])

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
            "own": own_patient(token.get("id_token", "")),
            "patient": str(token.get("patient") or ""),
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

    def revoke(self, tokens: dict[str, Any]) -> None:
        """Revoke a grant at the gateway (RFC 7009: its refresh token revokes the whole family),
        on a best-effort basis: a gateway that cannot be reached lets them expire."""
        token = tokens.get("refresh_token") or tokens.get("access_token")
        if not token:
            return
        try:
            url = self.smart_configuration()["revocation_endpoint"]
            self.http.post(
                url,
                data={"token": token},
                auth=(self.client_id, self.client_secret),
                timeout=self.timeout_s,
            )
        except (GatewayError, KeyError, requests.RequestException):
            return

    def refresh(self, tokens: dict[str, Any]) -> dict[str, Any]:
        if not tokens.get("refresh_token"):
            raise SignedOut()
        try:
            fresh = self._token(
                {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
            )
            fresh["sub"] = fresh["sub"] or tokens.get("sub", "")
            fresh["patient"] = fresh["patient"] or tokens.get("patient", "")
            return fresh
        except GatewayError as exc:
            if exc.status in (400, 401):
                raise SignedOut() from None
            raise

    def fresh(self, session: Any, key: str = "tokens") -> dict[str, Any]:
        """The session's tokens of the active identity (``key`` "account": the account's grant),
        refreshed server-side when the access token is about to expire (the refreshed tokens
        are written back into the session, and kept among the identity's held tokens)."""
        tokens = session.get(key)
        if not tokens:
            raise SignedOut()
        if tokens["expires_at"] - 30 < time.time():
            tokens = self.refresh(tokens)
            session[key] = tokens
            if key == "tokens" and tokens.get("patient"):
                session["held"] = {**session.get("held", {}), tokens["patient"]: tokens}
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
