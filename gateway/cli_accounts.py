"""``fhir-gateway accounts``: the registration desk's admin commands (F2, F6)."""

from __future__ import annotations

import click
from flask import Flask


def _app() -> Flask:
    from gateway.app import create_app

    return create_app()


@click.group()
def accounts() -> None:
    """Patient accounts: create one for a HIS patient, unlock a locked one."""


@accounts.command("create")
@click.option("--national-id", required=True, help="The patient's CNP or PESEL in the HIS.")
@click.option("--email", required=True, help="Where the temporary password is mailed.")
@click.option("--phone", default="", help="Mobile number for SMS codes (default: the HIS one).")
@click.option("--language", default="ro", type=click.Choice(["ro", "pl", "en"]))
@click.option("--login-url", default="", help="Sign-in page quoted in the mail.")
def create(national_id: str, email: str, phone: str, language: str, login_url: str) -> None:
    """Create the account of a HIS patient and mail a temporary password."""
    from smart_auth.accounts.hospital import create_for_patient

    app = _app()
    service = app.extensions["accounts"]
    settings = app.config["SETTINGS"]
    link = login_url or settings.base_url.removesuffix("/fhir") + "/account/login"
    created = create_for_patient(service, national_id, email, phone, language, link)
    if created.error:
        raise click.ClickException(f"not created: {created.error}")
    click.echo(f"created account {created.account_id} ({created.username}); password mailed")


@accounts.command("unlock")
@click.argument("login")
def unlock(login: str) -> None:
    """Unlock the account LOGIN (email or user name) after too many wrong passwords."""
    if not _app().extensions["accounts"].unlock(login):
        raise click.ClickException("no such account")
    click.echo(f"unlocked {login}")
