"""``fhir-gateway accounts create|unlock`` against the real state DB, HIS and SMTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.cli import main

from .conftest import Inbox


@pytest.fixture
def env(sqlite_his: str, tmp_path: Path, smtp: tuple[Inbox, int]) -> dict[str, str]:
    return {
        "FHIR_GATEWAY_HIS_URL": sqlite_his,
        "FHIR_GATEWAY_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "FHIR_GATEWAY_SMTP_HOST": "127.0.0.1",
        "FHIR_GATEWAY_SMTP_PORT": str(smtp[1]),
        "FHIR_GATEWAY_SECRET_KEY": "cli-test",
        "FHIR_GATEWAY_LOG_LEVEL": "ERROR",
    }


def test_create_then_unlock_after_lockout(
    env: dict[str, str], inbox: Inbox, adults: list[Any]
) -> None:
    from gateway.app import create_app

    runner = CliRunner()
    person = adults[6]
    args = ["accounts", "create", "--national-id", person.national_id, "--email", "c@example.org"]
    done = runner.invoke(main, [*args, "--language", "pl"], env=env)
    assert done.exit_code == 0, done.output
    assert "created account" in done.output
    assert inbox.last_to("c@example.org")["Subject"] == "Twoje konto pacjenta"
    again = runner.invoke(main, args, env=env)
    assert again.exit_code == 1
    assert "taken" in again.output
    config = {k.removeprefix("FHIR_GATEWAY_").lower(): v for k, v in env.items()}
    service = create_app(config).extensions["accounts"]
    temporary = inbox.body("c@example.org").split("tymczasowe: ", 1)[1].split()[0]
    account_id = service.find("c@example.org").id
    for n in range(5):
        # only the lockout is under test here, not the progressive delay
        service.limits.clear([f"addr:10.1.1.{n}", f"acct:{account_id}"])
        service.login("c@example.org", "wrong wrong wrong", f"10.1.1.{n}")
    assert service.login("c@example.org", temporary, "10.1.2.1").status == "locked"
    unlocked = runner.invoke(main, ["accounts", "unlock", "c@example.org"], env=env)
    assert unlocked.exit_code == 0, unlocked.output
    assert service.login("c@example.org", temporary, "10.1.2.2").status == "ok"
    missing = runner.invoke(main, ["accounts", "unlock", "nobody@example.org"], env=env)
    assert missing.exit_code == 1
