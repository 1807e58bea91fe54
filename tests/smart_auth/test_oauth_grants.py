"""What a token may claim: at most the client's registration and what the server honours, for
every grant type; v1 scopes answered in v1 form; a reused code revokes its tokens; a public
client refreshes without naming itself."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import update

from smart_auth.oauth.grantable import asks_in_v1, grantable, written
from smart_auth.oauth.tables import oauth_client
from tests.smart_auth.test_oauth_fixtures import (
    TOKEN_URL,
    add_account,
    add_app,
    authorize_params,
    exchange,
    get_code,
    launch,
    oauth_app,
    pkce,
    store_of,
)
from tests.smart_auth.test_token_cache import _redis_feed

__all__ = ["oauth_app"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_KEY = RSAKey.generate_key(2048, {"kid": "grants-1"})


def _partner(app: Flask, scope: str) -> str:
    client_id, _ = store_of(app).register_client(
        name="Partner clinic",
        kind="partner",
        auth_method="private_key_jwt",
        scope=scope,
        jwks=json.dumps({"keys": [_KEY.as_dict(private=False)]}),
    )
    return client_id


def _backend_token(app: Flask, client_id: str, scope: str) -> Any:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode({"alg": "RS384", "kid": _KEY.kid}, claims, _KEY, algorithms=["RS384"])
    data = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    return app.test_client().post("/oauth/token", data=data)


def _refresh(done: dict[str, Any], refresh_token: str, **extra: Any) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return done["client"].post("/oauth/token", data=data)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- 1. at most the registered scopes, for every grant type ---------------------------------------


def test_a_partner_gets_only_its_registered_scopes_never_write(oauth_app: Flask) -> None:
    client_id = _partner(oauth_app, "system/Observation.rs")
    answer = _backend_token(
        oauth_app, client_id, "system/Observation.cruds system/Patient.rs system/*.cud"
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["scope"] == "system/Observation.rs"
    client = oauth_app.test_client()
    refused = client.get("/fhir/Patient", headers=_bearer(body["access_token"]))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert client.get("/fhir/Observation", headers=_bearer(body["access_token"])).status_code == 200


def test_a_partner_asking_for_nothing_it_may_have_gets_invalid_scope(oauth_app: Flask) -> None:
    client_id = _partner(oauth_app, "system/Observation.rs")
    for scope in ("system/Patient.rs", "system/Observation.cud", "patient/*.rs", ""):
        answer = _backend_token(oauth_app, client_id, scope)
        assert answer.status_code == 400, scope
        assert answer.get_json()["error"] == "invalid_scope", scope
        assert "access_token" not in answer.get_json()


def test_a_partner_registered_for_everything_gets_what_the_server_honours(
    oauth_app: Flask,
) -> None:
    client_id = _partner(oauth_app, "system/*.cruds")
    answer = _backend_token(oauth_app, client_id, "system/*.cruds")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["scope"] == "system/*.rs system/ImagingStudy.c"


def test_an_app_asking_for_nothing_registered_is_sent_back_invalid_scope(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, _ = add_app(oauth_app, scope="launch/patient patient/Observation.rs")
    _, challenge = pkce()
    params = authorize_params(client_id, challenge, "patient/Patient.rs user/*.rs")
    answer = client.get("/oauth/authorize", query_string=params)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert "error=invalid_scope" in location
    assert f"state={params['state']}" in location
    assert "code=" not in location


def test_an_app_gets_the_intersection_of_asked_and_registered(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, _ = add_app(oauth_app, scope="launch/patient offline_access patient/Observation.rs")
    verifier, challenge = pkce()
    params = authorize_params(
        client_id, challenge, "launch/patient openid offline_access patient/*.rs"
    )
    query = get_code(client, params)
    token = exchange(client, client_id, query["code"][0], verifier).get_json()
    assert token["scope"] == "launch/patient offline_access patient/Observation.rs"
    assert "id_token" not in token  # openid was not registered


def test_a_refresh_is_narrowed_to_the_registration_as_it_is_now(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    with oauth_app.extensions["state_engine"].begin() as conn:
        conn.execute(
            update(oauth_client)
            .where(oauth_client.c.client_id == done["client_id"])
            .values(scope="launch/patient offline_access patient/Observation.rs")
        )
    refreshed = _refresh(done, done["token"]["refresh_token"], client_id=done["client_id"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    body = refreshed.get_json()
    assert body["scope"] == "launch/patient offline_access patient/Observation.rs"
    assert (
        done["client"].get("/fhir/Patient/3", headers=_bearer(body["access_token"])).status_code
        == 403
    )
    with oauth_app.extensions["state_engine"].begin() as conn:
        conn.execute(
            update(oauth_client)
            .where(oauth_client.c.client_id == done["client_id"])
            .values(scope="user/*.rs")
        )
    nothing = _refresh(done, body["refresh_token"], client_id=done["client_id"])
    assert nothing.status_code == 400
    assert nothing.get_json()["error"] == "invalid_scope"


def test_write_scopes_the_server_cannot_honour_are_neither_offered_nor_granted(
    oauth_app: Flask,
) -> None:
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, _ = add_app(oauth_app, scope="launch/patient patient/*.cruds")
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, "launch/patient patient/*.cruds")
    page = client.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    # deleting is offered only for the patient's own uploads
    assert "delete: documents of the chosen patient" in page
    assert page.count("delete") == 1
    assert "create, update: shares of the chosen patient" in page
    assert "cannot honour" in page  # says that some of what was asked is not offered
    token = exchange(client, client_id, get_code(client, params)["code"][0], verifier).get_json()
    assert token["scope"] == (
        "launch/patient patient/*.rs patient/Appointment.cu patient/Binary.c patient/Consent.cu "
        "patient/DocumentReference.cud patient/ImagingStudy.c patient/QuestionnaireResponse.u"
    )


# -- 3. v1 scopes answered in v1 form ----------------------------------------------------------


def test_v1_scopes_come_back_in_v1_form_and_keep_their_v2_meaning(oauth_app: Flask) -> None:
    done = launch(oauth_app, scope="launch/patient openid fhirUser offline_access patient/*.read")
    token = done["token"]
    assert token["scope"] == "fhirUser launch/patient offline_access openid patient/*.read"
    client = done["client"]
    assert client.get("/fhir/Patient/3", headers=_bearer(token["access_token"])).status_code == 200
    assert (
        client.get("/fhir/Observation", headers=_bearer(token["access_token"])).status_code == 200
    )
    introspected = client.post(
        "/oauth/introspect", data={"token": token["access_token"], "client_id": done["client_id"]}
    ).get_json()
    assert introspected["scope"] == token["scope"]
    refreshed = _refresh(done, token["refresh_token"], client_id=done["client_id"]).get_json()
    assert refreshed["scope"] == token["scope"]
    narrower = _refresh(
        done,
        refreshed["refresh_token"],
        client_id=done["client_id"],
        scope="patient/Observation.read offline_access",
    ).get_json()
    assert narrower["scope"] == "offline_access patient/Observation.read"


def test_a_partner_asking_in_v1_reads_v1_back(oauth_app: Flask) -> None:
    client_id = _partner(oauth_app, "system/*.rs")
    answer = _backend_token(oauth_app, client_id, "system/Patient.read system/Observation.read")
    assert answer.get_json()["scope"] == "system/Observation.read system/Patient.read"


@pytest.mark.parametrize(
    ("asked", "registered", "granted"),
    [
        ("patient/*.read", "patient/*.rs", "patient/*.read"),
        ("patient/*.rs", "patient/*.rs", "patient/*.rs"),
        (
            "patient/*.*",
            "patient/*.cruds",
            "patient/*.read patient/Appointment.cu patient/Binary.c patient/Consent.cu "
            "patient/DocumentReference.write patient/ImagingStudy.c "
            "patient/QuestionnaireResponse.u",
        ),
        (
            "patient/*.write",
            "patient/*.cruds",
            "patient/Appointment.cu patient/Binary.c patient/Consent.cu "
            "patient/DocumentReference.write patient/ImagingStudy.c "
            "patient/QuestionnaireResponse.u",
        ),
        (
            "patient/QuestionnaireResponse.write",
            "patient/*.cruds",
            "patient/QuestionnaireResponse.u",
        ),
        ("user/Consent.*", "user/*.cruds", "user/Consent.crus"),
        (
            "patient/Observation.read",
            "patient/Observation.rs?category=laboratory",
            "patient/Observation.rs?category=laboratory",
        ),
    ],
)
def test_written_grants(asked: str, registered: str, granted: str) -> None:
    assert written(grantable(asked, registered), asked) == granted


def test_asks_in_v1() -> None:
    assert asks_in_v1("openid patient/*.read")
    assert asks_in_v1("system/Observation.*")
    assert not asks_in_v1("openid patient/*.rs launch/patient")
    assert not asks_in_v1("read write")


# -- 2. a reused authorization code revokes its tokens -----------------------------------------


def test_a_reused_code_is_refused_and_revokes_every_token_issued_from_it(
    oauth_app: Flask,
) -> None:
    # token memory is on only with the shared revocation counter (Redis): the revoking worker
    # must forget at once what it remembers
    store = store_of(oauth_app)
    store.feed, store.token_cache_s = _redis_feed(), 300.0
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, _ = add_app(oauth_app)
    verifier, challenge = pkce()
    params = authorize_params(
        client_id, challenge, "launch/patient openid offline_access patient/*.rs"
    )
    code = get_code(client, params)["code"][0]
    first = exchange(client, client_id, code, verifier).get_json()
    auth = _bearer(first["access_token"])
    assert client.get("/fhir/Patient/3", headers=auth).status_code == 200  # now in memory
    done = {"client": client}
    rotated = _refresh(done, first["refresh_token"], client_id=client_id).get_json()
    assert (
        client.get("/fhir/Patient/3", headers=_bearer(rotated["access_token"])).status_code == 200
    )

    again = exchange(client, client_id, code, verifier)
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"
    assert "access_token" not in again.get_json()
    for token in (first["access_token"], rotated["access_token"]):
        refused = client.get("/fhir/Patient/3", headers=_bearer(token))
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert _refresh(done, rotated["refresh_token"], client_id=client_id).status_code == 400
    introspected = client.post(
        "/oauth/introspect", data={"token": first["access_token"], "client_id": client_id}
    ).get_json()
    assert introspected == {"active": False}


def test_a_code_used_twice_at_once_leaves_no_working_token(
    oauth_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second use comes while the first is still issuing its tokens (it found the code,
    nothing is saved yet): the tokens the first use then saves are revoked too."""
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, _ = add_app(oauth_app)
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, "launch/patient offline_access patient/*.rs")
    code = get_code(client, params)["code"][0]
    store = store_of(oauth_app)
    take_code = store.take_code
    racing: list[Any] = []

    def first_then_second(*args: Any) -> Any:
        found = take_code(*args)
        if not racing:  # the second request runs between the first's take and its save
            racing.append(None)
            racing[0] = exchange(oauth_app.test_client(), client_id, code, verifier)
        return found

    monkeypatch.setattr(store, "take_code", first_then_second)
    first = exchange(client, client_id, code, verifier)
    assert first.status_code == 200, first.get_data(as_text=True)
    (second,) = racing
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    token = first.get_json()
    refused = client.get("/fhir/Patient/3", headers=_bearer(token["access_token"]))
    assert refused.status_code == 401
    refreshed = _refresh({"client": client}, token["refresh_token"], client_id=client_id)
    assert refreshed.status_code == 400


def test_an_unknown_code_revokes_nothing_else(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    client, client_id = done["client"], done["client_id"]
    answer = exchange(client, client_id, "never-issued", "x" * 43)
    assert answer.status_code == 400
    read = client.get("/fhir/Patient/3", headers=_bearer(done["token"]["access_token"]))
    assert read.status_code == 200


# -- 6. a public client refreshes without client_id ----------------------------------------------


def test_a_public_client_refreshes_without_client_id(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    refreshed = _refresh(done, done["token"]["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    body = refreshed.get_json()
    assert body["scope"] == done["token"]["scope"]
    assert (
        done["client"].get("/fhir/Patient/3", headers=_bearer(body["access_token"])).status_code
        == 200
    )
    # still single use, still rotated: the old one again revokes the family
    assert _refresh(done, done["token"]["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _refresh(done, body["refresh_token"]).status_code == 400


def test_a_confidential_client_must_still_authenticate_to_refresh(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, secret = add_app(oauth_app, "client_secret_basic")
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, "launch/patient offline_access patient/*.rs")
    code = get_code(client, params)["code"][0]
    token = exchange(client, client_id, code, verifier, auth=(client_id, secret)).get_json()
    done = {"client": client}
    for extra in ({}, {"client_id": client_id}):
        refused = _refresh(done, token["refresh_token"], **extra)
        assert refused.status_code in (400, 401), extra
        assert refused.get_json()["error"] == "invalid_client", extra
    ok = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(client_id, secret),
    )
    assert ok.status_code == 200, ok.get_data(as_text=True)
