"""SMART Backend Services (F25): client_credentials with a private_key_jwt assertion."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.smart_auth.test_oauth_fixtures import TOKEN_URL, oauth_app, store_of

__all__ = ["oauth_app"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _partner(app: Flask, key: Any, **where: Any) -> str:
    if not where:
        where = {"jwks": json.dumps({"keys": [key.as_dict(private=False)]})}
    client_id, secret = store_of(app).register_client(
        name="Partner clinic",
        kind="partner",
        auth_method="private_key_jwt",
        scope="system/*.rs",
        **where,
    )
    assert secret is None
    return client_id


def _assertion(client_id: str, key: Any, alg: str = "RS384", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, body, key, algorithms=[alg])


def _token(app: Flask, assertion: str, **extra: str) -> Any:
    data = {
        "grant_type": "client_credentials",
        "scope": "system/Patient.rs system/Observation.rs",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }
    return app.test_client().post("/oauth/token", data=data)


@functools.cache
def _rsa(kid: str) -> RSAKey:
    """RSA keys are slow to make: one per kid for the whole module."""
    return RSAKey.generate_key(2048, {"kid": kid})


@pytest.fixture
def rsa_key() -> RSAKey:
    return _rsa("rsa-1")


def test_rs384_assertion_gets_a_short_system_token(oauth_app: Flask, rsa_key: RSAKey) -> None:
    client_id = _partner(oauth_app, rsa_key)
    answer = _token(oauth_app, _assertion(client_id, rsa_key))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] <= 300
    assert body["scope"] == "system/Observation.rs system/Patient.rs"
    assert "refresh_token" not in body
    assert answer.headers["Cache-Control"] == "no-store"


def test_es384_assertion(oauth_app: Flask) -> None:
    key = ECKey.generate_key("P-384", {"kid": "ec-1"})
    client_id = _partner(oauth_app, key)
    assert _token(oauth_app, _assertion(client_id, key, alg="ES384")).status_code == 200


def test_without_consent_a_partner_sees_no_patient(oauth_app: Flask, rsa_key: RSAKey) -> None:
    client_id = _partner(oauth_app, rsa_key)
    token = _token(oauth_app, _assertion(client_id, rsa_key)).get_json()["access_token"]
    client = oauth_app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/fhir/Patient/3", headers=auth).status_code == 404
    assert client.get("/fhir/Patient", headers=auth).get_json().get("entry", []) == []


@pytest.mark.parametrize(
    ("case", "expected_error"),
    [
        ("bad grant_type", "unsupported_grant_type"),
        ("bad assertion type", "invalid_client"),
        ("bad signature", "invalid_client"),
        ("expired", "invalid_client"),
        ("exp too far ahead", "invalid_client"),
        ("wrong aud", "invalid_client"),
        ("RS256 not accepted", "invalid_client"),
        ("patient scopes", "invalid_scope"),
    ],
)
def test_bad_requests_are_refused(
    oauth_app: Flask, rsa_key: RSAKey, case: str, expected_error: str
) -> None:
    client_id = _partner(oauth_app, rsa_key)
    other = _rsa("rsa-1-impostor").as_dict(private=True)
    other = RSAKey.import_key({**other, "kid": "rsa-1"})
    now = int(time.time())
    assertion = {
        "bad signature": lambda: _assertion(client_id, other),
        "expired": lambda: _assertion(client_id, rsa_key, exp=now - 120),
        "exp too far ahead": lambda: _assertion(client_id, rsa_key, exp=now + 3600),
        "wrong aud": lambda: _assertion(client_id, rsa_key, aud="https://elsewhere/token"),
        "RS256 not accepted": lambda: _assertion(client_id, rsa_key, alg="RS256"),
    }.get(case, lambda: _assertion(client_id, rsa_key))()
    extra = {
        "bad grant_type": {"grant_type": "password"},
        "bad assertion type": {"client_assertion_type": "urn:example:other"},
        "patient scopes": {"scope": "patient/*.rs"},
    }.get(case, {})
    answer = _token(oauth_app, assertion, **extra)
    assert answer.status_code in (400, 401)
    assert answer.get_json()["error"] == expected_error
    assert "access_token" not in answer.get_json()


def test_reused_jti_is_refused(oauth_app: Flask, rsa_key: RSAKey) -> None:
    client_id = _partner(oauth_app, rsa_key)
    assertion = _assertion(client_id, rsa_key)
    assert _token(oauth_app, assertion).status_code == 200
    again = _token(oauth_app, assertion)
    assert again.status_code in (400, 401)
    assert again.get_json()["error"] == "invalid_client"


@pytest.fixture
def jwks_server(rsa_key: RSAKey) -> Iterator[dict[str, Any]]:
    """A real HTTP server publishing a partner's JWKS (two keys: chosen by kid)."""
    second = _rsa("rsa-2")
    state: dict[str, Any] = {"hits": 0, "second": second}

    @Request.application  # type: ignore[arg-type]
    def serve(request: Request) -> Response:
        state["hits"] += 1
        keys = [rsa_key.as_dict(private=False), second.as_dict(private=False)]
        return Response(json.dumps({"keys": keys}), content_type="application/json")

    server = make_server("127.0.0.1", 0, serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/jwks.json"
    yield state
    server.shutdown()
    thread.join()


def test_jwks_by_url_chosen_by_kid_and_cached(
    oauth_app: Flask, rsa_key: RSAKey, jwks_server: dict[str, Any]
) -> None:
    client_id = _partner(oauth_app, rsa_key, jwks_uri=jwks_server["url"])
    assert _token(oauth_app, _assertion(client_id, rsa_key)).status_code == 200
    second = jwks_server["second"]
    assert _token(oauth_app, _assertion(client_id, second)).status_code == 200
    assert jwks_server["hits"] == 1


def test_a_partner_sees_exactly_the_patients_who_shared_with_it(
    oauth_app: Flask, rsa_key: RSAKey
) -> None:
    """F25: shares granted and withdrawn through the sharing part decide a partner's patients,
    at once, for search, read and the patients' own data."""
    from smart_auth.sharing.service import grant_share, withdraw_share

    engine = oauth_app.extensions["state_engine"]
    client_id = _partner(oauth_app, rsa_key)
    other = _partner(oauth_app, _rsa("rsa-2"))
    grant_share(engine, 3, client_id)
    five = grant_share(engine, 5, client_id)
    grant_share(engine, 7, other)  # shared with another partner only
    token = _token(oauth_app, _assertion(client_id, rsa_key)).get_json()["access_token"]
    client = oauth_app.test_client()
    auth = {"Authorization": f"Bearer {token}"}

    def patient_ids() -> set[str]:
        bundle = client.get("/fhir/Patient?_count=100", headers=auth).get_json()
        return {e["resource"]["id"] for e in bundle.get("entry", [])}

    assert patient_ids() == {"3", "5"}
    assert client.get("/fhir/Patient/5", headers=auth).status_code == 200
    assert client.get("/fhir/Patient/7", headers=auth).status_code == 404
    labs = client.get("/fhir/Observation?patient=7", headers=auth).get_json()
    assert labs.get("entry", []) == []
    withdraw_share(engine, int(five["id"]), frozenset({5}))
    assert patient_ids() == {"3"}
    assert client.get("/fhir/Patient/5", headers=auth).status_code == 404
