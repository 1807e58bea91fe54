"""What people and partners do, over real HTTP through the load balancer: a browser signing in
and consenting, an app exchanging its code, a partner clinic's client assertion.

``host`` pins a request to one gateway host (``"a"`` or ``"b"``); None lets the load
balancer choose.
"""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.deployment.cluster import PIN
from tests.smart_auth.test_oauth_fixtures import REDIRECT, consent_form, pkce

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NEW_PASSWORD = "a long enough new password 7"
APP_SCOPE = (
    "launch/patient openid fhirUser offline_access patient/*.rs patient/Consent.cu "
    "patient/ImagingStudy.c"
)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def pinned(host: str | None) -> dict[str, str]:
    return {PIN: host} if host else {}


def bearer(token: str, host: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **pinned(host)}


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


class Browser:
    """One person's browser: a cookie jar, and requests sent to the host asked for."""

    def __init__(self, lb_url: str) -> None:
        self.lb = lb_url
        self.http = requests.Session()

    def get(self, url: str, host: str | None = None, **kw: Any) -> requests.Response:
        return self.http.get(
            urljoin(self.lb, url), headers=pinned(host), allow_redirects=False, timeout=30, **kw
        )

    def post(self, url: str, host: str | None = None, **kw: Any) -> requests.Response:
        return self.http.post(
            urljoin(self.lb, url), headers=pinned(host), allow_redirects=False, timeout=30, **kw
        )

    def login(self, login: str, password: str, host: str | None = None) -> requests.Response:
        page = self.get("/account/login", host)
        assert page.status_code == 200, page.text
        form = {**hidden_fields(page.text), "login": login, "password": password}
        return self.post("/account/login", host, data=form)


def temporary_password(outbox: Path, email: str) -> str:
    """The temporary password ``accounts create`` mailed (to the outbox: no SMTP set)."""
    for path in sorted((outbox / "mail").glob("*.eml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if email in text:
            from email import message_from_string
            from email.message import Message

            message: Message = message_from_string(text)
            body = "".join(
                str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
                for part in message.walk()
                if part.get_content_type() == "text/plain"
            )
            found = re.search(r"password[^:\n]*:\s*(\S+)", body, re.IGNORECASE)
            assert found, body
            return found.group(1)
    raise AssertionError(f"no mail to {email}")


def launch(
    browser: Browser,
    client_id: str,
    login: str,
    password: str,
    patient: int,
    hosts: tuple[str | None, ...] = (None,),
) -> dict[str, Any]:
    """A standalone launch: authorize, sign in (and, the first time, accept the information
    clause and replace the temporary password), consent, exchange the code. Each step goes to
    the next host of ``hosts`` in turn."""
    turn = iter(hosts * 20)
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": APP_SCOPE,
        "state": uuid.uuid4().hex,
        "aud": browser.lb + "/fhir",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    answer = browser.get("/oauth/authorize", next(turn), params=params)
    assert answer.status_code == 302, answer.text
    login_url = answer.headers["Location"]
    page = browser.get(login_url, next(turn))
    form = {**hidden_fields(page.text), "login": login, "password": password}
    answer = browser.post("/account/login", next(turn), data=form)
    assert answer.status_code == 302, answer.text
    if "/account/welcome" in answer.headers["Location"]:
        page = browser.get("/account/welcome", next(turn))
        form = {**hidden_fields(page.text), "accept": "on", "new_password": NEW_PASSWORD}
        answer = browser.post("/account/welcome", next(turn), data=form)
        assert answer.status_code == 302, answer.text
    page = browser.get(answer.headers["Location"], next(turn))
    assert page.status_code == 200, page.text
    action, form = consent_form(page.text)
    form.pop("patients")
    form["patient"] = str(patient)
    answer = browser.post(action, next(turn), data=form)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == [params["state"]]
    token = requests.post(
        browser.lb + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
        },
        headers=pinned(next(turn)),
        timeout=30,
    )
    assert token.status_code == 200, token.text
    return dict(token.json())


def partner_key() -> RSAKey:
    return RSAKey.generate_key(2048, {"kid": uuid.uuid4().hex[:8]})


def jwks_file(key: RSAKey, path: Path) -> Path:
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return path


def partner_token(lb_url: str, client_id: str, key: RSAKey, host: str | None) -> str:
    """A backend-services token (client_credentials with an RS384 client assertion)."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": lb_url + "/oauth/token",
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode(
        {"alg": "RS384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["RS384"]
    )
    answer = requests.post(
        lb_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        headers=pinned(host),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])
