"""``fhir-gateway questionnaires notify``: ask the workers to look for new questionnaire
assignments now (F18).

The notice of a new assignment is the notifications' ``questionnaire-assigned`` message, sent by
``fhir-gateway worker`` (``notifications.assignments``), which looks every
``FHIR_GATEWAY_NOTIFY_HIS_POLL_S`` anyway; this command only puts one poll of the HIS on the job
queue, for a worker to run at once. It sends nothing itself, so it can never send a second
message. ``enqueue_poll(settings)`` is the same for code.
"""

from __future__ import annotations

import click

from gateway.settings import Settings, SettingsError


def enqueue_poll(settings: Settings) -> None:
    """Put one poll of the HIS (change feed and assignments) on the job queue."""
    from fhir_gateway.his.sql import SqlConnector
    from notifications.worker import build

    from .app import identifier_systems

    his = SqlConnector.from_url(
        settings.his_url,
        identifier_systems(settings),
        pool_size=1,
        timeout_s=settings.his_timeout_s,
    )
    built = build(settings, his=his)
    try:
        built.jobs.poll_his.send()
    finally:
        built.broker.close()
        built.runtime.store.engine.dispose()
        his.engine.dispose()


@click.group()
def questionnaires() -> None:
    """Questionnaires the HIS assigns to patients (F18)."""


@questionnaires.command()
def notify() -> None:
    """Have a worker look for new assignments now (it notifies each once; this sends nothing)."""
    try:
        settings = Settings.from_mapping()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    enqueue_poll(settings)
    click.echo("enqueued: a worker (fhir-gateway worker) polls the HIS for new assignments now")
