"""The ``fhir-gateway`` command: serve, build a HIS, check the configuration."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from .settings import Settings, SettingsError, options_markdown, sections, shared_fingerprint


def _settings() -> Settings:
    try:
        return Settings.from_mapping()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def main() -> None:
    """FHIR R4 gateway over a hospital HIS. Settings come from FHIR_GATEWAY_* variables."""


@main.command()
@click.option("--host", help="Listen address (default: FHIR_GATEWAY_HOST).")
@click.option("--port", type=int, help="Listen port (default: FHIR_GATEWAY_PORT).")
@click.option("--workers", type=int, help="Worker processes (default: 2 x cores + 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway under gunicorn."""
    from .app import serving_notices
    from .server import run

    settings = _settings()
    for notice in serving_notices(settings):
        click.echo(f"WARNING: {notice}", err=True)
    run(settings, host=host, port=port, workers=workers)


@main.command()
@click.option("--threads", type=int, help="Jobs run at once (default: FHIR_GATEWAY_QUEUE_THREADS).")
def worker(threads: int | None) -> None:
    """Run the job queue's worker: notifications and periodic jobs, until SIGTERM."""
    from fhir_gateway import logs
    from notifications.jobs import PacsArrivals
    from notifications.worker import run as run_worker

    from .app import _pacs_backend, pacs_settings_of

    settings = _settings()
    logs.configure(settings.log_level, settings.log_json)
    pacs = None
    if settings.pacs_enabled:
        pacs = PacsArrivals(_pacs_backend(settings, pacs_settings_of(settings)))
    run_worker(settings, his=_his_connector(settings), threads=threads, pacs=pacs)


def _his_connector(settings: Settings) -> Any:
    from fhir_gateway.his.sql import SqlConnector

    from .app import identifier_systems

    return SqlConnector.from_url(
        settings.his_url,
        identifier_systems(settings),
        pool_size=2,
        timeout_s=settings.his_timeout_s,
    )


@main.group()
def notifications() -> None:
    """Notifications to patients (F22)."""


@notifications.command("undeliverable")
@click.option("--limit", type=int, default=1000, show_default=True)
def notifications_undeliverable(limit: int) -> None:
    """The messages that could not be delivered, as JSON lines (no address, no text)."""
    import json

    from notifications.worker import build

    settings = _settings()
    store = build(settings, his=_his_connector(settings)).runtime.store
    for row in store.undeliverable_list(limit):
        click.echo(json.dumps(row, default=str, sort_keys=True))


@notifications.command("preferences")
@click.argument("patient_id", type=int)
@click.option("--language", type=click.Choice(["ro", "pl", "en"]), help="Language of messages.")
@click.option("--email", "email_kinds", help="Event kinds by email: comma-separated, all, or none.")
@click.option("--sms", "sms_kinds", help="Event kinds by SMS: comma-separated, all, or none.")
def notifications_preferences(
    patient_id: int, language: str | None, email_kinds: str | None, sms_kinds: str | None
) -> None:
    """Show a patient's notification preferences, or change them (the registration desk)."""
    from notifications.store import Preferences, parse_kinds
    from notifications.worker import build

    settings = _settings()
    store = build(settings, his=_his_connector(settings)).runtime.store
    prefs = store.preferences(patient_id)

    def kinds(raw: str | None, current: frozenset[str]) -> frozenset[str]:
        if raw is None:
            return current
        try:
            return frozenset() if raw.strip() == "none" else parse_kinds(raw)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None

    if language or email_kinds is not None or sms_kinds is not None:
        prefs = Preferences(
            language or prefs.language,
            kinds(email_kinds, prefs.email),
            kinds(sms_kinds, prefs.sms),
        )
        store.set_preferences(patient_id, prefs)
    click.echo(f"language: {prefs.language}")
    click.echo(f"email: {','.join(sorted(prefs.email)) or 'none'}")
    click.echo(f"sms: {','.join(sorted(prefs.sms)) or 'none'}")


@main.group()
def his() -> None:
    """The embedded HIS database (demo and tests)."""


@his.command("create")
def his_create() -> None:
    """Create the HIS tables in FHIR_GATEWAY_HIS_URL if they are missing."""
    from fhir_gateway.his.schema import metadata
    from fhir_gateway.his.sql import make_engine

    url = _settings().his_url
    _ensure_sqlite_dir(url)
    metadata.create_all(make_engine(url))
    click.echo("HIS tables are in place")


@his.command("seed")
@click.option("--patients", type=int, default=200, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Reference date (default: today).")
@click.option(
    "--max-document-patients",
    type=int,
    default=None,
    help="Render documents and PDFs for the first N patients only (large HIS).",
)
@click.option("--replace", is_flag=True, help="Drop the existing HIS tables first.")
def his_seed(
    patients: int,
    seed: int,
    today: dt.datetime | None,
    max_document_patients: int | None,
    replace: bool,
) -> None:
    """Fill the HIS with a deterministic synthetic hospital."""
    from demo.generator import generate
    from fhir_gateway.his.schema import metadata
    from fhir_gateway.his.sql import make_engine

    url = _settings().his_url
    _ensure_sqlite_dir(url)
    engine = make_engine(url)
    if replace:
        metadata.drop_all(engine)
    started = time.monotonic()
    summary = generate(
        engine,
        patients=patients,
        seed=seed,
        today=(today.date() if today else dt.date.today()),
        max_document_patients=max_document_patients,
        progress=lambda msg: click.echo(f"[{time.monotonic() - started:7.1f}s] {msg}", err=True),
    )
    click.echo(f"HIS ready in {time.monotonic() - started:.1f}s: {summary}")


@main.command("check-config")
def check_config() -> None:
    """Show the effective settings and whether the HIS answers."""
    from fhir_gateway.his.connector import HisUnreachable
    from fhir_gateway.his.sql import SqlConnector

    from .app import identifier_systems

    settings = _settings()
    for title, options in sections(settings).items():
        click.echo(f"[{title}]")
        for name, value in options.items():
            click.echo(f"{name} = {shown_value(name, value)}")
    click.echo(f"base_url = {settings.base_url}")
    # compare across hosts: the settings every host must share (README, "Running in production")
    click.echo(f"shared settings fingerprint = {shared_fingerprint(settings)}")
    try:
        SqlConnector.from_url(settings.his_url, identifier_systems(settings)).ping()
    except HisUnreachable:
        raise click.ClickException("the HIS database does not answer") from None
    click.echo("HIS: reachable")
    if settings.dev_open_access:
        click.echo("WARNING: development open access is on", err=True)


#: Settings whose values are secrets: check-config says whether they are set, never what.
_SECRET_WORDS = ("secret", "password", "token")


def shown_value(name: str, value: Any) -> Any:
    """A setting as check-config prints it: secrets as "(set)", URLs without their password."""
    if any(word in name for word in _SECRET_WORDS):
        return "(set)" if value else "(not set)"
    if isinstance(value, str) and "://" in value and "@" in value:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return make_url(value).render_as_string(hide_password=True)
        except ArgumentError:
            scheme, _, rest = value.partition("://")
            return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return value


@main.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference as a Markdown table."""
    click.echo(options_markdown())


def _ensure_sqlite_dir(url: str) -> None:
    """Make the folder of a SQLite file (the settings made its path absolute)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _register_optional(group: Any) -> None:
    try:
        from demo.cli_pacs import pacs
    except ImportError:
        return
    group.add_command(pacs)


_register_optional(main)

from gateway.cli_accounts import accounts as _accounts  # noqa: E402

main.add_command(_accounts)

from gateway.cli_oauth import oauth as _oauth  # noqa: E402

main.add_command(_oauth)

from gateway.cli_state import state as _state  # noqa: E402

main.add_command(_state)

from gateway.cli_questionnaires import questionnaires as _questionnaires  # noqa: E402

main.add_command(_questionnaires)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name=os.path.basename(sys.argv[0])))
