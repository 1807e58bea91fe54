"""Standalone and EHR launch, PKCE, codes, aud, consent (SMART App Launch 2.x "App Launch")."""

from __future__ import annotations

from flask import Flask

from tests.smart_auth.test_oauth_fixtures import (
    BASE,
    REDIRECT,
    add_account,
    add_app,
    authorize_params,
    consent_form,
    exchange,
    get_code,
    launch,
    oauth_app,
    pkce,
)

__all__ = ["oauth_app"]


def test_standalone_launch_token_response(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    token = done["token"]
    assert token["token_type"] == "Bearer"
    assert isinstance(token["access_token"], str)
    assert len(token["access_token"]) > 30
    assert isinstance(token["expires_in"], int)
    assert token["expires_in"] > 0
    assert token["patient"] == "3"
    assert token["need_patient_banner"] is True
    assert "patient/*.rs" in token["scope"].split()
    assert "refresh_token" in token
    assert "id_token" in token
    headers = done["response"].headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["Pragma"] == "no-cache"


def test_not_signed_in_goes_to_login_and_back(oauth_app: Flask) -> None:
    client_id, _ = add_app(oauth_app)
    _, challenge = pkce()
    answer = oauth_app.test_client().get(
        "/oauth/authorize", query_string=authorize_params(client_id, challenge, "patient/*.rs")
    )
    assert answer.status_code == 302
    assert "next=%2Foauth%2Fauthorize%3F" in answer.headers["Location"]


def test_patient_picker_and_deselected_scopes(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    account_id = add_account(oauth_app, (5, "self"), (6, "guardian"))
    client.get(f"/_test/sign-in/{account_id}")
    client_id, _ = add_app(oauth_app)
    verifier, challenge = pkce()
    params = authorize_params(
        client_id, challenge, "launch/patient patient/Observation.rs patient/Condition.rs"
    )
    page = client.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    _, form = consent_form(page)
    assert sorted(form["patients"]) == ["5", "6"]
    assert "read, search: test values of the chosen patient" in page
    query = get_code(client, params, patient=6, keep=["launch/patient", "patient/Observation.rs"])
    token = exchange(client, client_id, query["code"][0], verifier).get_json()
    assert token["patient"] == "6"
    assert token["scope"].split() == ["launch/patient", "patient/Observation.rs"]


def test_patient_may_deny(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, _ = add_app(oauth_app)
    _, challenge = pkce()
    params = authorize_params(client_id, challenge, "patient/*.rs")
    action, form = consent_form(
        client.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    )
    form.pop("patients")
    form["decision"] = "deny"
    answer = client.post(action, data={**form, "patient": "3"})
    assert "error=access_denied" in answer.headers["Location"]
    assert f"state={params['state']}" in answer.headers["Location"]


def test_consent_without_csrf_is_refused(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, _ = add_app(oauth_app)
    _, challenge = pkce()
    params = authorize_params(client_id, challenge, "patient/*.rs")
    action, form = consent_form(
        client.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    )
    form.pop("patients")
    form["csrf_token"] = "forged"
    assert client.post(action, data={**form, "patient": "3"}).status_code == 400


def _signed_in(app: Flask):  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.get(f"/_test/sign-in/{add_account(app, (3, 'self'))}")
    return client


def test_pkce_required_and_plain_refused(oauth_app: Flask) -> None:
    client = _signed_in(oauth_app)
    client_id, _ = add_app(oauth_app)
    for extra in (
        {"code_challenge_method": "plain"},
        {"code_challenge": ""},
        {"code_challenge_method": ""},
    ):
        params = {**authorize_params(client_id, "x" * 43, "patient/*.rs"), **extra}
        answer = client.get("/oauth/authorize", query_string=params)
        assert answer.status_code == 302
        assert "error=invalid_request" in answer.headers["Location"], extra
        assert "code=" not in answer.headers["Location"]


def test_confidential_client_needs_pkce_too(oauth_app: Flask) -> None:
    client = _signed_in(oauth_app)
    client_id, secret = add_app(oauth_app, "client_secret_basic")
    assert secret
    params = authorize_params(client_id, "", "patient/*.rs")
    answer = client.get("/oauth/authorize", query_string=params)
    assert "error=invalid_request" in answer.headers["Location"]
    verifier, challenge = pkce()
    query = get_code(client, authorize_params(client_id, challenge, "launch/patient patient/*.rs"))
    code = query["code"][0]
    no_secret = exchange(client, client_id, code, verifier)
    assert no_secret.status_code == 401
    query = get_code(client, authorize_params(client_id, challenge, "launch/patient patient/*.rs"))
    ok = exchange(client, client_id, query["code"][0], verifier, auth=(client_id, secret))
    assert ok.status_code == 200, ok.get_data(as_text=True)


def test_bad_code_verifiers_get_400(oauth_app: Flask) -> None:
    client = _signed_in(oauth_app)
    client_id, _ = add_app(oauth_app)
    _verifier, challenge = pkce()
    for bad in (None, "", "wrong" * 10, challenge):
        query = get_code(
            client, authorize_params(client_id, challenge, "launch/patient patient/*.rs")
        )
        answer = exchange(client, client_id, query["code"][0], bad)
        assert answer.status_code in (400, 401), bad
        assert "access_token" not in answer.get_json()


def test_codes_are_single_use(oauth_app: Flask) -> None:
    client = _signed_in(oauth_app)
    client_id, _ = add_app(oauth_app)
    verifier, challenge = pkce()
    code = get_code(client, authorize_params(client_id, challenge, "launch/patient patient/*.rs"))[
        "code"
    ][0]
    assert exchange(client, client_id, code, verifier).status_code == 200
    again = exchange(client, client_id, code, verifier)
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"


def test_wrong_aud_gets_no_code(oauth_app: Flask) -> None:
    client = _signed_in(oauth_app)
    client_id, _ = add_app(oauth_app)
    _, challenge = pkce()
    for aud in ("https://elsewhere.example/fhir", ""):
        params = authorize_params(client_id, challenge, "patient/*.rs", aud=aud)
        location = client.get("/oauth/authorize", query_string=params).headers["Location"]
        assert "error=invalid_request" in location
        assert "code=" not in location


def test_redirect_uri_must_match_exactly(oauth_app: Flask) -> None:
    client = _signed_in(oauth_app)
    client_id, _ = add_app(oauth_app)
    _, challenge = pkce()
    params = authorize_params(client_id, challenge, "patient/*.rs", redirect_uri=REDIRECT + "/")
    answer = client.get("/oauth/authorize", query_string=params)
    assert answer.status_code == 400  # never redirected to an unregistered URI
    assert "Location" not in answer.headers


def test_authorize_by_post(oauth_app: Flask) -> None:
    client = _signed_in(oauth_app)
    client_id, _ = add_app(oauth_app)
    _, challenge = pkce()
    page = client.post(
        "/oauth/authorize", data=authorize_params(client_id, challenge, "patient/*.rs")
    )
    assert page.status_code == 200
    assert "Allow Test App" in page.get_data(as_text=True)


def test_ehr_launch_binds_the_portal_patient(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (7, 'self'), (8, 'guardian'))}")
    client_id, _ = add_app(oauth_app, launch_uri="https://app.example/launch")
    apps = client.get("/oauth/apps").get_data(as_text=True)
    csrf = (
        apps.split('name="csrf_token" value="')[1].split('"')[0] if "csrf_token" in apps else None
    )
    if csrf is None:  # no app listed yet: the consent page hands out the same session token
        _, challenge = pkce()
        page = client.get(
            "/oauth/authorize", query_string=authorize_params(client_id, challenge, "patient/*.rs")
        )
        csrf = consent_form(page.get_data(as_text=True))[1]["csrf_token"]
    started = client.post(
        "/oauth/launch", data={"client_id": client_id, "patient": "8", "csrf_token": csrf}
    )
    assert started.status_code == 302
    location = started.headers["Location"]
    assert location.startswith("https://app.example/launch?iss=")
    launch_value = location.split("launch=")[1]
    verifier, challenge = pkce()
    params = authorize_params(
        client_id, challenge, "launch patient/*.rs openid fhirUser", launch=launch_value
    )
    page = client.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    assert 'name="patient"' not in page  # no picker: the portal chose the patient
    query = get_code(client, params)
    token = exchange(client, client_id, query["code"][0], verifier).get_json()
    assert token["patient"] == "8"
    bad = authorize_params(client_id, challenge, "launch patient/*.rs", launch="forged")
    assert (
        "error=invalid_request"
        in client.get("/oauth/authorize", query_string=bad).headers["Location"]
    )
    assert BASE in location or "iss=http" in location


def test_codes_live_at_most_60_seconds(oauth_app: Flask) -> None:
    import sqlalchemy as sa

    from smart_auth.oauth.tables import oauth_code

    client = _signed_in(oauth_app)
    client_id, _ = add_app(oauth_app)
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, "launch/patient patient/*.rs")
    code = get_code(client, params)["code"][0]
    engine = oauth_app.extensions["state_engine"]
    with engine.begin() as conn:
        (expires_at,) = conn.execute(sa.select(oauth_code.c.expires_at)).one()
        conn.execute(sa.update(oauth_code).values(expires_at=expires_at - 61))
    import time

    assert expires_at - time.time() <= 60
    late = exchange(client, client_id, code, verifier)
    assert late.status_code == 400
    assert late.get_json()["error"] == "invalid_grant"


def test_online_access_gets_a_refresh_token_too(oauth_app: Flask) -> None:
    done = launch(oauth_app, scope="launch/patient online_access patient/*.rs")
    assert "refresh_token" in done["token"]
    assert "online_access" in done["token"]["scope"].split()
