"""Hostile input to the authorization server (/oauth/token, /oauth/authorize, /oauth/revoke,
/oauth/introspect), the sign-in and registration forms and /auth/result-access: never a 5xx,
RFC 6749 §5.2 JSON errors or the form's own error, no internals, nothing unbounded reflected into
a header, on a state database on SQLite and on PostgreSQL (which refuses NUL in text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from smart_auth.oauth.routes import _AUTHORIZE_PARAMS, MAX_AUTHORIZE_VALUE, MAX_STATE
from tests.conftest import scratch_postgres
from tests.smart_auth.test_oauth_fixtures import (
    REDIRECT,
    add_account,
    add_app,
    authorize_params,
    pkce,
)

from .conftest import EXAMPLES, assert_oauth_error, no_internals, oauth_app_on, timed

#: RFC 6749 §5.2 error codes of the token endpoint, RFC 7009/7662 clients' errors besides.
TOKEN_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "unsupported_token_type",
    }
)
HOSTILE = [
    "\x00",
    "a\x00b",
    "\x1f",
    "\x7f",
    "\x85",
    "x\ny",
    "é",
    "\U0001d11e",
    "a" * 5000,
    "' OR 1=1--",
    "%00",
    "",
    " ",
]
TOKEN_FIELDS = [
    "grant_type",
    "code",
    "refresh_token",
    "client_id",
    "client_secret",
    "redirect_uri",
    "code_verifier",
    "scope",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
]
GRANT_TYPES = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
    "implicit",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
]


def hostile() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def auth_app(
    request: pytest.FixtureRequest, sqlite_his: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """The gateway with authorization on, its state on each database."""
    tmp = tmp_path_factory.mktemp("fuzz-auth")
    if request.param == "sqlite":
        app = oauth_app_on(f"sqlite:///{tmp / 'state.sqlite'}", sqlite_his, tmp)
        yield app
        _close(app)
        return
    with scratch_postgres("state_fuzz") as url:
        app = oauth_app_on(url, sqlite_his, tmp)
        yield app
        _close(app)


def _close(app: Flask) -> None:
    """Stop the audit writer before its database goes, then the state's connections."""
    app.extensions["audit_writer"].close()
    app.extensions["state_engine"].dispose()


@pytest.fixture(scope="module")
def client_id(auth_app: Flask) -> str:
    return add_app(auth_app)[0]


# --- /oauth/token, /oauth/revoke, /oauth/introspect --------------------------------------------


@pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_a_nul_in_any_token_endpoint_field_is_invalid_request(
    auth_app: Flask, client_id: str, endpoint: str
) -> None:
    """NUL answered 500 on a PostgreSQL state database; now RFC 6749 §5.2 ``invalid_request``."""
    client = auth_app.test_client()
    for field in TOKEN_FIELDS:
        data = {"grant_type": "authorization_code", "client_id": client_id, "code": "c"}
        data[field] = "x\x00"
        answer = timed(client.post, endpoint, data=data)
        assert_oauth_error(answer, "", TOKEN_ERRORS)
        assert answer.get_json()["error"] == "invalid_request", field
        assert "x\x00" not in answer.get_data(as_text=True)


def test_a_nul_in_the_basic_credential_is_invalid_request(auth_app: Flask) -> None:
    import base64

    basic = base64.b64encode(b"client\x00:secret").decode()
    answer = timed(
        auth_app.test_client().post,
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert_oauth_error(answer, "", TOKEN_ERRORS)


@settings(settings.get_profile("fuzz"), max_examples=EXAMPLES)
@given(data=st.data())
def test_hostile_token_requests_get_rfc6749_errors(
    auth_app: Flask, client_id: str, data: st.DataObject
) -> None:
    form: list[tuple[str, str]] = [
        ("grant_type", data.draw(st.one_of(st.sampled_from(GRANT_TYPES), hostile()), label="gt"))
    ]
    if data.draw(st.booleans(), label="real client"):
        form.append(("client_id", client_id))
    for field in data.draw(st.lists(st.sampled_from(TOKEN_FIELDS), max_size=5), label="fields"):
        form.append((field, data.draw(hostile(), label=field)))
    endpoint = data.draw(
        st.sampled_from(["/oauth/token", "/oauth/token", "/oauth/revoke", "/oauth/introspect"])
    )
    answer = timed(auth_app.test_client().post, endpoint, data=MultiDict(form))
    sent = "".join(v for _, v in form)
    if endpoint == "/oauth/revoke" and answer.status_code == 200:
        return  # RFC 7009 §2.2: an unknown token is revoked as far as the client can tell
    assert_oauth_error(answer, sent, TOKEN_ERRORS)


# --- /oauth/authorize -----------------------------------------------------------------------------


def _forwarded(location: str) -> dict[str, str]:
    """The authorization request carried through the sign-in page's ``next``."""
    login = urlsplit(location)
    assert login.path == "/account/login", location
    nxt = dict(parse_qsl(login.query))["next"]
    assert nxt.startswith("/oauth/authorize?"), nxt
    return dict(parse_qsl(urlsplit(nxt).query, keep_blank_values=True))


def test_an_over_long_state_is_refused_without_a_redirect(auth_app: Flask, client_id: str) -> None:
    """The state was copied, whatever its length, into the Location of an unauthenticated
    request; over ``MAX_STATE`` it is now a 400 that repeats nothing."""
    _, challenge = pkce()
    params = authorize_params(client_id, challenge, "patient/*.rs", state="s" * (MAX_STATE + 1))
    for method in ("GET", "POST"):
        send = auth_app.test_client().open
        answer = timed(
            send,
            "/oauth/authorize",
            method=method,
            **({"query_string": params} if method == "GET" else {"data": params}),
        )
        assert answer.status_code == 400
        assert "Location" not in answer.headers
        assert answer.get_json()["error"] == "invalid_request"
        assert "s" * 100 not in answer.get_data(as_text=True)


def test_a_state_within_the_bound_is_carried_through_sign_in(
    auth_app: Flask, client_id: str
) -> None:
    _, challenge = pkce()
    params = authorize_params(client_id, challenge, "patient/*.rs", state="s" * MAX_STATE)
    answer = timed(
        auth_app.test_client().get, "/oauth/authorize", query_string={**params, "x-evil": "e" * 900}
    )
    assert answer.status_code == 302
    forwarded = _forwarded(answer.headers["Location"])
    assert forwarded == params  # the request's own parameters, not the caller's additions


def test_a_signed_in_request_with_an_over_long_state_is_not_redirected(
    auth_app: Flask, client_id: str
) -> None:
    client = auth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(auth_app, (3, 'self'))}")
    _, challenge = pkce()
    params = authorize_params(client_id, challenge, "patient/*.rs", state="s" * (MAX_STATE + 1))
    answer = timed(client.get, "/oauth/authorize", query_string=params)
    assert answer.status_code == 400
    assert not answer.headers.get("Location", "").startswith(REDIRECT)


@settings(settings.get_profile("fuzz"), max_examples=EXAMPLES)
@given(data=st.data())
def test_hostile_authorization_requests_reflect_nothing_unbounded(
    auth_app: Flask, client_id: str, data: st.DataObject
) -> None:
    """Unauthenticated: either a 400 JSON error or the sign-in redirect carrying only the
    authorization request's parameters, each within its bound."""
    _, challenge = pkce()
    params = authorize_params(client_id, challenge, "patient/*.rs")
    names = [*_AUTHORIZE_PARAMS, "x-other", "next", "\x00"]
    for name in data.draw(st.lists(st.sampled_from(names), max_size=4), label="names"):
        params[name] = data.draw(
            st.one_of(hostile(), st.text(min_size=1000, max_size=2100, alphabet="ab%&=")),
            label=name,
        )
    answer = timed(auth_app.test_client().get, "/oauth/authorize", query_string=params)
    body = answer.get_data(as_text=True)
    no_internals(body, "".join(params.values()))
    if answer.status_code == 400:
        assert answer.get_json()["error"] == "invalid_request"
        assert "Location" not in answer.headers
        return
    assert answer.status_code == 302, body[:300]
    forwarded = _forwarded(answer.headers["Location"])
    assert set(forwarded) <= set(_AUTHORIZE_PARAMS)
    for name, value in forwarded.items():
        assert len(value) <= (MAX_STATE if name == "state" else MAX_AUTHORIZE_VALUE)


# --- the sign-in and registration forms -----------------------------------------------------------


def _csrf(client: Any, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/account/login", {"login": "a\x00b", "password": "p"}),
        ("/account/login", {"login": "me@example.org", "password": "p\x00"}),
        ("/account/register", {"full_name": "A\x00 B", "national_id": "1800101221144"}),
        ("/account/register", {"full_name": "A B", "national_id": "1\x00"}),
        ("/account/login", {"login": "l" * 5000, "password": "p"}),
    ],
)
def test_a_nul_in_a_form_is_the_forms_own_error(
    auth_app: Flask, path: str, fields: dict[str, str]
) -> None:
    """The sign-in form answered 500 on a PostgreSQL state database; now the form again, 400,
    with the error said in the page's language."""
    client = auth_app.test_client()
    answer = timed(client.post, path, data={**fields, "csrf_token": _csrf(client, path)})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert f'action="{path}"' in body  # the same form, to correct
    assert "control characters" in body
    no_internals(body)


def test_a_non_ascii_csrf_token_or_code_is_a_400(auth_app: Flask) -> None:
    """hmac.compare_digest raises TypeError on non-ASCII text: that was a 500."""
    client = auth_app.test_client()
    _csrf(client, "/account/login")
    answer = timed(client.post, "/account/login", data={"csrf_token": "é", "login": "a"})
    assert answer.status_code == 400
    answer = timed(client.post, "/oauth/authorize", data={"csrf_token": "é", "_consent": "1"})
    assert answer.status_code < 500


@settings(settings.get_profile("fuzz"), max_examples=EXAMPLES // 2)
@given(
    path=st.sampled_from(["/account/login", "/account/register", "/account/forgot"]),
    values=st.dictionaries(
        st.sampled_from(["login", "password", "full_name", "national_id", "email", "next"]),
        hostile(),
        max_size=4,
    ),
)
def test_hostile_forms_are_never_a_server_error(
    auth_app: Flask, path: str, values: dict[str, str]
) -> None:
    client = auth_app.test_client()
    answer = timed(client.post, path, data={**values, "csrf_token": _csrf(client, path)})
    assert answer.status_code in (200, 302, 400, 423, 429), answer.status_code
    no_internals(answer.get_data(as_text=True), "".join(values.values()))


# --- /auth/result-access --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["code", "national_id"])
def test_a_nul_in_result_access_is_invalid_request(auth_app: Flask, field: str) -> None:
    data = {"code": "ABCD-1234", "national_id": "1800101221144", field: "1\x00"}
    answer = timed(auth_app.test_client().post, "/auth/result-access", data=data)
    assert_oauth_error(answer, "", TOKEN_ERRORS)
    assert answer.get_json()["error"] == "invalid_request"


@settings(settings.get_profile("fuzz"), max_examples=EXAMPLES // 2)
@given(code=hostile(), national_id=hostile(), address=st.integers(1, 250))
def test_hostile_result_access_gets_json_errors(
    auth_app: Flask, code: str, national_id: str, address: int
) -> None:
    answer = timed(
        auth_app.test_client().post,
        "/auth/result-access",
        data={"code": code, "national_id": national_id},
        environ_base={"REMOTE_ADDR": f"10.9.0.{address}"},
    )
    if answer.status_code == 429:
        assert answer.get_json()["error"] == "slow_down"
        return
    assert_oauth_error(answer, code + national_id, TOKEN_ERRORS)
