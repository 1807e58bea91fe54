"""``fhir-gateway oauth ...``: register SMART apps and partner clinics (admin commands).

Secrets are printed once and stored only as digests. Partners (backend services, F25)
authenticate with ``private_key_jwt``: register their JWKS inline (a file) or its URL.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.settings import Settings, SettingsError
from smart_auth.oauth.revocations import RedisRevocations
from smart_auth.oauth.store import OAuthStore
from smart_auth.state import create_state, make_state_engine

DEFAULT_APP_SCOPE = (
    "launch launch/patient openid fhirUser offline_access online_access patient/*.rs"
)


def _store() -> OAuthStore:
    try:
        settings = Settings.from_mapping()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    engine = make_state_engine(settings.state_url)
    create_state(engine)
    # a client deactivated here revokes its tokens: the running workers must hear of it
    feed = RedisRevocations(settings.redis_url) if settings.redis_url else None
    return OAuthStore(engine, feed=feed)


def _register(store: OAuthStore, **values: object) -> None:
    try:
        client_id, secret = store.register_client(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"client_id: {client_id}")
    if secret:
        click.echo(f"client_secret: {secret}  (shown once; keep it safe)")


@click.group("oauth")
def oauth() -> None:
    """SMART clients: patient apps, the portal, partner clinics."""


@oauth.command("register-app")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--confidential", is_flag=True, help="Issue a client secret (client_secret_basic).")
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks-uri")
@click.option("--scope", default=DEFAULT_APP_SCOPE, show_default=True)
@click.option("--origin", "origins", multiple=True, help="Browser origin allowed by CORS.")
@click.option("--launch-uri", default="", help="Where the portal's EHR launch opens the app.")
def register_app(
    name: str,
    redirect_uris: tuple[str, ...],
    confidential: bool,
    jwks_file: Path | None,
    jwks_uri: str | None,
    scope: str,
    origins: tuple[str, ...],
    launch_uri: str,
) -> None:
    """Register a SMART app (public unless --confidential or a JWKS is given)."""
    jwks = json.dumps(json.loads(jwks_file.read_text())) if jwks_file else None
    if jwks or jwks_uri:
        method = "private_key_jwt"
    else:
        method = "client_secret_basic" if confidential else "none"
    _register(
        _store(),
        name=name,
        kind="app",
        auth_method=method,
        scope=scope,
        redirect_uris=redirect_uris,
        origins=origins,
        launch_uri=launch_uri,
        jwks=jwks,
        jwks_uri=jwks_uri,
    )


@oauth.command("register-partner")
@click.option("--name", required=True)
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks-uri")
@click.option("--scope", default="system/*.rs", show_default=True)
def register_partner(name: str, jwks_file: Path | None, jwks_uri: str | None, scope: str) -> None:
    """Register a partner clinic's backend service (client_credentials, private_key_jwt)."""
    jwks = json.dumps(json.loads(jwks_file.read_text())) if jwks_file else None
    _register(
        _store(),
        name=name,
        kind="partner",
        auth_method="private_key_jwt",
        scope=scope,
        jwks=jwks,
        jwks_uri=jwks_uri,
    )


@oauth.command("rotate-signing-key")
@click.option(
    "--ahead",
    default=0,
    show_default=True,
    help="Seconds before the new key signs: published in the JWKS first, for clients that "
    "cache it.",
)
@click.option(
    "--retire-after",
    default=86400,
    show_default=True,
    help="Delete keys superseded longer ago than this many seconds (their id_tokens expired).",
)
def rotate_signing_key(ahead: int, retire_after: int) -> None:
    """Add a new id_token signing key; the previous ones still verify until retired."""
    from smart_auth.oauth.keys import RELOAD_S, SigningKeys

    kid, retired = SigningKeys(_store().engine).rotate(ahead, retire_after)
    click.echo(f"new signing key {kid}: signs within {ahead + int(RELOAD_S)} s on every worker")
    for old in retired:
        click.echo(f"retired {old}")


@oauth.command("list")
def list_clients() -> None:
    """Every registered client."""
    for c in _store().clients():
        click.echo(f"{c.client_id}\t{c.kind}\t{c.auth_method}\t{c.name}\t{c.scope}")


@oauth.command("set-scope")
@click.argument("client_id")
@click.argument("scope")
def set_scope(client_id: str, scope: str) -> None:
    """Change the scopes a registered client may ask for (one quoted, space-separated list).
    A scope dropped revokes the client's tokens: their holders sign in again."""
    try:
        revoked = _store().set_client_scope(client_id, scope)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if revoked is None:
        raise click.ClickException("no such client")
    click.echo("scope changed; its tokens are revoked" if revoked else "scope changed")


@oauth.command("deactivate")
@click.argument("client_id")
def deactivate(client_id: str) -> None:
    """Stop a client and revoke every token it holds."""
    if not _store().deactivate_client(client_id):
        raise click.ClickException("no such client")
    click.echo("deactivated; its tokens are revoked")
