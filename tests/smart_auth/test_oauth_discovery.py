"""Discovery (SMART App Launch 2.x "Conformance"), CORS and RFC 7591 registration."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.oidc.discovery import OpenIDProviderMetadata  # type: ignore[import-untyped]
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from conformance.smart import OAUTH_URIS
from tests.conftest import BASE
from tests.smart_auth.test_oauth_fixtures import add_app, launch, make_app, oauth_app

__all__ = ["oauth_app"]
ROOT = BASE.removesuffix("/fhir")


def test_smart_configuration_fields(oauth_app: Flask) -> None:
    answer = oauth_app.test_client().get(
        "/fhir/.well-known/smart-configuration", headers={"Accept": "text/html"}
    )
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    doc = answer.get_json()
    assert doc["token_endpoint"] == f"{ROOT}/oauth/token"
    assert doc["authorization_endpoint"] == f"{ROOT}/oauth/authorize"
    assert doc["issuer"] == ROOT
    assert doc["jwks_uri"] == f"{ROOT}/oauth/jwks"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert set(doc["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    for capability in ("launch-standalone", "launch-ehr", "sso-openid-connect", "permission-v2"):
        assert capability in doc["capabilities"]
    for key in ("introspection_endpoint", "revocation_endpoint", "management_endpoint"):
        assert doc[key].startswith(ROOT + "/oauth/")
    assert "registration_endpoint" not in doc  # dynamic registration is off by default


def test_every_advertised_endpoint_answers(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    doc = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert client.get(doc["jwks_uri"].removeprefix(ROOT)).status_code == 200
    for key in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        answer = client.post(doc[key].removeprefix(ROOT), data={})
        assert answer.status_code in (400, 401), key  # OAuth error JSON, not 404
        assert "error" in answer.get_json()


def test_capability_statement_oauth_uris(oauth_app: Flask) -> None:
    statement = oauth_app.test_client().get("/fhir/metadata").get_json()
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    (ext,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    uris = {e["url"]: e["valueUri"] for e in ext["extension"]}
    assert uris["authorize"] == f"{ROOT}/oauth/authorize"
    assert uris["token"] == f"{ROOT}/oauth/token"


def test_cors_discovery_open_token_only_registered_origins(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    for path in ("/fhir/.well-known/smart-configuration", "/fhir/metadata"):
        answer = client.get(path, headers={"Origin": "https://anyone.example"})
        assert answer.headers["Access-Control-Allow-Origin"] in ("*", "https://anyone.example")
    add_app(oauth_app, origins=("https://app.example",))
    ok = client.post("/oauth/token", data={}, headers={"Origin": "https://app.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"
    api = client.get("/fhir/Patient/3", headers={"Origin": "https://app.example"})
    assert api.headers["Access-Control-Allow-Origin"] == "https://app.example"
    stranger = client.post("/oauth/token", data={}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_cors_answers_vary_on_origin_and_keep_accept_encoding(oauth_app: Flask) -> None:
    """A compressed API answer to a registered app's origin still says it varies on
    Accept-Encoding (a cache must not hand the gzip body to a client that did not ask for it),
    and any answer on those paths varies on Origin, allowed or not."""
    done = launch(oauth_app)
    add_app(oauth_app, origins=("https://app.example",))
    client, patient = done["client"], done["token"]["patient"]
    auth = {"Authorization": f"Bearer {done['token']['access_token']}", "Accept-Encoding": "gzip"}
    path = f"/fhir/Observation?patient={patient}"
    app_answer = client.get(path, headers={**auth, "Origin": "https://app.example"})
    assert app_answer.status_code == 200
    assert app_answer.headers["Content-Encoding"] == "gzip"
    assert app_answer.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert {"Accept-Encoding", "Origin"} <= set(app_answer.vary)
    stranger = client.get(path, headers={**auth, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers
    assert {"Accept-Encoding", "Origin"} <= set(stranger.vary)
    token = client.post("/oauth/token", data={}, headers={"Origin": "https://evil.example"})
    assert "Origin" in token.vary


def test_dynamic_registration_off_by_default(oauth_app: Flask) -> None:
    answer = oauth_app.test_client().post(
        "/oauth/register", json={"redirect_uris": ["https://a.example/cb"]}
    )
    assert answer.status_code == 404


def test_dynamic_registration_of_a_public_patient_app(sqlite_his: str, tmp_path: Path) -> None:
    app = make_app(sqlite_his, tmp_path, oauth_dynamic_registration=True)
    client = app.test_client()
    doc = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert doc["registration_endpoint"] == f"{ROOT}/oauth/register"
    made = client.post(
        "/oauth/register",
        json={"client_name": "My app", "redirect_uris": ["https://a.example/cb"]},
    )
    assert made.status_code == 201
    body = made.get_json()
    assert body["token_endpoint_auth_method"] == "none"
    assert app.extensions["smart_oauth"].store.client(body["client_id"]) is not None
    refused = client.post(
        "/oauth/register",
        json={"redirect_uris": ["https://a.example/cb"], "scope": "system/*.rs"},
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_client_metadata"
    confidential = client.post(
        "/oauth/register",
        json={
            "redirect_uris": ["https://a.example/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    assert confidential.status_code == 400
    app.extensions["state_engine"].dispose()


def _openid_configuration_of(client: FlaskClient, issuer: str) -> Any:
    """OpenID Connect Discovery 1.0 §4: the issuer's URL plus /.well-known/openid-configuration,
    as the app behind the issuer's path sees it."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    prefix = BASE.removesuffix("/fhir")
    return client.get(url.removeprefix(prefix) if url.startswith(prefix) else urlsplit(url).path)


def test_openid_configuration_is_served_at_the_issuer_and_matches_the_id_token(
    oauth_app: Flask,
) -> None:
    """sso-openid-connect is advertised: the provider metadata is where the issuer says, names
    the same issuer and keys as the smart-configuration, and describes the id_token issued."""
    client = oauth_app.test_client()
    smart = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert "sso-openid-connect" in smart["capabilities"]
    answer = _openid_configuration_of(client, smart["issuer"])
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    doc = answer.get_json()
    for key in ("issuer", "jwks_uri", "authorization_endpoint", "token_endpoint"):
        assert doc[key] == smart[key], key
    assert "openid" in doc["scopes_supported"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["subject_types_supported"] == ["public"]
    assert (
        doc["id_token_signing_alg_values_supported"]
        == (smart["id_token_signing_alg_values_supported"])
    )
    assert client.get(doc["jwks_uri"].removeprefix(ROOT)).status_code == 200

    done = launch(oauth_app)
    jwks = KeySet.import_key_set(client.get(doc["jwks_uri"].removeprefix(ROOT)).get_json())
    id_token = jwt.decode(
        done["token"]["id_token"], jwks, algorithms=doc["id_token_signing_alg_values_supported"]
    )
    assert id_token.header["alg"] in doc["id_token_signing_alg_values_supported"]
    assert id_token.claims["iss"] == doc["issuer"]
    assert set(id_token.claims) <= set(doc["claims_supported"])


def test_openid_configuration_behind_a_proxy_path_passes_authlib_validation(
    sqlite_his: str, tmp_path: Path
) -> None:
    """Under a public base URL with a path, the issuer keeps the path and the metadata is
    served at issuer + /.well-known/openid-configuration (the proxy strips the path)."""
    app = make_app(sqlite_his, tmp_path, public_base_url="https://gw.example/portal/fhir")
    client = app.test_client()
    smart = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert smart["issuer"] == "https://gw.example/portal"
    answer = client.get("/.well-known/openid-configuration")
    assert answer.status_code == 200
    metadata = OpenIDProviderMetadata(answer.get_json())
    metadata.validate()
    assert metadata["issuer"] == smart["issuer"]
    assert metadata["token_endpoint"] == "https://gw.example/portal/oauth/token"
    # not under the FHIR base: that would name another issuer
    assert client.get("/fhir/.well-known/openid-configuration").status_code != 200
    app.extensions["state_engine"].dispose()
