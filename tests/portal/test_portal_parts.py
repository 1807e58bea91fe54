"""The portal's parts without a browser: the session cookie's flags over https and the refusal
of plain http elsewhere than on loopback, the server-side session store on SQLite, PostgreSQL
and MariaDB, the sign-in's state check, an unreachable gateway, and complete catalogs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import render_template_string

from portal.app import create_portal
from portal.sessions import portal_session
from portal.translations.catalogs import extract
from tests.conftest import scratch_postgres
from tests.his.test_connector_contract import scratch_mariadb

REPO = Path(__file__).resolve().parents[2]
HTTPS = "https://portal.hospital.example"
#: what a browser sends with a form of the portal over https (Referrer-Policy: same-origin)
FROM = {"Referer": f"{HTTPS}/"}


def portal(state_url: str, public: str = HTTPS, fhir: str = "http://127.0.0.1:9/fhir") -> Any:
    return create_portal(
        {
            "portal_fhir_url": fhir,
            "portal_public_url": public,
            "portal_client_id": "portal",
            "portal_client_secret": "s3cret",
            "portal_secret_key": "k",
            "portal_state_url": state_url,
            "portal_http_timeout_s": 2,
        }
    )


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.sqlite'}"
        return
    scratch = scratch_postgres if request.param == "postgresql" else scratch_mariadb
    with scratch("portal") as url:
        yield url


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_session_cookie_is_host_prefixed_secure_httponly_strict_over_https(tmp_path: Path) -> None:
    app = portal(f"sqlite:///{tmp_path / 'p.sqlite'}")
    answer = app.test_client().get("/", base_url=HTTPS)
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("__Host-portal=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= flags
    assert "domain" not in flags
    assert "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'none'" in csp
    assert "unsafe-inline" not in csp
    app.extensions["portal_engine"].dispose()


def test_plain_http_only_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        portal(f"sqlite:///{tmp_path / 'p.sqlite'}", public="http://portal.hospital.example")


def test_sessions_live_server_side_and_end_with_sign_out(state_url: str) -> None:
    app = portal(state_url)
    client = app.test_client()
    page = client.get("/", base_url=HTTPS, headers={"Accept-Language": "en"})
    sid = client.get_cookie("__Host-portal", domain="portal.hospital.example").value
    chosen = client.post(
        "/language",
        base_url=HTTPS,
        data={"lang": "pl", "csrf_token": csrf(page.text)},
        headers=FROM,
    )
    assert chosen.status_code == 302
    assert '<html lang="pl">' in client.get("/", base_url=HTTPS).text
    engine = app.extensions["portal_engine"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(portal_session)).all()
    assert len(rows) == 1
    assert sid not in rows[0].id_hash
    assert sid not in rows[0].data
    # a stale form (no token, or another session's) is refused
    stale = client.post("/language", base_url=HTTPS, data={"lang": "ro"}, headers=FROM)
    assert stale.status_code == 400
    other = app.test_client()
    other_page = other.get("/", base_url=HTTPS)
    assert (
        client.post(
            "/language",
            base_url=HTTPS,
            data={"lang": "ro", "csrf_token": csrf(other_page.text)},
            headers=FROM,
        ).status_code
        == 400
    )
    # a forged cookie opens nothing
    forged = app.test_client()
    forged.set_cookie("__Host-portal", "x" * 43, domain="portal.hospital.example")
    assert '<html lang="pl">' not in forged.get("/", base_url=HTTPS).text
    engine.dispose()


def test_callback_without_the_sign_ins_state_is_refused(tmp_path: Path) -> None:
    app = portal(f"sqlite:///{tmp_path / 'p.sqlite'}")
    client = app.test_client()
    answer = client.get("/callback?code=abc&state=forged", base_url=HTTPS)
    assert answer.status_code == 400
    assert "abc" not in answer.text
    app.extensions["portal_engine"].dispose()


def test_an_unreachable_gateway_is_a_503_without_its_address(tmp_path: Path) -> None:
    app = portal(f"sqlite:///{tmp_path / 'p.sqlite'}")
    answer = app.test_client().get("/sign-in", base_url=HTTPS, headers={"Accept-Language": "en"})
    assert answer.status_code == 503
    assert "cannot be reached" in answer.text
    assert "127.0.0.1" not in answer.text
    assert ":9" not in answer.text
    app.extensions["portal_engine"].dispose()


def plain(value: Any) -> Any:
    """A message's id or text as the .po and .mo readers give it: plural forms as a tuple."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_every_string_is_translated_in_ro_and_pl(tmp_path: Path) -> None:
    """Extracted afresh from the code and templates: each message has a Romanian and a Polish
    translation, every plural form included, in the .po and in the compiled .mo."""
    pot = tmp_path / "messages.pot"
    extract(pot)
    with pot.open("rb") as f:
        wanted = {plain(m.id) for m in read_po(f) if m.id}
    assert len(wanted) > 20
    for lang, forms in (("ro", 3), ("pl", 3)):
        folder = REPO / "portal" / "translations" / lang / "LC_MESSAGES"
        for read, name in ((read_po, "messages.po"), (read_mo, "messages.mo")):
            with (folder / name).open("rb") as f:
                catalog = read(f)
            have = {plain(m.id): plain(m.string) for m in catalog if m.id}
            assert set(have) >= wanted, (lang, name, set(wanted) - set(have))
            for key in wanted:
                text = have[key]
                if isinstance(key, tuple):
                    assert isinstance(text, tuple)
                    assert len(text) == forms
                    assert all(text)
                else:
                    assert text, (lang, key)


def test_pages_can_use_nhsuk_frontend_components(tmp_path: Path) -> None:
    app = portal(f"sqlite:///{tmp_path}/state.db")
    page = (
        '{% from "nhsuk/components/button/macro.jinja" import button %}'
        '{{ button({"text": "Book", "classes": "nhsuk-button--secondary"}) }}'
    )
    with app.test_request_context("/"):
        html = render_template_string(page)
    assert 'class="nhsuk-button nhsuk-button--secondary"' in html
    assert re.search(r"<button[^>]*>\s*Book\s*</button>", html)


def test_a_typed_day_is_read_from_the_date_inputs_boxes_whatever_is_typed() -> None:
    from portal.web import typed_day

    def day(y: str, m: str, d: str) -> str:
        return typed_day({"until[year]": y, "until[month]": m, "until[day]": d}, "until")

    assert day("2026", "4", "21") == "2026-04-21"
    assert day("", "", "") == ""
    assert day("2023", "2", "31") == "2023-2-31"  # no such day: refused later, as typed
    assert day("9" * 40, "1", "1") == f"{'9' * 40}-1-1"  # past any year: no server error
    assert day("twenty", "1", "1") == "twenty-1-1"
    for typed in ("2023-2-31", f"{'9' * 40}-1-1", "twenty-1-1"):
        with pytest.raises(ValueError, match="Invalid isoformat"):
            dt.date.fromisoformat(typed)
