"""``fhir-gateway questionnaires notify``: one sweep of the assignment mail (F18).

Run it periodically until a job queue does (every minute or few, from cron or a systemd
timer; see the README). Sweeps on several hosts at once are safe: each assignment is mailed
once. ``notify_assignments(settings)`` is the same sweep for code.
"""

from __future__ import annotations

import click

from gateway.settings import Settings, SettingsError
from smart_auth.questionnaires import SweepReport, assignment_mail
from smart_auth.state import create_state, make_state_engine


def notify_assignments(settings: Settings) -> SweepReport:
    """One sweep with the configured HIS, state database and mail."""
    from fhir_gateway.his.sql import SqlConnector

    from .app import identifier_systems

    his = SqlConnector.from_url(
        settings.his_url,
        identifier_systems(settings),
        pool_size=1,
        timeout_s=settings.his_timeout_s,
    )
    state = make_state_engine(settings.state_url, timeout_s=settings.state_timeout_s)
    try:
        create_state(state)
        return assignment_mail(settings, state, his).run()
    finally:
        state.dispose()
        his.engine.dispose()


@click.group()
def questionnaires() -> None:
    """Questionnaires the HIS assigns to patients (F18)."""


@questionnaires.command()
def notify() -> None:
    """Mail every patient a new questionnaire was assigned to (once per assignment)."""
    try:
        settings = Settings.from_mapping()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    from fhir_gateway.his.connector import HisUnreachable

    try:
        report = notify_assignments(settings)
    except HisUnreachable:
        raise click.ClickException("the HIS did not answer; run the sweep again later") from None
    click.echo(
        f"assignments read: {report.seen}, mailed: {report.sent}, already taken: "
        f"{report.taken}, not to mail: {report.skipped}, without an email address: "
        f"{report.no_address}, failed (tried again later): {report.failed}"
    )
