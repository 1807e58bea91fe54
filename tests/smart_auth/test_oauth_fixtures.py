"""Shared helpers of the OAuth tests: an app with authorization on, accounts, clients, PKCE,
and a full authorization-code launch through the real consent page."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from smart_auth.accounts.tables import account, identity
from smart_auth.oauth.store import OAuthStore
from smart_auth.session import sign_in
from tests.conftest import BASE, app_config

REDIRECT = "https://app.example/callback"
APP_SCOPE = (
    "launch launch/patient openid fhirUser offline_access online_access patient/*.rs user/*.rs"
)
TOKEN_URL = BASE.removesuffix("/fhir") + "/oauth/token"


def make_app(his_url: str, tmp: Path, **extra: Any) -> Flask:
    from gateway.app import create_app

    app = create_app(
        app_config(
            his_url,
            dev_open_access=False,
            state_url=f"sqlite:///{tmp / 'state.sqlite'}",
            outbox_dir=str(tmp / "outbox"),
            **extra,
        )
    )

    @app.get("/_test/sign-in/<int:account_id>")
    def _sign_in(account_id: int) -> str:  # test-only route: the accounts pages do this
        sign_in(account_id)
        return "ok"

    return app


@pytest.fixture
def oauth_app(sqlite_his: str, tmp_path: Path) -> Iterator[Flask]:
    app = make_app(sqlite_his, tmp_path)
    yield app
    app.extensions["state_engine"].dispose()


def store_of(app: Flask) -> OAuthStore:
    return app.extensions["smart_oauth"].store  # type: ignore[no-any-return]


def add_account(app: Flask, *patients: tuple[int, str]) -> int:
    engine = app.extensions["state_engine"]
    now = dt.datetime(2026, 11, 1)
    name = secrets.token_hex(4)
    with engine.begin() as conn:
        account_id = conn.execute(
            account.insert().values(
                username=name, email=f"{name}@example.org", full_name=name, created_at=now
            )
        ).inserted_primary_key[0]
        for patient_id, relation in patients:
            conn.execute(
                identity.insert().values(
                    account_id=account_id,
                    his_patient_id=patient_id,
                    relation=relation,
                    verified_at=now,
                )
            )
    return int(account_id)


def add_app(
    app: Flask, auth_method: str = "none", scope: str | None = None, **kw: Any
) -> tuple[str, str | None]:
    return store_of(app).register_client(
        name="Test App",
        kind="app",
        auth_method=auth_method,
        scope=scope or APP_SCOPE,
        redirect_uris=(REDIRECT,),
        **kw,
    )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def authorize_params(client_id: str, challenge: str, scope: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-" + secrets.token_hex(4),
        "aud": BASE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def consent_form(html: str) -> tuple[str, dict[str, Any]]:
    """The consent page's action and the values its form would post as shown."""
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action is not None, html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf is not None
    scopes = re.findall(r'<input [^>]*name="scope_choice" [^>]*value="([^"]+)"', html)
    patients = re.findall(r'<input [^>]*name="patient" [^>]*value="(\d+)"', html)
    return action.group(1).replace("&amp;", "&"), {
        "csrf_token": csrf.group(1),
        "_consent": "1",
        "decision": "allow",
        "scope_choice": scopes,
        "patients": patients,
    }


def get_code(
    client: FlaskClient,
    params: dict[str, str],
    *,
    patient: int | None = None,
    keep: list[str] | None = None,
) -> dict[str, list[str]]:
    """Run authorize -> consent -> redirect; returns the redirect's query parameters."""
    page = client.get("/oauth/authorize", query_string=params)
    if page.status_code == 302:
        return parse_qs(urlsplit(page.headers["Location"]).query)
    assert page.status_code == 200, page.get_data(as_text=True)
    action, form = consent_form(page.get_data(as_text=True))
    patients = form.pop("patients")
    if keep is not None:
        form["scope_choice"] = [s for s in form["scope_choice"] if s in keep]
    if patients:
        form["patient"] = str(patient if patient is not None else patients[0])
    answer = client.post(action, data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def exchange(
    client: FlaskClient, client_id: str, code: str, verifier: str | None, **extra: Any
) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post("/oauth/token", data=data, **extra)


def launch(
    app: Flask,
    scope: str = "launch/patient openid fhirUser offline_access patient/*.rs",
    patients: tuple[tuple[int, str], ...] = ((3, "self"),),
) -> dict[str, Any]:
    """A complete standalone launch of a public app; returns the token response and more."""
    client = app.test_client()
    account_id = add_account(app, *patients)
    client.get(f"/_test/sign-in/{account_id}")
    client_id, _ = add_app(app)
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, scope)
    query = get_code(client, params)
    assert query["state"] == [params["state"]]
    response = exchange(client, client_id, query["code"][0], verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {
        "client": client,
        "client_id": client_id,
        "account_id": account_id,
        "token": response.get_json(),
        "response": response,
    }


def his_guardian_link(his_url: str) -> tuple[int, int, int]:
    """(link id, guardian patient id, ward patient id) of a guardian link of the test HIS."""
    engine = sa.create_engine(his_url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT id, guardian_id, ward_id FROM guardian_link ORDER BY id LIMIT 1")
        ).first()
    engine.dispose()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])
