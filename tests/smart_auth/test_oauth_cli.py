"""``fhir-gateway oauth`` admin commands register clients the server then accepts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from joserfc.jwk import ECKey

from gateway.cli import main
from smart_auth.oauth.store import OAuthStore, digest
from smart_auth.state import make_state_engine


def _run(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> str:
    monkeypatch.setenv("FHIR_GATEWAY_STATE_URL", url)
    result = CliRunner().invoke(main, ["oauth", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_register_app_partner_list_deactivate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    out = _run(
        monkeypatch,
        url,
        "register-app",
        "--name",
        "Portal",
        "--confidential",
        "--redirect-uri",
        "https://portal.example/cb",
    )
    client_id = out.split("client_id: ")[1].split()[0]
    secret = out.split("client_secret: ")[1].split()[0]
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-384").as_dict(private=False)]}))
    out = _run(monkeypatch, url, "register-partner", "--name", "Clinic", "--jwks-file", str(jwks))
    partner_id = out.split("client_id: ")[1].split()[0]
    # generated ids are hex: one starting with "-" would be taken for an option by the commands
    assert all(
        len(i) == 32 and all(c in "0123456789abcdef" for c in i) for i in (client_id, partner_id)
    )
    listing = _run(monkeypatch, url, "list")
    assert client_id in listing
    assert partner_id in listing
    engine = make_state_engine(url)
    store = OAuthStore(engine)
    app = store.client(client_id)
    assert app is not None
    assert app.check_client_secret(secret)
    assert app.secret_hash == digest(secret)
    assert secret not in (app.secret_hash or "")
    partner = store.client(partner_id)
    assert partner is not None
    assert partner.check_grant_type("client_credentials")
    _run(monkeypatch, url, "deactivate", partner_id)
    assert store.client(partner_id) is None
    engine.dispose()


def test_partner_without_keys_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FHIR_GATEWAY_STATE_URL", f"sqlite:///{tmp_path / 's.sqlite'}")
    result = CliRunner().invoke(main, ["oauth", "register-partner", "--name", "Clinic"])
    assert result.exit_code != 0
    assert "JWKS" in result.output


def test_set_scope_widens_in_place_and_a_narrowed_scope_revokes_the_tokens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    out = _run(
        monkeypatch,
        url,
        "register-app",
        "--name",
        "Portal",
        "--scope",
        "openid patient/*.rs",
        "--redirect-uri",
        "https://portal.example/cb",
    )
    client_id = out.split("client_id: ")[1].split()[0]
    engine = make_state_engine(url)
    store = OAuthStore(engine)
    now = int(time.time())

    def token(name: str) -> None:
        store.save_token(
            {
                "client_id": client_id,
                "account_id": 1,
                "scope": "openid patient/*.rs",
                "access_hash": digest(name),
                "family": name[:32],
                "issued_at": now,
                "expires_at": now + 3600,
            }
        )

    token("before-widening")
    assert _run(monkeypatch, url, "set-scope", client_id, "openid launch patient/*.rs") == (
        "scope changed\n"
    )
    client = store.client(client_id)
    assert client is not None
    assert client.scope == "launch openid patient/*.rs"
    assert store.by_access_token("before-widening") is not None  # widening keeps the tokens

    out = _run(monkeypatch, url, "set-scope", client_id, "openid launch")
    assert out == "scope changed; its tokens are revoked\n"
    assert store.by_access_token("before-widening") is None
    client = store.client(client_id)
    assert client is not None
    assert client.get_allowed_scope("patient/Observation.rs") is None

    result = CliRunner().invoke(main, ["oauth", "set-scope", "no-such-client", "openid"])
    assert result.exit_code != 0
    assert "no such client" in result.output
    result = CliRunner().invoke(main, ["oauth", "set-scope", client_id, "not-a-scope"])
    assert result.exit_code != 0
    assert "empty" in result.output
    engine.dispose()
