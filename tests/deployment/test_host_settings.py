"""Settings as hosts get them: secrets from files (any option as ``FHIR_GATEWAY_<NAME>_FILE``,
for systemd's LoadCredential or container secrets), and one fingerprint of the settings every
host must share, which ``fhir-gateway check-config`` prints for comparing hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import Settings, SettingsError, shared_fingerprint


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


# --- the settings every host must share ---------------------------------------------------


def _host(**own: object) -> Settings:
    shared = {
        "secret_key": "0123456789abcdef-shared",
        "public_base_url": "https://fhir.hospital.example/fhir",
        "state_url": "postgresql+psycopg://gw:pw@db/state",
        "redis_url": "redis://cache:6379/0",
        "smtp_password": "hunter2hunter2",
    }
    return Settings.from_mapping({**shared, **own}, environ=False)


def test_hosts_with_the_same_shared_settings_have_one_fingerprint() -> None:
    one = _host(host="10.0.10.11", workers=3, audit_journal_dir="/var/lib/a")
    two = _host(host="10.0.10.12", workers=9, audit_journal_dir="/var/lib/b")
    assert shared_fingerprint(one) == shared_fingerprint(two)


@pytest.mark.parametrize(
    "differs",
    [
        {"secret_key": "another-key-0123456789"},
        {"redis_url": ""},
        {"public_base_url": "https://other.example/fhir"},
        {"oauth_token_cache_s": 0},
        {"accounts_max_failed_logins": 9},
        {"pacs_patient_id_source": "national_id"},
    ],
)
def test_a_host_that_differs_in_a_shared_setting_has_another(differs: dict[str, object]) -> None:
    assert shared_fingerprint(_host(**differs)) != shared_fingerprint(_host())


def test_the_fingerprint_shows_no_secret() -> None:
    printed = shared_fingerprint(_host())
    assert len(printed) == 16
    for secret in ("0123456789abcdef-shared", "hunter2hunter2", "pw"):
        assert secret not in printed
