"""``fhir-gateway state ...``: the state database's schema (Alembic revisions in
``smart_auth/migrations``). Every worker upgrades it at start-up; ``state upgrade`` does it
beforehand (a deployment step), ``state current`` tells where a database stands."""

from __future__ import annotations

import click
from sqlalchemy.engine import Engine

from gateway.settings import Settings, SettingsError
from smart_auth.state import create_state, current_revision, head_revision, make_state_engine


def _engine() -> Engine:
    try:
        settings = Settings.from_mapping()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    return make_state_engine(settings.state_url, timeout_s=settings.state_timeout_s)


@click.group()
def state() -> None:
    """The gateway's state database (accounts, clients, tokens, shares, audit trail)."""


@state.command()
def upgrade() -> None:
    """Bring the state database to the current schema (a previous release's one is stamped
    first); safe while workers are starting."""
    engine = _engine()
    try:
        before = current_revision(engine)
        create_state(engine)
        click.echo(f"state database: {before or 'unversioned'} -> {current_revision(engine)}")
    finally:
        engine.dispose()


@state.command()
def current() -> None:
    """The revision the state database is at, and the one this version of the code expects."""
    engine = _engine()
    try:
        now = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    click.echo(f"current: {now or 'unversioned'}")
    click.echo(f"head: {head}")
    if now != head:
        click.echo("run `fhir-gateway state upgrade` (or start the gateway) to upgrade")
