"""Real credentials for tests outside the access contract suite: SMART access tokens made the
way a patient app gets them (an account, a registered app, the authorization-code launch
through the sign-in and consent pages, PKCE), never a grant handed to the app directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.smart_auth.test_oauth_fixtures import (
    APP_SCOPE,
    REDIRECT,
    add_account,
    authorize_params,
    exchange,
    get_code,
    pkce,
)

#: what the test apps are registered for: everything a test may ask (a launch asks a part)
REGISTERED = f"{APP_SCOPE} patient/Consent.cu user/Consent.cu patient/ImagingStudy.c"


def with_test_sign_in(app: Flask) -> Flask:
    """The accounts pages' sign-in as a test-only route (``_test``), for the launches below."""
    from smart_auth.session import sign_in

    if "_test_sign_in" not in app.view_functions:

        @app.get("/_test/sign-in/<int:account_id>")
        def _test_sign_in(account_id: int) -> str:
            sign_in(account_id)
            return "ok"

    return app


def launch_token(app: Flask, account_id: int, scope: str, patient: int | None) -> dict[str, Any]:
    """The token response of a full launch of a newly registered public app by the account:
    ``patient`` is the one chosen on the consent page (``None``: no patient context)."""
    store = app.extensions["smart_oauth"].store
    client_id, _ = store.register_client(
        name="Test App", kind="app", auth_method="none", scope=REGISTERED, redirect_uris=(REDIRECT,)
    )
    client = app.test_client()
    assert client.get(f"/_test/sign-in/{account_id}").status_code == 200
    verifier, challenge = pkce()
    query = get_code(client, authorize_params(client_id, challenge, scope), patient=patient)
    answer = exchange(client, client_id, query["code"][0], verifier)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    token: dict[str, Any] = answer.get_json()
    assert token.get("patient") == (str(patient) if patient is not None else None), token
    return {**token, "client_id": client_id}


@dataclass(frozen=True)
class Caller:
    """A patient app's client and who the gateway takes it for."""

    client: FlaskClient
    account_id: int
    client_id: str
    token: str

    @property
    def subject(self) -> str:
        """The subject of its grant (and of its audit records)."""
        return f"patient:{self.account_id}"


def patient_caller(app: Flask, patient: int, scope: str) -> Caller:
    """The access token of ``patient``'s own account for ``scope`` (``launch/patient`` asked,
    the patient chosen on the consent page), and a test client that sends it."""
    with_test_sign_in(app)
    account = add_account(app, (patient, "self"))
    token = launch_token(app, account, f"launch/patient openid {scope}", patient)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token['access_token']}"
    return Caller(client, account, str(token["client_id"]), str(token["access_token"]))


def patient_client(app: Flask, patient: int, scope: str) -> FlaskClient:
    """A test client sending the access token of ``patient``'s own account for ``scope``."""
    return patient_caller(app, patient, scope).client


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def partner_token(app: Flask, client_id: str, key: Any = None) -> str:
    """A backend-services token of the registered partner ``client_id`` (SMART Backend
    Services: client_credentials with a private_key_jwt assertion signed by ``key``, the
    private half of the JWKS it was registered with)."""
    import time
    import uuid

    from joserfc import jwt

    from tests.smart_auth.test_oauth_fixtures import TOKEN_URL

    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": "RS384", "kid": key.kid, "typ": "JWT"}
    assertion = jwt.encode(header, claims, key, algorithms=["RS384"])
    answer = app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()["access_token"])


def bearer_client(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client
