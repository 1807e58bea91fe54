"""Apps for the upload tests: a generated HIS, a state database on SQLite or PostgreSQL, and
people signed in through the real authorization server (a patient, a guardian)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from gateway.app import create_app
from smart_auth.session import sign_in
from tests.conftest import app_config, scratch_postgres
from tests.smart_auth.test_oauth_fixtures import (
    REDIRECT,
    add_account,
    authorize_params,
    exchange,
    get_code,
    pkce,
)

WRITE_SCOPE = (
    "launch/patient openid fhirUser patient/*.rs patient/DocumentReference.cud patient/Binary.c"
)
USER_WRITE_SCOPE = "openid fhirUser user/*.rs user/DocumentReference.cud user/Binary.c"


@dataclass
class People:
    app: Flask
    patient: int
    other: int
    guardian: int
    ward: int
    #: name -> Authorization header
    tokens: dict[str, dict[str, str]]
    base: str

    def doc(self, binary_id: str, code: str = "external-lab-result", **more: Any) -> dict[str, Any]:
        return {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": {
                "coding": [
                    {"system": f"{self.base}/CodeSystem/patient-document-type", "code": code}
                ]
            },
            "content": [{"attachment": {"url": f"Binary/{binary_id}"}}],
            **more,
        }


def _launch(app: Flask, account_id: int, scope: str, patient: int | None) -> str:
    client = app.test_client()
    client.get(f"/_test/sign-in/{account_id}")
    client_id, _ = app.extensions["smart_oauth"].store.register_client(
        name="Upload App",
        kind="app",
        auth_method="none",
        scope=scope,
        redirect_uris=(REDIRECT,),
    )
    verifier, challenge = pkce()
    query = get_code(client, authorize_params(str(client_id), challenge, scope), patient=patient)
    answer = exchange(client, str(client_id), query["code"][0], verifier)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()["access_token"])


def build_app(his_url: str, state_url: str, tmp: Path, **settings: Any) -> Flask:
    app = create_app(
        app_config(
            his_url,
            dev_open_access=False,
            state_url=state_url,
            uploads_dir=str(tmp / "uploads"),
            log_level="WARNING",
            **settings,
        )
    )

    @app.get("/_test/sign-in/<int:account_id>")
    def _test_sign_in(account_id: int) -> str:
        sign_in(account_id)
        return "ok"

    return app


def people(app: Flask, his_url: str) -> People:
    engine = sa.create_engine(his_url)
    with engine.connect() as conn:
        guardian, ward = conn.execute(
            sa.text("SELECT guardian_id, ward_id FROM guardian_link ORDER BY id LIMIT 1")
        ).one()
        linked = {
            int(x)
            for pair in conn.execute(sa.text("SELECT guardian_id, ward_id FROM guardian_link"))
            for x in pair
        }
        ids = [
            int(i) for i in conn.execute(sa.text("SELECT id FROM patient ORDER BY id")).scalars()
        ]
    engine.dispose()
    a, b = [i for i in ids if i not in linked][:2]
    account_a = add_account(app, (a, "self"))
    account_b = add_account(app, (b, "self"))
    account_g = add_account(app, (int(guardian), "self"), (int(ward), "guardian"))
    tokens = {
        "patient": _launch(app, account_a, WRITE_SCOPE, a),
        "other": _launch(app, account_b, WRITE_SCOPE, b),
        "guardian": _launch(app, account_g, WRITE_SCOPE, int(ward)),
        "guardian-user": _launch(app, account_g, USER_WRITE_SCOPE, None),
        "reader": _launch(app, account_a, "launch/patient openid patient/*.rs", a),
        "v1-writer": _launch(
            app,
            account_a,
            "launch/patient openid patient/*.read patient/DocumentReference.write "
            "patient/Binary.write",
            a,
        ),
    }
    return People(
        app=app,
        patient=a,
        other=b,
        guardian=int(guardian),
        ward=int(ward),
        tokens={k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()},
        base=app.config["UPLOADS_BASE"],
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state.sqlite"
        return
    with scratch_postgres("uploads_state") as url:
        yield url


@pytest.fixture(scope="module")
def world(sqlite_his: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[People]:
    tmp = tmp_path_factory.mktemp("uploads")
    app = build_app(sqlite_his, f"sqlite:///{tmp}/state.sqlite", tmp)
    yield people(app, sqlite_his)
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


def token() -> str:
    return secrets.token_hex(4)
