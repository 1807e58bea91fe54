"""``fhir-gateway oauth`` admin commands register clients the server then accepts."""

from __future__ import annotations

import json
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
