"""``make demo``'s set-up steps (``demo.setup``, ``demo.sinks``) with the servers made here:
the demo accounts and clients are created once and reused by a second run; each demo account
signs in through the portal with the documented password and its second factor from the
sink the README names (the Romanian patient's and the parent's by mail, the Polish
patient's by SMS); the parent then sees the child in the identity switcher; the demo SMART
app is a public client."""

from __future__ import annotations

import io
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from demo.setup import DEMO_PASSWORD, describe, setup
from demo.sinks import Sinks, text_of
from gateway.cli import main
from portal.app import create_portal
from portal.client import Gateway
from tests.conftest import app_config
from tests.portal.conftest import Served, pytestmark  # noqa: F401
from tests.smart_auth.accounts.test_pages import accept_clause


def free_port() -> int:
    with socket.socket() as probe:  # aiosmtpd's start-up self-check needs a real port
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def latest_code(sinks: Sinks, email: str, phone_digits: str | None) -> str:
    if phone_digits is None:
        mails = [m for m in sinks.mail if m["To"] == email]
        assert mails, f"no mail to {email}"
        found = re.search(r"\b(\d{6})\b", text_of(mails[-1]))
    else:
        texts = [s["text"] for s in sinks.sms if re.sub(r"\D", "", s["to"]) == phone_digits]
        assert texts, "no SMS"
        found = re.search(r"\b(\d{4})\b", texts[-1])
    assert found
    return found.group(1)


@pytest.fixture
def demo_env(sqlite_his: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    printed = io.StringIO()
    sinks = Sinks(tmp_path / "messages", free_port(), free_port(), out=printed).start()
    config = app_config(sqlite_his, dev_open_access=False)
    for key, value in {
        **config,
        "data_dir": str(tmp_path),
        "accounts_second_factor": "sms",
        "smtp_host": "127.0.0.1",
        "smtp_port": sinks.smtp.port,
        "sms_url": sinks.sms_url,
    }.items():
        monkeypatch.setenv(
            f"FHIR_GATEWAY_{key.upper()}",
            str(value).lower() if isinstance(value, bool) else str(value),
        )
    yield sinks
    sinks.stop()


def test_demo_setup_is_reused_and_every_demo_account_signs_in_through_the_portal(
    demo_env: Sinks, browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.app import create_app

    sinks = demo_env
    gateway, portal = Served(), Served()
    config = {"public_base_url": f"{gateway.url}/fhir"}
    out = tmp_path / "demo"
    first = setup(out, portal.url, "http://127.0.0.1:8091/callback", config)
    # as a portal registered by an earlier release, without the scopes of the EHR launch
    narrowed = CliRunner().invoke(
        main, ["oauth", "set-scope", first.clients["portal"], "openid fhirUser patient/*.rs"]
    )
    assert narrowed.exit_code == 0, narrowed.output
    second = setup(out, portal.url, "http://127.0.0.1:8091/callback", config)
    assert second.clients == first.clients  # reused, the secret still good
    assert {k: v[1].id for k, v in second.accounts.items()} == {
        k: v[1].id for k, v in first.accounts.items()
    }
    summary = describe(second, portal.url)
    assert DEMO_PASSWORD in summary
    assert first.clients["app"] in summary

    gw = create_app(config)
    gateway.start(gw)
    portal_client = gw.extensions["smart_oauth"].store.client(first.clients["portal"])
    assert portal_client is not None
    assert set(portal_client.scope.split()) == set(Gateway.scope.split())  # set again
    app_client = gw.extensions["smart_oauth"].store.client(first.clients["app"])
    assert app_client is not None
    assert app_client.public
    for line in first.env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        monkeypatch.setenv(key, value.strip("'"))
    portal_app = create_portal()
    portal.start(portal_app)
    try:
        for key, (account, who, child) in second.accounts.items():
            context = browser.new_context(locale="en-GB")
            page = context.new_page()
            page.goto(f"{portal.url}/sign-in")
            page.get_by_label("Email or user name").fill(account.email)
            page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            phone = None
            if account.codes_by == "sms":
                phone = re.sub(r"\D", "", demo_phone(gw, account.email))
            page.get_by_label("Code").fill(latest_code(sinks, account.email, phone))
            page.get_by_role("button", name="Verify").click()
            accept_clause(page)
            page.wait_for_url(f"{gateway.url}/oauth/authorize?*")
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(f"{portal.url}/")
            assert page.get_by_role("heading", level=1).inner_text() == "Welcome", key
            people = page.get_by_label("Active patient").locator("option").all_inner_texts()
            assert who.name in people[0], (key, people)  # their own record, active first
            if child is not None:
                assert any(child.name in p for p in people), people
            context.close()
        # the console shows each code, and the files keep it
        assert isinstance(sinks.out, io.StringIO)
        shown = sinks.out.getvalue()
        assert "--- MAIL to pacient.ro@demo.invalid" in shown
        assert "--- SMS to " in shown
        assert len(list((tmp_path / "messages" / "mail").glob("*.eml"))) == len(sinks.mail)
        assert len(list((tmp_path / "messages" / "sms").glob("*.json"))) == len(sinks.sms) >= 1
    finally:
        portal.stop()
        gateway.stop()
        gw.extensions["state_engine"].dispose()
        portal_app.extensions["portal_engine"].dispose()


def demo_phone(gw: Any, email: str) -> str:
    row = gw.extensions["accounts"].find(email)
    assert row is not None
    assert row.phone
    return str(row.phone)
