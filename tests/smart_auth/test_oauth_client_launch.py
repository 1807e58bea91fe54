"""A confidential client's own EHR launch, started on the back channel (``/oauth/client-launch``:
how the portal switches identity): the gateway makes a launch only for a patient the account of
the client's grant acts for, and the authorization request with it is answered without a consent
page, within what the person approved, with that patient in context."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from smart_auth.accounts.tables import identity
from tests.smart_auth.test_oauth_fixtures import (
    REDIRECT,
    add_account,
    add_app,
    authorize_params,
    exchange,
    get_code,
    oauth_app,
    pkce,
)

__all__ = ["oauth_app"]

REGISTERED = "launch openid fhirUser online_access user/*.rs patient/*.rs patient/Observation.c"


def basic(client_id: str, secret: str | None) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def account_grant(app: Flask, *patients: tuple[int, str]) -> dict[str, Any]:
    """A confidential app, a signed-in account and the account's grant (``user/*.rs``, no
    patient context) as the app got it through the consent page."""
    client = app.test_client()
    account_id = add_account(app, *patients)
    client.get(f"/_test/sign-in/{account_id}")
    client_id, secret = add_app(app, auth_method="client_secret_basic", scope=REGISTERED)
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, "openid fhirUser online_access user/*.rs")
    code = get_code(client, params)["code"][0]
    answer = exchange(client, client_id, code, verifier, headers=basic(client_id, secret))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    token = answer.get_json()
    assert "patient" not in token
    return {
        "browser": client,
        "account_id": account_id,
        "client_id": client_id,
        "secret": secret,
        "token": token["access_token"],
    }


def start(app: Flask, grant: dict[str, Any], patient: str, **over: Any) -> Any:
    form = {"subject_token": grant["token"], "patient": patient}
    headers = over.pop("headers", basic(grant["client_id"], grant["secret"]))
    return app.test_client().post("/oauth/client-launch", data={**form, **over}, headers=headers)


def authorize(browser: FlaskClient, client_id: str, launch: str, scope: str) -> tuple[Any, str]:
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, scope, launch=launch)
    return browser.get("/oauth/authorize", query_string=params), verifier


def test_the_launch_gives_the_ward_in_context_without_a_consent_page(oauth_app: Flask) -> None:
    grant = account_grant(oauth_app, (7, "self"), (8, "guardian"))
    started = start(oauth_app, grant, "8")
    assert started.status_code == 200, started.get_data(as_text=True)
    assert started.headers["Cache-Control"] == "no-store"
    launch = started.get_json()["launch"]
    assert started.get_json()["expires_in"] > 0
    # asked: the patient-level twin of what was approved, and a write that never was
    answer, verifier = authorize(
        grant["browser"],
        grant["client_id"],
        launch,
        "launch openid fhirUser online_access patient/*.rs patient/Observation.c",
    )
    assert answer.status_code == 302  # no page: straight back to the app with a code
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = exchange(
        grant["browser"],
        grant["client_id"],
        code,
        verifier,
        headers=basic(grant["client_id"], grant["secret"]),
    ).get_json()
    assert token["patient"] == "8"
    scopes = token["scope"].split()
    assert "patient/*.rs" in scopes
    assert "patient/Observation.c" not in scopes  # not approved: not granted by a launch
    assert not [s for s in scopes if s.startswith("user/")]
    # the token reads the ward's record and not the guardian's own
    bearer = oauth_app.test_client()
    bearer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token['access_token']}"
    assert bearer.get("/fhir/Patient/8").status_code == 200
    assert bearer.get("/fhir/Patient/7").status_code == 404


def test_a_patient_the_account_does_not_act_for_gets_no_launch(oauth_app: Flask) -> None:
    grant = account_grant(oauth_app, (7, "self"), (8, "guardian"))
    for patient in ("9", "", "8 ", "-8", "Patient/8"):
        refused = start(oauth_app, grant, patient)
        assert refused.status_code == 403, patient
        assert refused.get_json()["error"] == "access_denied"
        assert "launch" not in refused.get_json()


def test_only_the_client_of_a_live_grant_starts_a_launch(oauth_app: Flask) -> None:
    grant = account_grant(oauth_app, (7, "self"), (8, "guardian"))
    # no client authentication, a wrong secret, a bearer token instead
    for headers in (
        {},
        basic(grant["client_id"], "wrong"),
        {"Authorization": f"Bearer {grant['token']}"},
    ):
        refused = start(oauth_app, grant, "8", headers=headers)
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "invalid_client"
    # another confidential client with this account's grant, or an unknown token
    other_id, other_secret = add_app(oauth_app, auth_method="client_secret_basic", scope=REGISTERED)
    stolen = start(oauth_app, grant, "8", headers=basic(other_id, other_secret))
    assert stolen.status_code == 400
    assert stolen.get_json()["error"] == "invalid_grant"
    assert start(oauth_app, grant, "8", subject_token="not-a-token").status_code == 400
    # a public client cannot start one, even with its own grant
    public_id, _ = add_app(oauth_app, scope=REGISTERED)
    refused = start(oauth_app, grant, "8", headers={}, client_id=public_id)
    assert refused.status_code == 401
    # a revoked grant starts nothing
    revoked = oauth_app.test_client().post(
        "/oauth/revoke",
        data={"token": grant["token"]},
        headers=basic(grant["client_id"], grant["secret"]),
    )
    assert revoked.status_code == 200
    assert start(oauth_app, grant, "8").get_json()["error"] == "invalid_grant"


def test_the_launch_is_the_accounts_and_follows_the_guardianship(oauth_app: Flask) -> None:
    grant = account_grant(oauth_app, (7, "self"), (8, "guardian"))
    launch = start(oauth_app, grant, "8").get_json()["launch"]
    # another person signed in at the gateway in that browser: the launch is not theirs
    other = oauth_app.test_client()
    other.get(f"/_test/sign-in/{add_account(oauth_app, (8, 'guardian'))}")
    answer, _ = authorize(other, grant["client_id"], launch, "launch patient/*.rs")
    assert "error=invalid_request" in answer.headers["Location"]
    # the guardianship ends before the browser comes back: no code
    with oauth_app.extensions["state_engine"].begin() as conn:
        conn.execute(
            sa.delete(identity).where(
                identity.c.account_id == grant["account_id"], identity.c.his_patient_id == 8
            )
        )
    answer, _ = authorize(grant["browser"], grant["client_id"], launch, "launch patient/*.rs")
    assert answer.status_code == 302
    assert "error=access_denied" in answer.headers["Location"]
    assert "code=" not in answer.headers["Location"]
