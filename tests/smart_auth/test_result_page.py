"""The page of results without an account (F9): the same attempt limits as the API (one count
per national ID whichever of the two is asked), hostile input answered on the page, never a
server error, and the token only in the page's own cookie."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.smart_auth.test_results_code import _app, _wrong, bulletin  # noqa: F401 (fixture)


@pytest.fixture
def gateway(sqlite_his: str, tmp_path: Path) -> Iterator[Any]:
    app = _app(sqlite_his, tmp_path, results_max_attempts=3)
    yield app
    app.extensions["audit_writer"].close()


def _page(client: Any, code: str, nid: str, addr: str) -> Any:
    return client.post(
        "/result-access",
        data={"code": code, "national_id": nid},
        environ_base={"REMOTE_ADDR": addr},
        headers={"Accept-Language": "en"},
    )


def test_the_page_and_the_api_count_the_same_attempts(
    gateway: Any,
    bulletin: dict,  # noqa: F811 (the fixture)
) -> None:
    client = gateway.test_client()
    code, nid = bulletin["access_code"], bulletin["national_id"]
    # two wrong codes on the page, one through the API, from three addresses: the national ID's
    # limit (3) is reached, and the right code waits, on the page as through the API
    for addr in ("10.1.0.1", "10.1.0.2"):
        wrong = _page(client, _wrong(code), nid, addr)
        assert wrong.status_code == 400
        assert "not right" in wrong.get_data(as_text=True)
    api = client.post(
        "/auth/result-access",
        data={"code": _wrong(code), "national_id": nid},
        environ_base={"REMOTE_ADDR": "10.1.0.3"},
    )
    assert api.status_code == 400
    limited = _page(client, code, nid, "10.1.0.4")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "Too many attempts" in limited.get_data(as_text=True)
    assert "result_token" not in limited.headers.get("Set-Cookie", "")


def test_the_right_pair_keeps_the_token_in_the_pages_cookie_only(
    gateway: Any,
    bulletin: dict,  # noqa: F811 (the fixture)
) -> None:
    client = gateway.test_client()
    answer = _page(client, bulletin["access_code"], bulletin["national_id"], "10.2.0.1")
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("result_token=rc.")
    assert "Path=/result-access" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    token = cookie.split(";")[0].partition("=")[2]
    assert token not in answer.get_data(as_text=True)
    shown = client.get("/result-access")
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    assert token not in shown.get_data(as_text=True)
    pdf = client.get("/result-access/report.pdf")
    assert pdf.status_code == 200
    assert pdf.get_data().startswith(b"%PDF")
    # the cookie opens only this page: the FHIR API takes no cookie
    assert client.get(f"/fhir/DiagnosticReport/lab-{bulletin['id']}").status_code == 401
    client.post("/result-access/close")
    assert client.get("/result-access/report.pdf").status_code == 401


@pytest.mark.parametrize(
    "form",
    [
        {"code": "12\x003456", "national_id": "1800101000000"},
        "code=123456&national_id=%ED%A0%80",
        {"code": "1" * 5000, "national_id": "2" * 5000},
        {"code": "<script>", "national_id": "' OR 1=1 --"},
        {},
    ],
)
def test_hostile_input_is_a_wrong_pair_on_the_page(gateway: Any, form: Any) -> None:
    answer = gateway.test_client().post(
        "/result-access",
        data=form,
        content_type="application/x-www-form-urlencoded" if isinstance(form, str) else None,
        environ_base={"REMOTE_ADDR": "10.3.0.1"},
    )
    assert answer.status_code == 400
    body = answer.get_data(as_text=True)
    assert "<script>" not in body
    assert "OR 1=1" not in body


def test_the_recipient_pages_have_every_text_in_every_language() -> None:
    from smart_auth.accounts import i18n
    from smart_auth.results import wording as result_words
    from smart_auth.sharing import wording as share_words

    for words in (result_words, share_words):
        for key in words.all_keys():
            texts = {lang: words.text(key, lang) for lang in i18n.LANGUAGES}
            assert all(texts.values()), key
    assert share_words.day("2026-04-21", "ro") == "21.04.2026"
    assert share_words.day("2026-04-21T10:00:00Z", "pl") == "21.04.2026"
    assert share_words.day("2026-04-21", "en") == "21/04/2026"
    assert share_words.day("", "en") == ""
