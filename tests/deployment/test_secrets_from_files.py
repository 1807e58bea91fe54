"""Secrets from files: any option may be given as ``FHIR_GATEWAY_<NAME>_FILE`` naming a file
that holds its value (systemd's LoadCredential, container secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import Settings, SettingsError


def test_a_secret_is_read_from_the_file_the_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("from-a-file-0123456789\n")
    monkeypatch.setenv("FHIR_GATEWAY_SECRET_KEY_FILE", str(secret))
    monkeypatch.delenv("FHIR_GATEWAY_SECRET_KEY", raising=False)
    smtp = tmp_path / "smtp"
    smtp.write_text("p@ss word\r\n")
    monkeypatch.setenv("FHIR_GATEWAY_SMTP_PASSWORD_FILE", str(smtp))
    settings = Settings.from_mapping()
    assert settings.secret_key == "from-a-file-0123456789"
    assert settings.smtp_password == "p@ss word"  # inner spaces kept, the line break not


def test_the_variable_itself_wins_over_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("from-the-file")
    monkeypatch.setenv("FHIR_GATEWAY_SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("FHIR_GATEWAY_SECRET_KEY", "from-the-environment")
    assert Settings.from_mapping().secret_key == "from-the-environment"


def test_an_unreadable_file_is_named_and_nothing_else_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FHIR_GATEWAY_ACCOUNTS_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("FHIR_GATEWAY_ACCOUNTS_ADMIN_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError) as error:
        Settings.from_mapping()
    assert "FHIR_GATEWAY_ACCOUNTS_ADMIN_TOKEN_FILE" in str(error.value)
    assert str(tmp_path) not in str(error.value)
