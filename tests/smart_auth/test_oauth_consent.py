"""The consent page: in the account pages' languages, never framed, offering what the server
can honour."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from access.scopes import parse_scopes
from smart_auth.accounts import i18n
from smart_auth.oauth import wording
from smart_auth.web import SCOPES_SUPPORTED
from tests.smart_auth.test_oauth_fixtures import (
    add_account,
    add_app,
    authorize_params,
    exchange,
    get_code,
    launch,
    oauth_app,
    pkce,
)

__all__ = ["oauth_app"]
SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"


def _consent_page(app: Flask, **headers: str) -> tuple[str, TestResponse]:
    client = app.test_client()
    client.get(f"/_test/sign-in/{add_account(app, (3, 'self'), (4, 'guardian'))}")
    client_id, _ = add_app(app)
    _, challenge = pkce()
    answer = client.get(
        "/oauth/authorize",
        query_string=authorize_params(client_id, challenge, SCOPE),
        headers=headers,
    )
    assert answer.status_code == 200
    return answer.get_data(as_text=True), answer


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [("ro-RO,ro;q=0.9,en;q=0.5", "ro"), ("pl", "pl"), ("de-DE,en;q=0.8", "en")],
)
def test_the_consent_page_speaks_the_browsers_language(
    oauth_app: Flask, accept_language: str, lang: str
) -> None:
    html, answer = _consent_page(oauth_app, **{"Accept-Language": accept_language})
    assert answer.headers["Content-Language"] == lang
    assert f'<html lang="{lang}">' in html
    assert wording.text("title", lang, app="Test App") in html
    assert wording.text("allow", lang) in html
    assert wording.text("deny", lang) in html
    assert wording.text("whose", lang) in html
    assert wording.text("in_care", lang) in html
    assert i18n.text("site", lang) in html
    for words in (
        wording.text("all_patient", lang),
        wording.text("offline_access", lang),
        wording.text("fhirUser", lang),
    ):
        assert words in html
    if lang != "en":
        assert "records" not in html
        assert "Allow" not in html


def test_the_language_switchers_cookie_wins(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    client_id, _ = add_app(oauth_app)
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, SCOPE)
    page = client.get("/oauth/authorize", query_string=params)
    switch = client.get(
        "/account/lang/pl", query_string={"next": page.request.full_path}
    )  # the switcher's link on the page
    assert switch.status_code == 302
    assert switch.headers["Location"].startswith("/oauth/authorize?")
    html = client.get(
        "/oauth/authorize", query_string=params, headers={"Accept-Language": "ro"}
    ).get_data(as_text=True)
    assert wording.text("title", "pl", app="Test App") in html
    # and the Polish form grants as the English one does
    token = exchange(client, client_id, get_code(client, params)["code"][0], verifier).get_json()
    assert token["scope"] == "fhirUser launch/patient offline_access openid patient/*.rs"


def test_every_scope_the_server_offers_has_words_in_every_language() -> None:
    offered = parse_scopes(" ".join(SCOPES_SUPPORTED))
    for lang in i18n.LANGUAGES:
        described = dict(wording.describe(offered, lang))
        for token in (*offered.context, *offered.identity, *offered.refresh):
            assert described[token] != token, (lang, token)
    for key in wording.all_keys():
        assert len({wording.text(key, lang) for lang in i18n.LANGUAGES}) == 3, key


def test_no_page_of_the_authorization_server_or_the_accounts_may_be_framed(
    oauth_app: Flask,
) -> None:
    _, consent = _consent_page(oauth_app)
    client = oauth_app.test_client()
    client.get(f"/_test/sign-in/{add_account(oauth_app, (3, 'self'))}")
    pages = [
        consent,
        client.get("/oauth/apps"),
        oauth_app.test_client().get("/account/login"),
        oauth_app.test_client().get("/account/register"),
    ]
    for answer in pages:
        assert answer.status_code == 200, answer.request.path
        assert answer.mimetype == "text/html"
        headers = answer.headers
        assert headers["X-Frame-Options"] == "DENY", answer.request.path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    csp = consent.headers["Content-Security-Policy"]
    # the consent form's answer redirects to the app: allowed there and to this site only
    assert "form-action 'self' https://app.example" in csp
    assert consent.headers["Cache-Control"] == "no-store"


def test_the_apps_page_speaks_the_chosen_language_too(oauth_app: Flask) -> None:
    done = launch(oauth_app)
    client = done["client"]
    page = client.get("/oauth/apps", headers={"Accept-Language": "ro"})
    html = page.get_data(as_text=True)
    assert page.headers["Content-Language"] == "ro"
    assert '<html lang="ro">' in html
    assert wording.text("apps_title", "ro") in html
    assert wording.text("apps_revoke", "ro") in html
    assert "Test App" in html
    client.get("/account/lang/pl")
    assert wording.text("apps_title", "pl") in client.get("/oauth/apps").get_data(as_text=True)
