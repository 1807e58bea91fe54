"""Rotating the keys every host shares without breaking what is out there.

The signing secret (FHIR_GATEWAY_SECRET_KEY, with FHIR_GATEWAY_SECRET_KEY_PREVIOUS): paging
links, sessions and viewer links signed with the former key still verify on a gateway that
signs with the new one, and stop verifying once the former key is dropped. The id_token keys
(``fhir-gateway oauth rotate-signing-key``): the JWKS lists the previous key beside the new
one, tokens signed with either verify, a key dated ahead is published before it signs, and a
key superseded long enough ago is retired.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from dicomweb.viewer_tokens import InvalidToken, ViewerClaim, ViewerTokens
from gateway.app import create_app
from smart_auth.oauth.keys import SigningKeys
from smart_auth.state import create_state, make_state_engine
from tests.conftest import app_config
from tests.fhir.helpers import link, local, search
from tests.smart_auth.race import state_app


def _fhir(his: str, secret: str, *previous: str) -> Flask:
    return create_app(app_config(his, secret_key=secret, secret_key_previous=",".join(previous)))


def test_a_paging_link_of_the_former_key_still_works_until_the_key_is_dropped(
    sqlite_his: str,
) -> None:
    before = _fhir(sqlite_his, "key-one").test_client()
    nxt = local(link(search(before, "/fhir/Patient?_count=2"), "next") or "")
    rotated = _fhir(sqlite_his, "key-two", "key-one").test_client()
    assert rotated.get(nxt).status_code == 200
    # what the rotated gateway signs is the new key's: it works once the old key is dropped
    fresh = local(link(search(rotated, "/fhir/Patient?_count=2"), "next") or "")
    after = _fhir(sqlite_his, "key-two").test_client()
    assert after.get(fresh).status_code == 200
    assert after.get(nxt).status_code == 400


def test_a_viewer_link_of_the_former_key_still_works_until_the_key_is_dropped() -> None:
    claim = ViewerClaim("2.25.1", "MRN1", 1, "Patient/1")
    old = ViewerTokens(b"key-one/viewer", 900).mint(claim)
    rotated = ViewerTokens([b"key-one/viewer", b"key-two/viewer"], 900)
    assert rotated.verify(old).study_uid == "2.25.1"
    new = rotated.mint(claim)
    assert ViewerTokens(b"key-two/viewer", 900).verify(new).study_uid == "2.25.1"
    with pytest.raises(InvalidToken):
        ViewerTokens(b"key-two/viewer", 900).verify(old)


@pytest.fixture
def signed_in(sqlite_his: str, tmp_path: Path) -> Iterator[Any]:
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    apps: list[Flask] = []

    def build(secret: str, *previous: str) -> Flask:
        app = state_app(
            sqlite_his, state, secret_key=secret, secret_key_previous=",".join(previous)
        )
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["audit_writer"].close()
        app.extensions["state_engine"].dispose()


def test_a_session_of_the_former_key_stays_signed_in(signed_in: Any) -> None:
    from tests.smart_auth.test_oauth_fixtures import add_account

    before = signed_in("key-one")
    browser = before.test_client()
    browser.get(f"/_test/sign-in/{add_account(before, (3, 'self'))}")
    cookie = browser.get_cookie("session")
    assert cookie is not None
    for app, stays in ((signed_in("key-two", "key-one"), True), (signed_in("key-two"), False)):
        other = app.test_client()
        other.set_cookie("session", cookie.value)
        home = other.get("/account/")
        assert (home.status_code == 200) is stays, home.status_code


# --- the id_token signing keys --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _verifies(keys: SigningKeys, token: str) -> bool:
    jwks = KeySet.import_key_set(keys.jwks())  # type: ignore[arg-type]
    try:
        jwt.decode(token, jwks, algorithms=["RS256"])
    except JoseError:  # no key of that kid, or a bad signature
        return False
    return True


def test_rotating_the_id_token_key_keeps_earlier_tokens_verifiable(tmp_path: Path) -> None:
    engine = make_state_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    create_state(engine)
    clock = Clock()
    keys = SigningKeys(engine, clock=clock)
    first_kid = keys.key.kid
    first = keys.sign({"sub": "1", "iat": int(clock.now)})
    new_kid, retired = SigningKeys(engine, clock=clock).rotate(ahead_s=3600)
    assert retired == []
    # dated ahead: published at once, signing only from then on
    listed = [k["kid"] for k in keys.jwks()["keys"]]
    assert listed == [first_kid, new_kid]
    assert SigningKeys(engine, clock=clock).key.kid == first_kid
    clock.now += 3601
    later = SigningKeys(engine, clock=clock)
    assert later.key.kid == new_kid
    second = later.sign({"sub": "1", "iat": int(clock.now)})
    assert _verifies(later, first)
    assert _verifies(later, second)
    # a running process picks the new key up within RELOAD_S
    from smart_auth.oauth import keys as keys_module

    keys._loaded = time.monotonic() - keys_module.RELOAD_S - 1
    assert keys.key.kid == new_kid
    # the next rotation, a day after the second key began signing, retires the first
    clock.now += 86400 + 1
    third_kid, retired = later.rotate(retire_after_s=86400)
    assert retired == [first_kid]
    listed = [k["kid"] for k in later.jwks()["keys"]]
    assert listed == [new_kid, third_kid]
    assert not _verifies(later, first)
    assert _verifies(later, second)
    engine.dispose()


def test_the_rotation_command_adds_a_key_the_served_jwks_lists(
    sqlite_his: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gateway.cli import main

    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    app = state_app(sqlite_his, url)
    try:
        http = app.test_client()
        before = [k["kid"] for k in http.get("/oauth/jwks").get_json()["keys"]]
        assert len(before) == 1
        monkeypatch.setenv("FHIR_GATEWAY_STATE_URL", url)
        result = CliRunner().invoke(main, ["oauth", "rotate-signing-key", "--ahead", "600"])
        assert result.exit_code == 0, result.output
        new_kid = result.output.split("new signing key ")[1].split(":")[0]
        after = [k["kid"] for k in http.get("/oauth/jwks").get_json()["keys"]]
        assert after == [*before, new_kid]
    finally:
        app.extensions["audit_writer"].close()
        app.extensions["state_engine"].dispose()


def test_an_audit_history_link_of_the_former_key_still_works(
    sqlite_his: str, tmp_path: Path
) -> None:
    from urllib.parse import urlsplit

    from access.policy import Grant

    grant = Grant(
        subject="patient:501",
        client_id="portal",
        patients=frozenset({1}),
        levels=frozenset({"patient"}),
    )

    class Caller:
        def authenticate(self, headers: Any) -> Grant:
            return grant

    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    apps = []

    def gateway(secret: str, *previous: str) -> Flask:
        config = app_config(
            sqlite_his,
            dev_open_access=False,
            state_url=state,
            secret_key=secret,
            secret_key_previous=",".join(previous),
        )
        apps.append(create_app(config, authenticator=Caller()))
        return apps[-1]

    try:
        before = gateway("key-one")
        client = before.test_client()
        for _ in range(3):
            client.get("/fhir/Patient/1")
        before.extensions["audit_writer"].flush()
        first = client.get("/fhir/AuditEvent?_count=1").get_json()
        following = next(x["url"] for x in first["link"] if x["relation"] == "next")
        path = f"/fhir/AuditEvent?{urlsplit(following).query}"
        assert gateway("key-two", "key-one").test_client().get(path).status_code == 200
        assert gateway("key-two").test_client().get(path).status_code == 400
    finally:
        for app in apps:
            app.extensions["audit_writer"].close()
