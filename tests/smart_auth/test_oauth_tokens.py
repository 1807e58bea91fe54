"""Refresh tokens, OpenID Connect id_token, introspection, revocation, authorised apps."""

from __future__ import annotations

from typing import Any

from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import BASE
from tests.smart_auth.test_oauth_fixtures import his_guardian_link, launch, oauth_app

__all__ = ["oauth_app"]


def _refresh(done: dict[str, Any], refresh_token: str, scope: str | None = None) -> Any:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": done["client_id"],
    }
    if scope is not None:
        data["scope"] = scope
    return done["client"].post("/oauth/token", data=data)


def test_refresh_without_and_with_scope(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    first = _refresh(done, done["token"]["refresh_token"])
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert body["scope"] == done["token"]["scope"]
    assert body["refresh_token"] != done["token"]["refresh_token"]
    assert body["patient"] == "3"
    assert first.headers["Cache-Control"] == "no-store"
    narrower = _refresh(done, body["refresh_token"], scope="patient/Patient.r offline_access")
    assert narrower.status_code == 200, narrower.get_data(as_text=True)
    assert narrower.get_json()["scope"] == "offline_access patient/Patient.r"
    wider = _refresh(done, narrower.get_json()["refresh_token"], scope="patient/*.rs")
    assert wider.status_code == 400
    assert wider.get_json()["error"] == "invalid_scope"


def test_reused_refresh_token_revokes_its_chain(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    old = done["token"]["refresh_token"]
    rotated = _refresh(done, old).get_json()
    reuse = _refresh(done, old)
    assert reuse.status_code == 400
    assert reuse.get_json()["error"] == "invalid_grant"
    # the whole family is gone: the newest refresh and access tokens too
    assert _refresh(done, rotated["refresh_token"]).status_code == 400
    read = done["client"].get(
        "/fhir/Patient/3", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert read.status_code == 401


def test_refresh_token_bound_to_its_client(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    other = launch(oauth_app)
    stolen = {**other, "client": done["client"]}
    assert _refresh(stolen, done["token"]["refresh_token"]).status_code in (400, 401)


def test_no_refresh_token_without_offline_or_online_access(oauth_app: Flask) -> None:
    done = launch(oauth_app, scope="launch/patient patient/*.rs")
    assert "refresh_token" not in done["token"]
    assert "id_token" not in done["token"]


def test_id_token_signed_rs256_with_fhir_user(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    jwks = done["client"].get("/oauth/jwks").get_json()
    token = jwt.decode(done["token"]["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    claims = token.claims
    assert claims["aud"] == done["client_id"]
    assert claims["iss"] == BASE.removesuffix("/fhir")
    assert claims["fhirUser"] == f"{BASE}/Patient/3"
    fhir_user = claims["fhirUser"].removeprefix(BASE)
    read = done["client"].get(
        "/fhir" + fhir_user,
        headers={"Authorization": f"Bearer {done['token']['access_token']}"},
    )
    assert read.status_code == 200


def test_guardian_fhir_user_is_the_related_person(oauth_app: Flask, sqlite_his: str) -> None:
    link, guardian, ward = his_guardian_link(sqlite_his)
    done = launch(oauth_app, patients=((guardian, "self"), (ward, "guardian")))
    # the picker offered both; the launch helper picks the first shown (own record first)
    assert done["token"]["patient"] == str(guardian)
    client = done["client"]
    from tests.smart_auth.test_oauth_fixtures import (
        authorize_params,
        exchange,
        get_code,
        pkce,
    )

    verifier, challenge = pkce()
    query = get_code(
        client,
        authorize_params(
            done["client_id"], challenge, "launch/patient openid fhirUser patient/*.rs"
        ),
        patient=ward,
    )
    token = exchange(client, done["client_id"], query["code"][0], verifier).get_json()
    jwks = KeySet.import_key_set(client.get("/oauth/jwks").get_json())
    claims = jwt.decode(token["id_token"], jwks, algorithms=["RS256"]).claims
    assert claims["fhirUser"] == f"{BASE}/RelatedPerson/{link}"
    assert token["patient"] == str(ward)


def test_introspection_active_and_invalid(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    client = done["client"]
    active = client.post(
        "/oauth/introspect",
        data={"token": done["token"]["access_token"], "client_id": done["client_id"]},
    ).get_json()
    assert active["active"] is True
    assert active["scope"] == done["token"]["scope"]
    assert active["client_id"] == done["client_id"]
    assert isinstance(active["exp"], int)
    assert active["patient"] == "3"
    assert active["fhirUser"] == f"{BASE}/Patient/3"
    assert active["sub"] == str(done["account_id"])
    invalid = client.post(
        "/oauth/introspect", data={"token": "nonsense", "client_id": done["client_id"]}
    )
    assert invalid.status_code == 200
    assert invalid.get_json() == {"active": False}


def test_patient_lists_and_revokes_authorised_apps(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    client = done["client"]
    listed = client.get("/oauth/apps", headers={"Accept": "application/json"}).get_json()
    assert [a["client_id"] for a in listed] == [done["client_id"]]
    page = client.get("/oauth/apps").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    gone = client.post(
        "/oauth/apps/revoke", data={"client_id": done["client_id"], "csrf_token": csrf}
    )
    assert gone.status_code == 302
    assert client.get("/oauth/apps", headers={"Accept": "application/json"}).get_json() == []
    read = client.get(
        "/fhir/Patient/3", headers={"Authorization": f"Bearer {done['token']['access_token']}"}
    )
    assert read.status_code == 401
    assert _refresh(done, done["token"]["refresh_token"]).status_code == 400
